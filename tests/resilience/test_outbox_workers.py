"""The outbox under faults: two workers on one PostgreSQL, and the database lost mid-drain."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import db.outbox
from db.migrate import upgrade
from db.models import Outbox
from db.session import Database
from gateway.notify.outbox_worker import OutboxWorker
from tests.resilience.conftest import via_proxy
from tests.resilience.proxy import TcpProxy


class RecordingSender:
    """Sends by remembering; a little latency so workers overlap."""

    def __init__(self, log: Counter[int], delay: float = 0.002) -> None:
        self.log, self.delay = log, delay

    async def __call__(self, row: Outbox) -> str:
        await asyncio.sleep(self.delay)
        self.log[row.id] += 1
        return f"V{row.id}"


async def _queue(database: Database, n: int) -> None:
    async with database.session() as s:
        for i in range(n):
            await db.outbox.enqueue(s, channel="sms", recipient=f"+8613700{i:06d}",
                                    body=f"message {i}", idempotency_key=f"k{i}")


async def _counts(database: Database) -> dict[str, int]:
    async with database.session() as s:
        return {st: int(n) for st, n in (await s.execute(
            select(Outbox.status, func.count()).group_by(Outbox.status))).all()}


async def _drain(workers: list[OutboxWorker], database: Database, total: int,
                 timeout: float) -> dict[str, int]:
    for w in workers:
        w.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            counts = await _counts(database)
            if counts.get("sent", 0) == total:
                return counts
            await asyncio.sleep(0.1)
        return await _counts(database)
    finally:
        for w in workers:
            await w.stop()


@pytest.mark.postgres
async def test_two_workers_send_every_message_once(pg_url: str) -> None:
    """Two processes' workers (separate engines and connection pools) claim with SKIP LOCKED."""
    await asyncio.to_thread(upgrade, pg_url)
    a, b = Database(pg_url), Database(pg_url)
    try:
        await _queue(a, 400)
        log: Counter[int] = Counter()
        workers = [OutboxWorker(d, poll_seconds=0.05, batch=10) for d in (a, b, a, b)]
        per_worker: list[Counter[int]] = [Counter() for _ in workers]
        for w, own in zip(workers, per_worker):
            sender = RecordingSender(log)

            async def send(row: Outbox, sender: RecordingSender = sender,
                           own: Counter[int] = own) -> str:
                own[row.id] += 1
                return await sender(row)

            w.register("sms", send)
        counts = await _drain(workers, a, 400, timeout=60)
    finally:
        await a.dispose()
        await b.dispose()
    assert counts == {"sent": 400}
    assert len(log) == 400 and set(log.values()) == {1}, "a message was sent twice"
    assert all(sum(c.values()) > 0 for c in per_worker), "the work was not shared"


@pytest.mark.postgres
async def test_database_lost_mid_drain_loses_nothing_and_sends_nothing_twice(
        pg_url: str, pg_proxy: TcpProxy) -> None:
    """The connection to PostgreSQL is cut (as a restart does) while the worker is sending;
    after it is back the outbox drains, and no message is sent twice."""
    await asyncio.to_thread(upgrade, pg_url)
    direct = Database(pg_url)
    proxied = Database(via_proxy(pg_url, pg_proxy), pool_size=2, max_overflow=0)
    try:
        await _queue(direct, 200)
        log: Counter[int] = Counter()
        # A short lease: if the cut comes as a claim commits, the claim holds on the server and
        # the worker never hears of it; those rows wait out the lease (2 minutes in service)
        # and are then taken again (and, never sent, sent once).
        worker = OutboxWorker(proxied, poll_seconds=0.05, batch=10, lease=timedelta(seconds=8))
        worker.register("sms", RecordingSender(log, delay=0.01))

        async def outage() -> None:
            while sum(log.values()) < 50:
                await asyncio.sleep(0.005)
            await pg_proxy.cut()
            await asyncio.sleep(2.0)
            await pg_proxy.restore()

        chaos = asyncio.create_task(outage())
        counts = await _drain([worker], direct, 200, timeout=60)
        await chaos
    finally:
        await proxied.dispose()
        await direct.dispose()
    assert counts == {"sent": 200}
    assert len(log) == 200
    assert [k for k, n in log.items() if n > 1] == [], "sent twice across the outage"
