"""The outbox worker: sends each message once, retries failures with backoff, gives up in the end."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

import db.outbox
from db.models import Outbox
from gateway.errors import SendError
from gateway.notify.outbox_worker import OutboxWorker, backoff


class FlakySender:
    """Fails the first `failures` calls, then records what it sent."""

    def __init__(self, failures: int = 0, permanent: bool = False, hang: bool = False) -> None:
        self.failures, self.permanent, self.hang = failures, permanent, hang
        self.sent: list[str] = []
        self.calls = 0

    async def __call__(self, row: Outbox) -> str:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(10)
        if self.calls <= self.failures:
            raise SendError("vendor down", retry_after=0, permanent=self.permanent)
        self.sent.append(row.body)
        return f"V{self.calls}"


async def _queue(database, n: int = 3) -> None:  # noqa: ANN001
    async with database.session() as s:
        for i in range(n):
            await db.outbox.enqueue(s, channel="sms", recipient="+1", body=f"m{i}",
                                    idempotency_key=f"k{i}")


async def _rows(database) -> list[Outbox]:  # noqa: ANN001
    async with database.session() as s:
        return list((await s.execute(select(Outbox).order_by(Outbox.id))).scalars())


def test_backoff_grows_and_is_capped() -> None:
    assert 1.5 <= backoff(1) <= 2.5
    assert 6 <= backoff(3) <= 10
    assert backoff(30) <= 750


async def test_sends_each_once(database) -> None:  # noqa: ANN001
    await _queue(database)
    sender = FlakySender()
    w = OutboxWorker(database)
    w.register("sms", sender)
    assert await w.run_once() == 3
    assert await w.run_once() == 0
    assert sender.sent == ["m0", "m1", "m2"]
    assert [(r.status, r.attempts) for r in await _rows(database)] == [("sent", 1)] * 3


async def test_retries_then_succeeds(database) -> None:  # noqa: ANN001
    await _queue(database, 1)
    sender = FlakySender(failures=2)
    w = OutboxWorker(database)
    w.register("sms", sender)
    for _ in range(3):
        await w.run_once()
    row = (await _rows(database))[0]
    assert (row.status, row.attempts, row.vendor_id) == ("sent", 3, "V3")
    assert sender.sent == ["m0"]


async def test_permanent_error_and_attempt_cap(database) -> None:  # noqa: ANN001
    await _queue(database, 2)
    w = OutboxWorker(database, max_attempts=2)
    w.register("sms", FlakySender(failures=1, permanent=True))
    await w.run_once()
    rows = await _rows(database)
    assert rows[0].status == "failed" and rows[0].last_error == "vendor down"
    assert rows[1].status == "sent"


async def test_timeout_counts_as_a_failed_attempt(database) -> None:  # noqa: ANN001
    await _queue(database, 1)
    w = OutboxWorker(database, send_timeout=0.05)
    w.register("sms", FlakySender(hang=True))
    await w.run_once()
    row = (await _rows(database))[0]
    assert row.status == "pending" and row.attempts == 1 and "TimeoutError" in (row.last_error or "")


async def test_channels_without_a_sender_wait(database) -> None:  # noqa: ANN001
    async with database.session() as s:
        await db.outbox.enqueue(s, channel="telegram", recipient="42", body="t",
                                idempotency_key="t1")
    w = OutboxWorker(database)
    w.register("sms", FlakySender())
    assert await w.run_once() == 0
    assert (await _rows(database))[0].status == "pending"


async def test_background_loop_drains_when_woken(database) -> None:  # noqa: ANN001
    sender = FlakySender()
    w = OutboxWorker(database, poll_seconds=30)
    w.register("sms", sender)
    w.start()
    try:
        await asyncio.sleep(0.05)
        await _queue(database, 2)
        w.wake()
        for _ in range(100):
            if len(sender.sent) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await w.stop()
    assert sender.sent == ["m0", "m1"]
