"""What a newcomer meets first: `serve --demo` prints its login and the Korean village works,
a busy port is one clear line, read-only commands open no database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

EXE = Path(sys.executable).parent / "doorstep"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_"))}


def test_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([str(EXE), "serve", "--port", str(port)], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "listening on" not in r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr
    assert not (tmp_path / "doorstep.db").exists()


def test_read_only_commands_open_no_database(tmp_path: Path) -> None:
    for args in (["--help"], ["parse", "大米两袋"], ["parse", "--locale", "ko-KR", "쌀 두 포대 주세요"],
                 ["voice", "models", "list"]):
        r = subprocess.run([str(EXE), *args], cwd=tmp_path, env=_env(), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (args, r.stderr)
        assert not list(tmp_path.glob("doorstep.db*")), args
    r = subprocess.run([str(EXE), "parse", "--locale", "ko-KR", "쌀 두 포대 주세요"], cwd=tmp_path,
                       env=_env(), capture_output=True, text=True, timeout=60)
    assert '"quantity": 2' in r.stdout and "포대" in r.stdout, r.stdout


def test_serve_demo_prints_a_login_and_routes_both_locales(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # zh-CN calls by keypad whether or not the zh extra is installed here
    proc = subprocess.Popen([str(EXE), "serve", "--demo", "--port", str(port)], cwd=tmp_path,
                            env={**_env(), "DOORSTEP_VOICE_ENGINE_ZH_CN": "off"},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        while proc.poll() is None:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("Press Ctrl+C"):
                break
        out = "".join(lines)
        assert "login: demo  password: " in out, out
        token = tmp_path / "data" / "demo-twilio-token"
        assert token.stat().st_mode & 0o777 == 0o600
        base = f"http://127.0.0.1:{port}"
        for phone, texts in (("+8613800000001", ["大米两袋", "1"]),
                             ("+821000000001", ["쌀 두 포대 주세요", "1"])):
            r = subprocess.run([str(EXE), "simulate", "sms", "--from", phone, "--url", base,
                                *texts], cwd=tmp_path, env=_env(), capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        import sqlite3
        deadline = time.monotonic() + 30
        while True:
            with sqlite3.connect(tmp_path / "doorstep.db") as c:
                got = c.execute("SELECT locale, status FROM orders ORDER BY id").fetchall()
            if got == [("zh-CN", "assigned"), ("ko-KR", "assigned")] \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert got == [("zh-CN", "assigned"), ("ko-KR", "assigned")]
        # a phone call from the same folder finds the demo's token too (README: keypad order)
        r = subprocess.run([str(EXE), "simulate", "call", "--from", "+8613800000001", "--url",
                            base, "--digits", "12##1"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "gateway: 好的，已经下单：大米2袋" in r.stdout, r.stdout
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stdout:
            proc.stdout.close()
