"""`doorstep simulate call` itself, against a real gateway on loopback: the command's output is
what the caller heard, and the order lands in the database.

Two ways in: the installed `doorstep` script in a subprocess against the app in this process
(scripted recogniser, fast), and click's CliRunner against `doorstep serve` in a subprocess
with the real Korean model (slow)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

import db.orders
from db.models import Recording
from gateway.cli import main
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN
from tests.voice.calls import scripted, start, tone
from voice.audio import wav_bytes

WANG = "+8613800000001"  # 王奶奶 in the zh-CN demo data
KIM = "+821000000001"  # 김순자 in the ko-KR demo data
DOORSTEP = Path(sys.executable).with_name("doorstep")


def cli_env(public_url: str, token: str, account_sid: str) -> dict[str, str]:
    """The environment of the command: only what it needs, none of the caller's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_"))}
    env.update({"DOORSTEP_PUBLIC_URL": public_url, "TWILIO_AUTH_TOKEN": token,
                "TWILIO_ACCOUNT_SID": account_sid})
    return env


async def all_orders(database: Any) -> list[Any]:
    async with database.session() as s:
        rows, _ = await db.orders.list_orders(s)
        return list(rows)


async def run_doorstep(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(DOORSTEP), *args, cwd=str(cwd), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def heard(output: str) -> list[str]:
    return [line.removeprefix("gateway: ") for line in output.splitlines()
            if line.startswith("gateway: ")]


@pytest.mark.skipif(not DOORSTEP.exists(), reason="the doorstep script is not installed")
async def test_simulate_call_script_orders_and_prints_what_was_heard(
        make_client: Callable[..., Any], settings: Any, demo_database: Any,
        tmp_path: Path) -> None:
    rec, words = scripted(["大米两袋"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    wav = tmp_path / "order.wav"
    wav.write_bytes(wav_bytes(ulaw=tone(1.0)))
    env = cli_env(PUBLIC_URL, TWILIO_TOKEN, twilio.account_sid)
    code, out, err = await run_doorstep(
        tmp_path, env, "simulate", "call", "--from", WANG, "--wav", str(wav), "--digits", "1",
        "--url", twilio.base_url)
    assert code == 0, err
    said = heard(out)
    assert said[0].startswith("王奶奶您好"), out
    readback = next(i for i, h in enumerate(said) if "您要的是：大米2袋" in h)
    assert said[-1].startswith("好的，已经下单：大米2袋") and readback < len(said) - 1
    lines = out.splitlines()
    assert "[stream: caller speaks 1.3 s]" in lines and "[stream closed by the gateway]" in lines
    assert lines.index("caller presses 1") > lines.index(f"gateway: {said[readback]}")
    assert "end of speech -> next prompt" in err
    assert words[0] and "大米" in words[0]
    [order] = await all_orders(demo_database)
    assert (order.status, order.channel, order.phone) == ("confirmed", "voice", WANG)
    assert [(i.sku, int(i.quantity), i.unit) for i in order.items] == [("rice", 2, "袋")]
    assert order.transcript == "大米两袋" and order.resident.name == "王奶奶"
    assert [r.kind for r in order.recordings] == ["stream"]


@pytest.mark.skipif(not DOORSTEP.exists(), reason="the doorstep script is not installed")
async def test_simulate_call_script_errors(make_client: Callable[..., Any], settings: Any,
                                           demo_database: Any, tmp_path: Path) -> None:
    client, twilio = await start(make_client, settings, demo_database, scripted([])[0])
    wav = tmp_path / "order.wav"
    wav.write_bytes(wav_bytes(ulaw=tone()))
    env = cli_env(PUBLIC_URL, "not-the-gateway-token", twilio.account_sid)
    code, out, err = await run_doorstep(tmp_path, env, "simulate", "call", "--from", WANG,
                                        "--wav", str(wav), "--url", twilio.base_url)
    assert code == 1 and "/twilio/voice: HTTP 403" in err
    (tmp_path / "bad.wav").write_bytes(b"not a wav file")
    env = cli_env(PUBLIC_URL, TWILIO_TOKEN, twilio.account_sid)
    code, out, err = await run_doorstep(tmp_path, env, "simulate", "call", "--from", WANG,
                                        "--wav", str(tmp_path / "bad.wav"))
    assert code == 1 and "not a RIFF/WAVE file" in err
    env.pop("TWILIO_AUTH_TOKEN")
    code, _, err = await run_doorstep(tmp_path, env, "simulate", "call", "--from", WANG)
    assert code == 1 and "TWILIO_AUTH_TOKEN must be set" in err
    assert await all_orders(demo_database) == []



@pytest.mark.skipif(not DOORSTEP.exists(), reason="the doorstep script is not installed")
async def test_simulate_call_says_text_in_a_person_s_voice(
        make_client: Callable[..., Any], settings: Any, demo_database: Any,
        tmp_path: Path) -> None:
    rec, _ = scripted(["大米两袋", "是"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    env = cli_env(PUBLIC_URL, TWILIO_TOKEN, twilio.account_sid)
    code, out, err = await run_doorstep(
        tmp_path, env, "simulate", "call", "--from", WANG, "--say", "大米两袋", "--say", "是",
        "--url", twilio.base_url)
    assert code == 0, err
    assert "[says in person: 大米两袋]" in err and "[says in person: 是]" in err
    assert heard(out)[-1].startswith("好的，已经下单：大米2袋"), out
    [order] = await all_orders(demo_database)
    assert order.status == "confirmed" and [r.kind for r in order.recordings] == ["stream"] * 2
    (tmp_path / "x.wav").write_bytes(wav_bytes(ulaw=tone()))
    code, _, err = await run_doorstep(tmp_path, env, "simulate", "call", "--from", WANG,
                                      "--say", "是", "--wav", str(tmp_path / "x.wav"))
    assert code == 2 and "either as --wav files or as --say texts" in err.replace("\n", " ")

# --- the real thing: `doorstep serve` with the Korean model, the command through click ------

async def worker_ready(log: Path, timeout: float = 90.0) -> None:
    """Until the gateway logs that its recognition worker holds the model (before that, calls
    go straight to a recorded message)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while "voice worker 0 ready" not in log.read_text(errors="replace"):
        assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_simulate_call_through_click_against_doorstep_serve_with_vosk(
        db_url: str, database: Any, tmp_path: Path, twilio_rest: Any, ko_model_path: Path,
        call_audio: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.load import ACCOUNT_SID, GatewayProcess, free_port, gateway_env
    from bench.load import TWILIO_TOKEN as GW_TOKEN
    from gateway.orders.demo import load_demo

    await load_demo(database, "ko-KR")
    port = free_port()
    env = gateway_env(db_url, port, tmp_path / "data", twilio_api_url=twilio_rest.url,
                      DOORSTEP_VOICE_WORKERS="1", DOORSTEP_DEFAULT_LOCALE="ko-KR",
                      DOORSTEP_LOG_LEVEL="INFO")
    log = tmp_path / "gateway.log"
    gw = GatewayProcess(env, port, log)
    await gw.start()
    await worker_ready(log)
    wav = tmp_path / "ramyeon.wav"
    wav.write_bytes(wav_bytes(ulaw=call_audio("라면")))
    monkeypatch.chdir(tmp_path)  # no .env of the working folder
    try:
        r = await asyncio.to_thread(
            CliRunner().invoke, main,
            ["simulate", "call", "--from", KIM, "--wav", str(wav), "--digits", "1",
             "--url", gw.url],
            env={"DOORSTEP_PUBLIC_URL": gw.url, "TWILIO_AUTH_TOKEN": GW_TOKEN,
                 "TWILIO_ACCOUNT_SID": ACCOUNT_SID})
    finally:
        await gw.stop()
    assert r.exit_code == 0, (r.output, log.read_text()[-3000:])
    said = heard(r.output)
    assert said[0].startswith("김순자님, 안녕하세요"), r.output
    assert any(h.startswith("라면 1봉지, ") and "맞으시면 1번" in h for h in said), r.output
    assert "caller presses 1" in r.output.splitlines()
    assert said[-1].startswith("주문되었습니다: 라면 1봉지"), r.output
    [order] = await all_orders(database)
    assert (order.channel, order.phone, order.locale) == ("voice", KIM, "ko-KR")
    # Confirmed on the phone; the whole gateway's dispatcher then finds no leader on duty.
    assert next((e.to_status, e.reason) for e in order.events) == (
        "confirmed", "confirmed on the phone")
    assert order.status in ("confirmed", "unassigned")
    assert [(i.sku, int(i.quantity), i.unit) for i in order.items] == [
        ("instant-noodles", 1, "봉지")]
    assert order.transcript == "라면"
    assert [rec.kind for rec in order.recordings] == ["stream"]
    assert isinstance(order.recordings[0], Recording) and order.recordings[0].duration_s > 1.0
