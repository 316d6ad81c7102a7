"""`python -m bench`: every benchmark in one run, one table, JSON results compared with the last.

    python -m bench                      # everything (about 5 minutes on 2 cores)
    python -m bench --quick              # shorter runs, fewer levels
    python -m bench --only language,routing

Results go to bench/results/latest.json (the previous one becomes previous.json); the table's
last columns compare each figure with the previous run. Only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import platform
import random
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# metric -> (label, unit, higher is better)
Row = tuple[str, str, bool]
ROWS: dict[str, Row] = {}


def row(key: str, label: str, unit: str, higher_better: bool = True) -> str:
    ROWS[key] = (label, unit, higher_better)
    return key


# --- sections: each returns {metric key: number} -----------------------------------------------

def language(quick: bool) -> dict[str, float]:
    from bench.bench_language import run

    r = run(1.0 if quick else 2.0)
    row("language.zh_short_per_s", "order language: zh-CN short texts", "parses/s")
    row("language.zh_500_chars_per_s", "order language: zh-CN 500-char texts", "parses/s")
    row("language.ko_short_per_s", "order language: ko-KR short texts", "parses/s")
    row("language.ko_500_chars_per_s", "order language: ko-KR 500-char texts", "parses/s")
    row("language.compile_2000_zh_ms", "compile 2,000 products (zh-CN)", "ms", False)
    row("language.compile_2000_ko_ms", "compile 2,000 products (ko-KR)", "ms", False)
    return {f"language.{k}": v for k, v in r.items()}


def sms(quick: bool) -> dict[str, float]:
    """Signed inbound texts end to end through `doorstep serve` (order + confirmation cycles,
    and texts alone: order text + cancel) on SQLite and PostgreSQL, and a bare aiohttp handler
    under the same load."""
    from bench import load

    duration = 6.0 if quick else 12.0
    out: dict[str, float] = {}
    base = asyncio.run(load.run_baseline(concurrency=20, duration=duration))  # the same load
    out["sms.bare_rps"] = base["rps"]
    out["sms.bare_cpu_ms"] = base["gateway_cpu_ms_per_request"]
    row("sms.bare_rps", "SMS webhook: bare aiohttp handler (baseline)", "req/s")
    row("sms.bare_cpu_ms", "SMS webhook: bare handler CPU", "ms/req", False)
    for db in ("sqlite", "postgresql"):
        try:
            r = asyncio.run(load.run(database=db, residents=200, concurrency=20,
                                     duration=duration))
        except Exception as exc:  # e.g. no PostgreSQL here
            print(f"  sms on {db}: {exc!r}", file=sys.stderr)
            continue
        k = f"sms.{db}"
        out[f"{k}_rps"] = r["rps"]
        out[f"{k}_p50_ms"] = r["p50_ms"]
        out[f"{k}_p99_ms"] = r["p99_ms"]
        out[f"{k}_cpu_ms"] = r["gateway_cpu_ms_per_request"]
        out[f"{k}_vs_bare_pct"] = 100.0 * r["rps"] / base["rps"] if base["rps"] else 0.0
        out[f"{k}_audit_ok"] = float(r["audit"]["ok"] and r["outbox"]["sent_twice"] == 0)
        row(f"{k}_rps", f"SMS end to end, {db}, 20 concurrent", "req/s")
        row(f"{k}_p50_ms", f"SMS end to end, {db}: p50", "ms", False)
        row(f"{k}_p99_ms", f"SMS end to end, {db}: p99", "ms", False)
        row(f"{k}_cpu_ms", f"SMS end to end, {db}: gateway CPU", "ms/req", False)
        row(f"{k}_vs_bare_pct", f"SMS end to end, {db}: share of the bare rate", "%")
        row(f"{k}_audit_ok", f"SMS end to end, {db}: audit (no loss, no duplicate)", "1=ok")
        # The webhook's own work alone (parse, store, TwiML): order text + cancel, no order.
        try:
            t = asyncio.run(load.run(database=db, residents=200, concurrency=20,
                                     duration=duration, mix="texts"))
        except Exception as exc:
            print(f"  sms texts on {db}: {exc!r}", file=sys.stderr)
            continue
        out[f"{k}_texts_rps"] = t["rps"]
        out[f"{k}_texts_p99_ms"] = t["p99_ms"]
        out[f"{k}_texts_cpu_ms"] = t["gateway_cpu_ms_per_request"]
        out[f"{k}_texts_vs_bare_pct"] = 100.0 * t["rps"] / base["rps"] if base["rps"] else 0.0
        out[f"{k}_texts_audit_ok"] = float(t["audit"]["ok"])
        row(f"{k}_texts_rps", f"SMS texts only (no order), {db}, 20 concurrent", "req/s")
        row(f"{k}_texts_p99_ms", f"SMS texts only, {db}: p99", "ms", False)
        row(f"{k}_texts_cpu_ms", f"SMS texts only, {db}: gateway CPU", "ms/req", False)
        row(f"{k}_texts_vs_bare_pct", f"SMS texts only, {db}: share of the bare rate", "%")
        row(f"{k}_texts_audit_ok", f"SMS texts only, {db}: audit (stored once, answered)",
            "1=ok")
    for db in ("sqlite", "postgresql"):
        k = f"sms.{db}_half_peak"
        try:
            half = asyncio.run(_sms_at_half_peak(db, out.get(f"sms.{db}_texts_rps", 0.0),
                                                 duration))
        except Exception as exc:
            print(f"  sms at half peak on {db}: {exc!r}", file=sys.stderr)
            continue
        out.update({f"{k}_{m}": v for m, v in half.items()})
        row(f"{k}_rps", f"SMS texts, {db}, paced at half the texts peak", "req/s")
        row(f"{k}_p50_ms", f"SMS texts at half the peak, {db}: p50", "ms", False)
        row(f"{k}_p99_ms", f"SMS texts at half the peak, {db}: p99", "ms", False)
    return out


async def _sms_at_half_peak(database: str, peak_rps: float, duration: float
                            ) -> dict[str, float]:
    """Latency with arrivals paced at half the peak rate (open loop, Poisson arrivals)."""
    from bench import load

    if peak_rps <= 0:
        return {}
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="doorstep-half-"))
    created_pg = None
    if database == "sqlite":
        url = f"sqlite:///{work / 'half.db'}"
    else:
        url = created_pg = load.create_pg_database()
    phones = load.resident_phones(400)
    await load.prepare_database(url, phones)
    from bench.twilio_standin import TwilioStandIn

    rest = TwilioStandIn()
    await rest.start()
    port = load.free_port()
    gw = load.GatewayProcess(load.gateway_env(url, port, work / "data", twilio_api_url=rest.url),
                             port, work / "gateway.log")
    stats = load.Stats()
    try:
        await gw.start()
        import aiohttp

        rate = peak_rps / 2
        warmup = 2.0  # connections, pools and the compiled catalogue are made, not measured
        latencies: list[float] = []
        async with aiohttp.ClientSession() as http:
            texter = load.Texter(http, gw.url, stats)
            order, _ = load.ORDERS_BY_LOCALE["zh-CN"][0]

            async def arrive(i: int, measured: bool) -> None:
                # As in the texts mix: each resident in turn sends an order text, and on the
                # next round "cancel" (so the drafts stay the size residents send).
                lap, n = divmod(i, len(phones))
                body = order if lap % 2 == 0 else load.CANCEL["zh-CN"]
                t0 = time.perf_counter()
                answer = await texter.send(texter.form(phones[n], body))
                if measured and answer is not None:
                    latencies.append(time.perf_counter() - t0)

            tasks = []
            i = 0
            next_at = time.monotonic()
            start = next_at + warmup
            # Poisson arrivals on an absolute schedule: a late wake-up sends what is due at
            # once, so the offered rate is the rate asked for.
            while (now := time.monotonic()) < start + duration:
                while next_at <= now:
                    tasks.append(asyncio.create_task(arrive(i, next_at >= start)))
                    i += 1
                    next_at += random.expovariate(rate)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await asyncio.gather(*tasks)
    finally:
        await gw.stop()
        await rest.stop()
        if created_pg:
            load.drop_pg_database(created_pg)
    return {"rps": len(latencies) / duration,  # answered texts sent after the warm-up
            "p50_ms": load.percentile(latencies, 50) * 1000,
            "p99_ms": load.percentile(latencies, 99) * 1000}


def routing(quick: bool) -> dict[str, float]:
    from bench.bench_routing import run

    out: dict[str, float] = {}
    rng = random.Random(1)
    for n in (1_000, 100_000):
        r = run(n, 100 if quick else 300, rng)
        out[f"routing.{n}_index_ms"] = r["index_ms"]
        out[f"routing.{n}_index_p99_ms"] = r["index_p99_ms"]
        out[f"routing.{n}_build_ms"] = r["build_ms"]
        row(f"routing.{n}_index_ms", f"routing, {n:,} leaders: per order (mean)", "ms", False)
        row(f"routing.{n}_index_p99_ms", f"routing, {n:,} leaders: per order (p99)", "ms", False)
        row(f"routing.{n}_build_ms", f"routing, {n:,} leaders: index build", "ms", False)
    return out


def voice(quick: bool) -> dict[str, float]:
    """The voice bench's own callable (added by the voice work as `run`)."""
    mod = importlib.import_module("bench.bench_voice")
    fn: Callable[..., dict[str, Any]] | None = getattr(mod, "run", None)
    if fn is None:
        raise RuntimeError("bench.bench_voice has no run() yet")
    r = fn(quick=quick)
    out: dict[str, float] = {}
    for key, (label, unit, hb) in {
            "rtf": ("Vosk real-time factor (1 core, word list)", "x", False),
            "calls_per_core": ("concurrent calls per core, p95 < 800 ms", "calls", True),
            "p50_ms": ("calls: end of speech to read-back p50", "ms", False),
            "p95_ms": ("calls: end of speech to read-back p95", "ms", False),
            "kb_per_stream": ("recogniser memory per open stream", "KB", False)}.items():
        if key in r and isinstance(r[key], (int, float)):
            out[f"voice.{key}"] = float(r[key])
            row(f"voice.{key}", label, unit, hb)
    return out


def memory(quick: bool) -> dict[str, float]:
    from bench.memory import run

    r = asyncio.run(run(20))
    out = {}
    for key, label in (("gateway_idle_mb", "gateway RSS, idle"),
                       ("gateway_20_calls_mb", "gateway RSS, 20 calls"),
                       ("workers_idle_mb", "recognition worker RSS, idle"),
                       ("workers_20_calls_mb", "recognition worker RSS, 20 calls")):
        out[f"memory.{key}"] = r[key]
        row(f"memory.{key}", label, "MB", False)
    out["memory.calls_confirmed"] = r.get("calls_confirmed", 0)
    row("memory.calls_confirmed", "memory run: calls that ended confirmed (of 20)", "calls")
    return out


SECTIONS: dict[str, Callable[[bool], dict[str, float]]] = {
    "language": language, "routing": routing, "sms": sms, "voice": voice, "memory": memory}


# --- the table ---------------------------------------------------------------------------------

def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.1f}"
    return f"{v:.3f}"


def table(results: dict[str, float], previous: dict[str, float]) -> str:
    lines = [f"{'metric':<58} {'value':>12} {'unit':<9} {'previous':>12} {'change':>9}"]
    lines.append("-" * len(lines[0]))
    for key, value in results.items():
        label, unit, higher_better = ROWS.get(key, (key, "", True))
        old = previous.get(key)
        change = ""
        if old not in (None, 0) and isinstance(old, (int, float)):
            pct = 100.0 * (value - old) / abs(old)
            better = (pct > 0) == higher_better
            change = f"{pct:+.0f}%" + ("" if abs(pct) < 5 else (" +" if better else " -"))
        lines.append(f"{label:<58} {_fmt(value):>12} {unit:<9} {_fmt(old):>12} {change:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    ap.add_argument("--only", default="", help=f"comma-separated: {','.join(SECTIONS)}")
    ap.add_argument("--skip", default="", help="comma-separated sections to leave out")
    args = ap.parse_args(argv)
    chosen = [s for s in (args.only.split(",") if args.only else SECTIONS) if s]
    chosen = [s for s in chosen if s not in args.skip.split(",")]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown sections: {', '.join(unknown)}")
    RESULTS.mkdir(exist_ok=True)
    latest = RESULTS / "latest.json"
    previous: dict[str, float] = {}
    if latest.exists():
        try:
            previous = json.loads(latest.read_text())["results"]
        except (ValueError, KeyError):
            previous = {}
    load_before = os.getloadavg()
    results: dict[str, float] = {}
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    for name in chosen:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        start = time.monotonic()
        try:
            with contextlib.redirect_stdout(sys.stderr):  # the benches' own prints
                figures = SECTIONS[name](args.quick)
            results.update({k: float(v) for k, v in figures.items()})
        except Exception as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            print(f"[bench] {name} failed: {errors[name]}", file=sys.stderr)
            if os.environ.get("DOORSTEP_BENCH_DEBUG"):
                traceback.print_exc()
        timings[name] = round(time.monotonic() - start, 1)
    print(table(results, previous))
    for name, err in errors.items():
        print(f"{name}: not measured ({err})")
    doc = {"at": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "platform": platform.platform(), "load_avg_before": load_before,
                       "load_avg_after": os.getloadavg()},
           "quick": args.quick, "sections": chosen, "seconds": timings,
           "results": {**previous, **results} if args.only else results,
           "errors": errors}
    if latest.exists():
        latest.replace(RESULTS / "previous.json")
    latest.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    print(f"\nresults: {latest}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
