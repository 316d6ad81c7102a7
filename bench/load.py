"""Load: many residents texting (and calling) a real `doorstep serve` on loopback, then an audit.

Each simulated resident texts an order ("大米两袋"), waits for the read-back, and confirms with
"1", over and over until the time or count budget is spent. Every request is signed as Twilio
signs it; a failed request (connection error, time-out, 5xx) is retried with the same MessageSid,
as Twilio does. Afterwards the database is audited: every acknowledged confirmation is exactly one
confirmed order with the right items, and nothing exists twice.

    python -m bench.load --residents 200 --concurrency 50 --duration 20
    python -m bench.load --database postgresql://postgres@127.0.0.1/doorstep_load
    python -m bench.load --calls 10     # and 10 callers at once, real-time speech (Vosk)

Callers (ko-KR residents) say "라면 두 봉지" in espeak-ng speech at the pace of a real call and
press 1; every call the caller heard confirmed must be one confirmed voice order.

Only loopback is targeted: the gateway, the Twilio REST stand-in and the database all run here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.twilio_standin import TwilioStandIn, free_port
from gateway.channels.twilio.webhook_client import Twilio, inbound_form

TWILIO_TOKEN = "load-test-auth-token"
ACCOUNT_SID = "AC" + "1" * 32
SERVICE_NUMBER = "+8657212345"
API_TOKEN = "load-test-api-token"
REPO = Path(__file__).resolve().parent.parent
# The source tree the gateway under test runs from (e.g. a clean worktree of a commit).
SOURCE = Path(os.environ.get("DOORSTEP_BENCH_SOURCE") or REPO)

# (text, expected items as {sku: (quantity, unit)}) per locale, against its demo catalogue.
ORDERS_BY_LOCALE = {
    "zh-CN": [("大米两袋", {"rice": (2, "袋")}),
              ("鸡蛋一板", {"eggs": (1, "板")}),
              ("大米一袋，酱油两瓶", {"rice": (1, "袋"), "soy-sauce": (2, "瓶")})],
    "ko-KR": [("쌀 두 포대 주세요", {"rice": (2, "포대")}),
              ("계란 한 판", {"eggs": (1, "판")}),
              ("라면 다섯 개, 두부 두 모", {"instant-noodles": (5, "개"), "tofu": (2, "모")})],
}
ORDERS = ORDERS_BY_LOCALE["zh-CN"]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# --- stand-ins ---------------------------------------------------------------------------------

# --- the gateway process -------------------------------------------------------------------------

def gateway_env(database_url: str, port: int, data_dir: Path, *, twilio_api_url: str,
                telegram_api_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a gateway under test: everything on loopback, no rate limit."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_"))}
    env.update({
        "DOORSTEP_DATABASE_URL": database_url,
        "DOORSTEP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DOORSTEP_DATA_DIR": str(data_dir),
        "DOORSTEP_API_TOKEN": API_TOKEN,
        "DOORSTEP_SMS_RATE_LIMIT": "0",
        "DOORSTEP_LOG_LEVEL": "WARNING",
        "DOORSTEP_OUTBOX_POLL_SECONDS": "0.2",
        "DOORSTEP_DISPATCH_POLL_SECONDS": "0.5",
        # No leader is on Telegram here, so every confirmed order becomes unassigned; texting
        # its resident at once gives each order an outbound SMS, which the audits count.
        "DOORSTEP_UNASSIGNED_SMS_MINUTES": "0",
        "DOORSTEP_VOICE_WORKERS": "0",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_API_URL": twilio_api_url,
        "TWILIO_FROM_NUMBER": SERVICE_NUMBER,
        "DOORSTEP_TELEGRAM_MODE": "off",
    })
    if telegram_api_url:
        env.update({"TELEGRAM_API_URL": telegram_api_url,
                    "TELEGRAM_BOT_TOKEN": "123456:load-test-telegram-token-abcdefghij",
                    "DOORSTEP_TELEGRAM_MODE": "polling"})
    env["PYTHONPATH"] = str(SOURCE)
    env.update(extra)
    return env


class GatewayProcess:
    """`doorstep serve` in a child process on 127.0.0.1, started, killed and restarted at will."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env, self.port, self.log_path = env, port, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 60.0) -> None:
        log = self.log_path.open("ab")
        # DOORSTEP_BENCH_PROFILE=out.prof runs the gateway under cProfile (written on SIGTERM).
        profile = os.environ.get("DOORSTEP_BENCH_PROFILE")
        prefix = ["-m", "cProfile", "-o", profile] if profile else []
        self.proc = subprocess.Popen(
            [sys.executable, *prefix, "-m", "gateway.cli", "serve", "--no-migrate",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=log, cwd=str(SOURCE))
        log.close()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gateway exited with {self.proc.returncode}; "
                                       f"see {self.log_path}")
                try:
                    async with http.get(self.url + "/healthz",
                                        timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status in (200, 503):
                            return
                except (TimeoutError, aiohttp.ClientError):
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"gateway did not answer /healthz within {timeout}s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time the gateway process has used so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        """Resident set size of the gateway process, from /proc."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


class BareServer:
    """The baseline: a bare aiohttp handler answering every text with fixed TwiML, in its own
    process like the gateway, driven by the same signed load."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.load", "--bare-server",
                                      str(self.port)], cwd=str(REPO),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.post(self.url + "/twilio/sms", data={}) as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("the bare server did not start")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 10)

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_bare(port: int) -> None:
    twiml = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>您要：大米2袋。'
             '回复1确认下单</Message></Response>')

    async def sms(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=twiml, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/twilio/sms", sms)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def run_baseline(*, residents: int = 200, concurrency: int = 40, duration: float = 10.0,
                       ) -> dict[str, Any]:
    """The same load against the bare handler."""
    bare = BareServer()
    await bare.start()
    try:
        cpu0 = bare.cpu_seconds()
        stats = await run_sms_load(bare.url, resident_phones(residents), concurrency=concurrency,
                                   duration=duration)
        cpu = bare.cpu_seconds() - cpu0
    finally:
        await bare.stop()
    return {"database": "none (bare aiohttp handler)", "residents": residents,
            "concurrency": concurrency, **stats.summary(),
            "gateway_cpu_ms_per_request": round(cpu / max(1, stats.requests) * 1000, 2)}


# --- databases ---------------------------------------------------------------------------------

def create_pg_database(admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres",
                       name: str | None = None) -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    import psycopg2

    name = name or f"doorstep_load_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str, admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres",
                     ) -> None:
    import psycopg2

    name = url.rsplit("/", 1)[1]
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def resident_phones(n: int) -> list[str]:
    return [f"+86137{i:08d}" for i in range(n)]


async def prepare_database(url: str, phones: Iterable[str]) -> None:
    """Migrate, load the demo catalogue and leaders, and register one resident per phone."""
    import db.people
    from db.session import Database
    from gateway.orders.demo import load_demo

    env = {**os.environ, "DOORSTEP_DATABASE_URL": url, "PYTHONPATH": str(SOURCE)}
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway.cli", "db", "upgrade"],
                            env=env, cwd=str(SOURCE), check=True, capture_output=True)
    database = Database(url)
    try:
        await load_demo(database, "zh-CN")
        async with database.session() as s:
            for i, phone in enumerate(phones):
                await db.people.upsert_resident(
                    s, phone, name=f"居民{i}", address=f"鲁家村{i % 9 + 1}组{i}号",
                    village="鲁家村", lat=30.60 + (i % 50) * 0.0004, lon=119.70 - (i % 40) * 0.0004,
                    locale="zh-CN", registered_by="load")
    finally:
        await database.dispose()


# --- playing residents --------------------------------------------------------------------------

@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    # phone -> [(confirm MessageSid, expected items, acknowledged?)]
    confirms: dict[str, list[tuple[str, dict[str, tuple[float, str]], bool]]] = \
        field(default_factory=dict)
    started: float = 0.0
    elapsed: float = 0.0
    # texts-only mix: MessageSid -> phone of every text answered with 200
    answered: dict[str, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "seconds": round(self.elapsed, 2),
            "rps": round(self.requests / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 1),
            "p95_ms": round(percentile(self.latencies, 95) * 1000, 1),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 1),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors), "retries": self.retries,
        }


class Texter:
    """Posts signed Twilio SMS webhooks, retrying like Twilio with the same MessageSid."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str | list[str], stats: Stats, *,
                 public_url: str | None = None, token: str = TWILIO_TOKEN, retries: int = 8,
                 timeout: float = 15.0, retry_delay: float = 0.5, locale: str = "zh-CN") -> None:
        # Several base URLs: each request (and each retry) goes to the next, as behind a
        # load balancer; they must share one DOORSTEP_PUBLIC_URL (`public_url`).
        self.base_urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.http, self.stats = http, stats
        self.public_url = public_url or self.base_urls[0]
        self.locale = locale  # the residents' language (and the catalogue's)
        self._turn = 0
        self.twilio = Twilio(self.base_urls[0], self.public_url, token)
        self.retries, self.timeout, self.retry_delay = retries, timeout, retry_delay

    def form(self, phone: str, body: str, sid: str | None = None) -> dict[str, str]:

        return {**inbound_form(phone, body, to=SERVICE_NUMBER, account_sid=ACCOUNT_SID, sid=sid),
                "FromCountry": "CN", "ToCountry": "CN"}

    async def send(self, params: dict[str, str]) -> tuple[int, str] | None:
        """Deliver one webhook; (status, body) of the first non-5xx answer, None if it never got
        through within the retry budget."""
        path = "/twilio/sms"
        headers = self.twilio.sign(self.public_url + path, params)
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
                await asyncio.sleep(min(5.0, self.retry_delay * 2 ** (attempt - 1)))
            start = time.perf_counter()
            self._turn += 1
            base_url = self.base_urls[self._turn % len(self.base_urls)]
            try:
                async with self.http.post(base_url + path, data=params, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
                    text = await r.text()
                    status = r.status
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                self.stats.errors[type(exc).__name__] += 1
                continue
            self.stats.statuses[status] += 1
            if status >= 500:
                continue
            self.stats.latencies.append(time.perf_counter() - start)
            return status, text
        return None


async def play_cycle(texter: Texter, phone: str, cycle: int) -> bool:
    """One order: the order text, its read-back, the confirmation. False if a text was
    never answered (the resident gives up)."""
    stats = texter.stats
    confirms = stats.confirms.setdefault(phone, [])
    orders = ORDERS_BY_LOCALE[texter.locale]
    text, items = orders[cycle % len(orders)]
    answer = await texter.send(texter.form(phone, text))
    if answer is None or answer[0] != 200:
        stats.errors["order-text-not-answered"] += 1
        return False
    confirm = texter.form(phone, "1")
    answer = await texter.send(confirm)
    acked = answer is not None and answer[0] == 200
    confirms.append((confirm["MessageSid"], {k: (float(q), u) for k, (q, u) in items.items()},
                     acked))
    return acked


CANCEL = {"zh-CN": "取消", "ko-KR": "취소"}


async def play_texts_cycle(texter: Texter, phone: str, cycle: int) -> bool:
    """Texts only (the webhook's own work: parse, store, TwiML, no order): the order text and
    its read-back, then "cancel" and its answer. False if a text was never answered."""
    orders = ORDERS_BY_LOCALE[texter.locale]
    for body in (orders[cycle % len(orders)][0], CANCEL[texter.locale]):
        form = texter.form(phone, body)
        answer = await texter.send(form)
        if answer is None or answer[0] != 200 or "<Message>" not in answer[1]:
            texter.stats.errors["text-not-answered"] += 1
            return False
        texter.stats.answered[form["MessageSid"]] = phone
    return True


MIXES = {"orders": play_cycle, "texts": play_texts_cycle}


async def run_sms_load(base_url: str | list[str], phones: list[str], *, concurrency: int, duration: float,
                       max_cycles: int = 1000, stats: Stats | None = None,
                       texter_options: dict[str, Any] | None = None,
                       mix: str = "orders") -> Stats:
    """`concurrency` residents at a time, each playing cycles of `mix` (MIXES: order + confirm,
    or order text + cancel), for `duration` s."""
    play = MIXES[mix]
    stats = stats or Stats()
    conn = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=conn) as http:
        texter = Texter(http, base_url, stats, **(texter_options or {}))
        stats.started = time.monotonic()
        deadline = stats.started + duration
        # Residents take turns: a lane plays one order of the next free resident, who then
        # goes to the back of the queue (never two lanes on one resident at a time).
        queue: asyncio.Queue[tuple[int, str, int]] = asyncio.Queue()
        for i, p in enumerate(phones):
            queue.put_nowait((i, p, 0))

        async def lane() -> None:
            while time.monotonic() < deadline:
                try:
                    i, phone, cycles = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                if await play(texter, phone, i + cycles) and cycles + 1 < max_cycles:
                    queue.put_nowait((i, phone, cycles + 1))

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        stats.elapsed = time.monotonic() - stats.started
    return stats


@dataclass
class CallStats:
    placed: int = 0
    confirmed: int = 0          # the caller heard the order confirmed
    failed: list[str] = field(default_factory=list)
    readback_ms: list[float] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"calls": self.placed, "calls_confirmed": self.confirmed,
                "calls_failed": len(self.failed),
                "readback_p50_ms": round(percentile(self.readback_ms, 50), 1),
                "readback_p95_ms": round(percentile(self.readback_ms, 95), 1)}


async def run_call_load(base_url: str, phones: list[str], speech: bytes, *, duration: float,
                        stats: CallStats | None = None) -> CallStats:
    """Each phone calls, says the order in real time and presses 1, again until `duration`."""
    from gateway.channels.twilio.simulate_call import place_call

    stats = stats or CallStats()
    twilio = Twilio(base_url, base_url, TWILIO_TOKEN)
    deadline = time.monotonic() + duration

    async def caller(phone: str) -> None:
        while time.monotonic() < deadline:
            stats.placed += 1
            try:
                log = await place_call(twilio, phone, [speech], "1", pace=1.0)
            except Exception as exc:
                stats.failed.append(repr(exc)[:200])
                continue
            stats.readback_ms += [x * 1000 for x in log.readback_latency]
            if log.heard and log.heard[-1].startswith("주문되었습니다"):
                stats.confirmed += 1
                stats.phones.append(phone)

    await asyncio.gather(*(caller(p) for p in phones))
    return stats


async def audit_calls(url: str, stats: CallStats) -> dict[str, Any]:
    """Every call the caller heard confirmed is one confirmed voice order."""
    from sqlalchemy import select

    from db.models import Order, OrderEvent
    from db.session import Database

    database = Database(url)
    try:
        async with database.session() as s:
            confirmed = select(OrderEvent.order_id).where(OrderEvent.to_status == "confirmed")
            rows = (await s.execute(select(Order.phone).where(
                Order.channel == "voice", Order.id.in_(confirmed)))).scalars().all()
    finally:
        await database.dispose()
    found, told = Counter(rows), Counter(stats.phones)
    return {"told_confirmed": sum(told.values()), "confirmed_voice_orders": len(rows),
            "lost": sum(max(0, n - found[p]) for p, n in told.items()),
            "duplicated": sum(max(0, n - told[p]) for p, n in found.items())}


# --- the audit ----------------------------------------------------------------------------------

@dataclass
class Audit:
    """What the database holds for the residents' confirmations ("1" texts), linked through
    each text's MessageSid (inbound_messages.vendor_id → order_id)."""

    confirms: int = 0          # confirmation texts answered with 200
    confirmed: int = 0         # ... that made a confirmed order
    for_operator: int = 0      # ... kept as a needs_review order (the gateway apologised)
    no_order: int = 0          # ... stored, but no order (e.g. the draft was not there)
    unanswered: int = 0        # confirmation texts never answered (retries exhausted)
    lost: list[str] = field(default_factory=list)        # answered but not stored
    duplicated: list[str] = field(default_factory=list)  # more orders than confirmations
    wrong_items: list[str] = field(default_factory=list)
    inbound_duplicates: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong_items or self.inbound_duplicates)

    def summary(self) -> dict[str, Any]:
        return {"confirms": self.confirms, "confirmed": self.confirmed,
                "for_operator": self.for_operator, "no_order": self.no_order,
                "unanswered": self.unanswered, "lost": len(self.lost),
                "duplicated": len(self.duplicated), "wrong_items": len(self.wrong_items),
                "inbound_duplicates": self.inbound_duplicates, "ok": self.ok}


async def audit_orders(url: str, stats: Stats) -> Audit:
    """Compare what residents sent and were answered with what the database holds."""
    from sqlalchemy import func, select

    from db.models import InboundMessage, Order, OrderEvent, OrderItem
    from db.session import Database

    audit = Audit()
    phones = list(stats.confirms)
    sids = [c[0] for cs in stats.confirms.values() for c in cs]
    database = Database(url)
    try:
        async with database.session() as s:
            inbound = {vid: oid for vid, oid in (await s.execute(select(
                InboundMessage.vendor_id, InboundMessage.order_id).where(
                InboundMessage.channel == "sms", InboundMessage.vendor_id.in_(sids)))).all()}
            orders = {oid: (phone, status) for oid, phone, status in (await s.execute(
                select(Order.id, Order.phone, Order.status).where(Order.phone.in_(phones))))}
            confirmed_ids = set((await s.execute(select(OrderEvent.order_id).where(
                OrderEvent.to_status == "confirmed",
                OrderEvent.order_id.in_(list(orders))))).scalars())
            items_rows = (await s.execute(select(OrderItem.order_id, OrderItem.sku,
                                                 OrderItem.quantity, OrderItem.unit).where(
                OrderItem.order_id.in_(list(confirmed_ids))))).all()
            dup = (await s.execute(select(func.count()).select_from(
                select(InboundMessage.channel, InboundMessage.vendor_id).group_by(
                    InboundMessage.channel, InboundMessage.vendor_id).having(
                    func.count() > 1).subquery()))).scalar_one()
    finally:
        await database.dispose()
    audit.inbound_duplicates = int(dup)
    items: dict[int, dict[str, tuple[float, str]]] = {}
    for oid, sku, qty, unit in items_rows:
        items.setdefault(oid, {})[sku] = (float(qty), unit)
    confirmed_by_phone = Counter(orders[oid][0] for oid in confirmed_ids)
    linked: Counter[int] = Counter()
    for phone, confirms in stats.confirms.items():
        carried: dict[str, tuple[float, str]] = {}  # a draft left over from a failed confirm
        for sid, want, answered in confirms:
            for sku, (q, u) in want.items():
                q0 = carried.get(sku, (0.0, u))[0]
                carried[sku] = (q0 + q, u)
            if not answered:
                audit.unanswered += 1
                continue
            audit.confirms += 1
            if sid not in inbound:
                audit.lost.append(f"{phone} {sid}")
                continue
            linked_id = inbound[sid]
            if linked_id is not None and linked_id in confirmed_ids:
                oid = linked_id
                audit.confirmed += 1
                linked[oid] += 1
                if items.get(oid) != carried:
                    audit.wrong_items.append(f"{phone} order {oid}: {items.get(oid)} != {carried}")
                carried = {}
            elif linked_id is not None and orders.get(linked_id, ("", ""))[1] == "needs_review":
                audit.for_operator += 1
            else:
                audit.no_order += 1
        if confirmed_by_phone[phone] > len(confirms):
            audit.duplicated.append(phone)
    audit.duplicated += [f"order {k} from {n} texts" for k, n in linked.items() if n > 1]
    return audit


async def audit_texts(url: str, stats: Stats) -> dict[str, Any]:
    """Texts-only mix: every answered text is stored once and marked answered, and no order was
    made from them."""
    from sqlalchemy import func, select

    from db.models import InboundMessage, Order
    from db.session import Database

    sids = list(stats.answered)
    database = Database(url)
    try:
        async with database.session() as s:
            rows = (await s.execute(select(InboundMessage.vendor_id, InboundMessage.processed_at)
                                    .where(InboundMessage.channel == "sms",
                                           InboundMessage.vendor_id.in_(sids)))).all()
            orders = (await s.execute(select(func.count(Order.id)).where(
                Order.phone.in_(set(stats.answered.values()))))).scalar_one()
    finally:
        await database.dispose()
    stored = Counter(vid for vid, _ in rows)
    result = {"answered": len(sids), "stored": len(stored),
              "lost": len(set(sids) - set(stored)),
              "duplicated": sum(1 for n in stored.values() if n > 1),
              "not_marked_answered": sum(1 for _, at in rows if at is None),
              "orders": int(orders)}
    result["ok"] = not (result["lost"] or result["duplicated"] or result["not_marked_answered"]
                        or result["orders"])
    return result


async def audit_outbox(url: str, rest: TwilioStandIn) -> dict[str, Any]:
    """Each queued SMS sent once: compare the stand-in's receipts with the outbox rows."""
    from sqlalchemy import select

    from db.models import Outbox
    from db.session import Database

    database = Database(url)
    try:
        async with database.session() as s:
            rows = (await s.execute(select(Outbox.channel, Outbox.recipient, Outbox.body,
                                           Outbox.status))).all()
    finally:
        await database.dispose()
    statuses = Counter(r.status for r in rows if r.channel == "sms")
    queued = Counter((r.recipient, r.body) for r in rows if r.channel == "sms")
    received = Counter((m.to, m.body) for m in rest.messages)
    twice = sum(max(0, n - queued.get(k, 0)) for k, n in received.items())
    return {"sms_rows": sum(statuses.values()), "by_status": dict(statuses),
            "received": len(rest.messages), "sent_twice": twice,
            "unknown": sum(n for k, n in received.items() if k not in queued)}


async def wait_outbox_drained(url: str, timeout: float, channels: tuple[str, ...] = ("sms",),
                              ) -> dict[str, int]:
    """Wait until no message of `channels` is pending or sending; returns the final counts."""
    from sqlalchemy import func, select

    from db.models import Outbox
    from db.session import Database

    database = Database(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with database.session() as s:
                counts = {st: int(n) for st, n in (await s.execute(
                    select(Outbox.status, func.count()).where(Outbox.channel.in_(channels))
                    .group_by(Outbox.status))).all()}
            if not counts.get("pending") and not counts.get("sending"):
                return counts
            if time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.2)
    finally:
        await database.dispose()


# --- one complete run ---------------------------------------------------------------------------

async def run(*, database: str = "sqlite", residents: int = 200, concurrency: int = 40,
              duration: float = 15.0, max_cycles: int = 1000, keep: bool = False,
              calls: int = 0, mix: str = "orders") -> dict[str, Any]:
    """Start the gateway on loopback, play the residents, audit; returns a JSON-able report."""
    work = Path(tempfile.mkdtemp(prefix="doorstep-load-"))
    created_pg = None
    if database == "sqlite":
        url = f"sqlite:///{work / 'load.db'}"
    elif database == "postgresql":
        url = created_pg = create_pg_database()
    else:
        url = database
    phones = resident_phones(residents)
    await prepare_database(url, phones)
    callers = [f"+8210{i:08d}" for i in range(calls)]
    extra: dict[str, str] = {}
    options: dict[str, Any] = {}
    if calls:  # the Korean model: a ko-KR co-operative, texters and callers alike
        from bench.memory import _register_ko, speech_ulaw

        phones = [f"+8211{i:08d}" for i in range(residents)]
        await _register_ko(url, callers + phones)
        options["locale"] = "ko-KR"
        speech = speech_ulaw("라면 두 봉지", work)
        extra["DOORSTEP_VOICE_WORKERS"] = "1"
    rest = TwilioStandIn()
    await rest.start()
    port = free_port()
    gw = GatewayProcess(gateway_env(url, port, work / "data", twilio_api_url=rest.url, **extra),
                        port, work / "gateway.log")
    call_stats = CallStats()
    try:
        await gw.start()
        if calls:
            await asyncio.sleep(8)  # the recognition worker loads its model
        rss_idle = gw.rss_kb()
        cpu0 = gw.cpu_seconds()
        sms_task = run_sms_load(gw.url, phones, concurrency=concurrency, duration=duration,
                                max_cycles=max_cycles, texter_options=options, mix=mix)
        if calls:
            stats, call_stats = await asyncio.gather(sms_task, run_call_load(
                gw.url, callers, speech, duration=duration))
        else:
            stats = await sms_task
        cpu = gw.cpu_seconds() - cpu0
        rss_loaded = gw.rss_kb()
        drained = await wait_outbox_drained(url, timeout=30)
        await gw.stop()
        audit: Any = await audit_orders(url, stats) if mix == "orders" else None
        texts_audit = await audit_texts(url, stats) if mix == "texts" else None
        outbox = await audit_outbox(url, rest)
        calls_audit = await audit_calls(url, call_stats) if calls else None
    finally:
        await gw.stop()
        await rest.stop()
        if created_pg and not keep:
            drop_pg_database(created_pg)
    return {"database": "postgresql" if "postgres" in url else "sqlite",
            "residents": residents, "concurrency": concurrency, "mix": mix, **stats.summary(),
            "audit": audit.summary() if audit is not None else texts_audit,
            "outbox": {**outbox, "final": drained},
            **({"voice": {**call_stats.summary(), "audit": calls_audit}} if calls else {}),
            "gateway_cpu_s": round(cpu, 2),
            "gateway_cpu_ms_per_request": round(cpu / max(1, stats.requests) * 1000, 1),
            "rss_idle_mb": round(rss_idle / 1024, 1), "rss_loaded_mb": round(rss_loaded / 1024, 1),
            "work_dir": str(work)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database", default="sqlite",
                    help="sqlite (a fresh file), postgresql (a fresh database on 127.0.0.1), "
                         "or a URL")
    ap.add_argument("--residents", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=40)
    ap.add_argument("--duration", type=float, default=15.0, help="seconds of load (bounded)")
    ap.add_argument("--max-cycles", type=int, default=1000, help="orders per resident at most")
    ap.add_argument("--mix", choices=sorted(MIXES), default="orders",
                    help="orders: order text + confirmation (orders made, routed, texted); "
                         "texts: order text + cancel (the webhook alone: parse, store, TwiML)")
    ap.add_argument("--calls", type=int, default=0,
                    help="also this many callers at once (real-time speech, one Vosk worker)")
    ap.add_argument("--baseline", action="store_true",
                    help="drive a bare aiohttp handler instead of the gateway")
    ap.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bare_server:
        serve_bare(args.bare_server)
        return 0
    if args.baseline:
        print(json.dumps(asyncio.run(run_baseline(
            residents=args.residents, concurrency=args.concurrency,
            duration=min(args.duration, 600))), ensure_ascii=False, indent=2))
        return 0
    report = asyncio.run(run(database=args.database, residents=args.residents,
                             concurrency=args.concurrency, duration=min(args.duration, 600),
                             max_cycles=args.max_cycles, calls=min(args.calls, 50),
                             mix=args.mix))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    done = report["audit"]["confirmed" if args.mix == "orders" else "answered"]
    good = report["audit"]["ok"] and done > 0
    if "voice" in report:
        good = good and not report["voice"]["audit"]["lost"] \
            and not report["voice"]["audit"]["duplicated"]
    return 0 if good and report["outbox"]["sent_twice"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
