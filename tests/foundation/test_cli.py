"""Each CLI command, run the way a person runs it: in a folder, configured by environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main


@pytest.fixture
def run(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    for k in list(os.environ):
        if k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_")):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", db_url)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, ok: bool = True):  # noqa: ANN202
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_help_lists_every_command(run) -> None:  # noqa: ANN001
    out = run("--help").output
    for cmd in ("serve", "db", "catalog", "residents", "leaders", "operators", "parse",
                "simulate", "demo"):
        assert cmd in out
    for sub in (["serve"], ["db", "upgrade"], ["catalog", "import"], ["residents", "add"],
                ["residents", "import"], ["residents", "list"], ["leaders", "add"],
                ["leaders", "import"], ["leaders", "list"], ["operators", "add"], ["parse"]):
        assert "Usage:" in run(*sub, "--help").output


def test_db_upgrade(run) -> None:  # noqa: ANN001
    from tests.foundation.test_migrations import head

    assert f"revision {head()}" in run("db", "upgrade").output


def test_catalog_import_updates_by_sku(run, tmp_path: Path) -> None:  # noqa: ANN001
    f = tmp_path / "cat.csv"
    f.write_text("sku,name,aliases,unit,units,price,category\n"
                 "rice,大米,米|稻米,袋,袋|斤|公斤,59.9,粮油\n"
                 "eggs,鸡蛋,蛋|土鸡蛋,个,个|板|斤,0.8,蛋奶\n", encoding="utf-8")
    assert "2 new, 0 updated" in run("catalog", "import", str(f)).output
    f.write_text("sku,name,aliases,unit,units,price,category\n"
                 "rice,大米,米|稻米|香米,袋,袋|斤|公斤,62,粮油\n"
                 "eggs,鸡蛋,蛋|土鸡蛋,个,个|板|斤,0.8,蛋奶\n", encoding="utf-8")
    assert "0 new, 1 updated, 1 unchanged" in run("catalog", "import", str(f)).output
    out = run("catalog", "export").output
    assert "rice,大米,米|稻米|香米,袋,袋|斤|公斤,62.00,粮油,1" in out


def test_catalog_import_bad_file(run, tmp_path: Path) -> None:  # noqa: ANN001
    f = tmp_path / "bad.csv"
    f.write_text("sku,name,price\nrice,大米,cheap\n", encoding="utf-8")
    r = run("catalog", "import", str(f), ok=False)
    assert r.exit_code != 0 and "line 2" in r.output and "price" in r.output


def test_residents_add_import_list(run, tmp_path: Path) -> None:  # noqa: ANN001
    r = run("residents", "add", "--phone", "+86 138-0000-0001", "--name", "王奶奶",
            "--village", "鲁家村", "--lat", "30.6", "--lon", "119.7")
    assert "added resident" in r.output and "+8613800000001" in r.output
    f = tmp_path / "res.csv"
    f.write_text("phone,name,address,village,lat,lon,locale\n"
                 "+8613800000001,王奶奶,鲁家村3组,鲁家村,30.6,119.7,zh-CN\n"
                 "+821000000001,김순자,평사리,평사리,35.09,127.67,ko\n", encoding="utf-8")
    assert "1 new, 1 updated" in run("residents", "import", str(f)).output
    rows = [json.loads(line) for line in run("residents", "list", "--json").output.splitlines()]
    assert {r["phone"]: r["locale"] for r in rows} == {"+8613800000001": "zh-CN",
                                                      "+821000000001": "ko-KR"}
    assert next(r for r in rows if r["name"] == "王奶奶")["address"] == "鲁家村3组"


def test_residents_bad_input(run) -> None:  # noqa: ANN001
    r = run("residents", "add", "--phone", "12345", "--name", "X", ok=False)
    assert r.exit_code != 0 and "international number" in r.output
    r = run("residents", "add", "--phone", "+8613800000001", "--name", "X", "--lat", "30",
            ok=False)
    assert "both latitude and longitude" in r.output


def test_leaders_add_prints_invite_link_last(run, tmp_path: Path) -> None:  # noqa: ANN001
    r = run("leaders", "add", "--name", "吴团长", "--phone", "+8613900000001", "--lat", "30.6",
            "--lon", "119.7", "--radius-km", "6", "--capacity", "4")
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("https://t.me/doorstep_bot?start=")
    f = tmp_path / "leaders.csv"
    f.write_text("phone,name,address,village,lat,lon,locale,radius_km,capacity\n"
                 "+8613900000001,吴团长,,鲁家村,30.6,119.7,zh-CN,8,6\n"
                 "+8613900000002,郑团长,,余村,30.5,119.6,zh-CN,5,3\n", encoding="utf-8")
    lines = run("leaders", "import", str(f)).output.strip().splitlines()
    assert len(lines) == 2 and all("https://t.me/doorstep_bot?start=" in ln for ln in lines)
    assert last.split("start=")[1] in lines[0]  # the code survives an update
    listing = run("leaders", "list").output
    assert "cap 6" in listing and "r 8 km" in listing and "郑团长" in listing


def test_leader_needs_location_in_csv(run, tmp_path: Path) -> None:  # noqa: ANN001
    f = tmp_path / "leaders.csv"
    f.write_text("phone,name,lat,lon\n+8613900000001,吴团长,,\n", encoding="utf-8")
    r = run("leaders", "import", str(f), ok=False)
    assert "line 2" in r.output and "base location" in r.output


def test_operators_add_reads_password_from_stdin(run, db_url: str) -> None:  # noqa: ANN001
    assert "added operator admin" in run("operators", "add", "admin", input="s3cret-pass\n").output
    assert "password reset" in run("operators", "add", "admin", input="an0ther-pass\n").output
    r = run("operators", "add", "bob", input="short\n", ok=False)
    assert "at least 8" in r.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_demo_answers_healthz_and_api(tmp_path: Path) -> None:
    """`doorstep serve --demo` on the embedded default: a SQLite file in the working folder."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_"))}
    env["DOORSTEP_API_TOKEN"] = "tok"
    exe = Path(sys.executable).parent / "doorstep"
    proc = subprocess.Popen([str(exe), "serve", "--demo", "--port", str(port)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
                    break
            except OSError:
                time.sleep(0.3)
        assert body is not None and body["status"] == "ok", proc.stdout and proc.stdout.read()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/orders",
                                     headers={"Authorization": "Bearer tok"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.loads(r.read())["orders"] == []
        assert (tmp_path / "doorstep.db").exists()
        import sqlite3
        with sqlite3.connect(tmp_path / "doorstep.db") as c:
            assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert c.execute("SELECT count(*) FROM products").fetchone()[0] >= 20
            assert c.execute("SELECT count(*) FROM residents").fetchone()[0] >= 5
            assert c.execute("SELECT count(*) FROM leaders").fetchone()[0] >= 3
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
