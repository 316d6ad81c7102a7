"""Memory: the gateway's resident set idle and with 20 calls in progress.

`doorstep serve` runs on loopback with one recognition worker (the Korean Vosk model); after
it is idle, 20 callers (signed webhooks, Media Streams frames in real time) say an order and
press 1. RSS is read from /proc for the gateway process and its recognition workers.

    python -m bench.memory [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load import (
    TWILIO_TOKEN,
    GatewayProcess,
    free_port,
    gateway_env,
    prepare_database,
)
from bench.twilio_standin import TwilioStandIn


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct and indirect child processes (the recognition workers)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        out += [int(k) for k in kids]
        todo += [int(k) for k in kids]
    return out


def speech_ulaw(text: str, tmp: Path) -> bytes:
    """Korean speech from espeak-ng, as the 8 kHz mu-law a phone line carries."""
    from gateway.channels.twilio.simulate_call import load_speech

    raw, wav = tmp / "say.wav", tmp / "say8k.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", "-R", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav)], check=True,
                   capture_output=True)
    return load_speech(wav)


async def _settle_rss(gw: GatewayProcess, seconds: float = 30.0) -> tuple[int, int]:
    """Wait until the worker has loaded its model (its RSS stops growing); (gateway, workers)."""
    assert gw.proc is not None
    last, stable, deadline = -1, 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        workers = sum(rss_kb(p) for p in children(gw.proc.pid))
        stable = stable + 1 if workers and abs(workers - last) < 1024 else 0
        if stable >= 4:
            break
        last = workers
        await asyncio.sleep(0.5)
    return rss_kb(gw.proc.pid), sum(rss_kb(p) for p in children(gw.proc.pid))


async def run(calls: int = 20) -> dict[str, Any]:
    """Idle and loaded RSS of the gateway (MB) and of its recognition workers."""
    from gateway.channels.twilio.simulate_call import place_call
    from gateway.channels.twilio.webhook_client import Twilio

    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        raise RuntimeError("espeak-ng and sox are needed")
    work = Path(tempfile.mkdtemp(prefix="doorstep-memory-"))
    url = f"sqlite:///{work / 'memory.db'}"
    phones = [f"+8210{i:08d}" for i in range(calls)]
    await prepare_database(url, [])
    await _register_ko(url, phones)
    rest = TwilioStandIn()
    await rest.start()
    port = free_port()
    env = gateway_env(url, port, work / "data", twilio_api_url=rest.url,
                      DOORSTEP_VOICE_WORKERS="1", DOORSTEP_DEFAULT_LOCALE="ko-KR")
    gw = GatewayProcess(env, port, work / "gateway.log")
    try:
        await gw.start()
        assert gw.proc is not None
        gw_idle, workers_idle = await _settle_rss(gw)
        speech = speech_ulaw("라면 두 봉지", work)
        twilio = Twilio(gw.url, gw.url, TWILIO_TOKEN)
        peak = [gw_idle, workers_idle]

        pid = gw.proc.pid

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], rss_kb(pid))
                peak[1] = max(peak[1], sum(rss_kb(p) for p in children(pid)))
                await asyncio.sleep(0.1)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        logs = await asyncio.gather(*(place_call(twilio, p, [speech], "1", pace=1.0)
                                      for p in phones), return_exceptions=True)
        took = time.monotonic() - started
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        failed = [repr(x) for x in logs if isinstance(x, BaseException)]
        confirmed = sum(1 for x in logs if not isinstance(x, BaseException)
                        and x.heard and x.heard[-1].startswith("주문되었습니다"))
    finally:
        await gw.stop()
        await rest.stop()
    mb = lambda kb: round(kb / 1024, 1)
    return {"calls": calls, "calls_failed": len(failed), "calls_confirmed": confirmed, "errors": failed[:3],
            "call_seconds": round(took, 1),
            "gateway_idle_mb": mb(gw_idle), "gateway_20_calls_mb": mb(peak[0]),
            "gateway_per_call_kb": round((peak[0] - gw_idle) / max(1, calls)),
            "workers_idle_mb": mb(workers_idle), "workers_20_calls_mb": mb(peak[1]),
            "total_idle_mb": mb(gw_idle + workers_idle),
            "total_20_calls_mb": mb(peak[0] + peak[1])}


async def _register_ko(url: str, phones: list[str]) -> None:
    import db.people
    from db.session import Database
    from gateway.orders.demo import load_demo

    database = Database(url)
    try:
        await load_demo(database, "ko-KR")
        async with database.session() as s:
            for i, phone in enumerate(phones):
                await db.people.upsert_resident(s, phone, name=f"주민{i}", address="하동읍",
                                                village="읍내리", lat=35.067, lon=127.751,
                                                locale="ko-KR", registered_by="bench")
    finally:
        await database.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=20)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(min(args.calls, 100))), indent=2))


if __name__ == "__main__":
    main()
