"""The retrying worker that drains the outbox through one sender per channel."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import timedelta
from typing import Any, Awaitable, Callable

import db.outbox
from db.models import Outbox
from db.session import Database
from gateway.errors import SendError
from gateway.observe.periodic import cancel

log = logging.getLogger(__name__)

Sender = Callable[[Outbox], Awaitable[str | None]]

# How long to keep trying to record an outcome while the database is unreachable, as a part
# of the 'sending' lease: below it, so a message that went out is not taken for unsent and sent
# again.
SETTLE_PATIENCE = 0.75


def backoff(attempt: int, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Seconds before retry number `attempt` (1-based): exponential with jitter, capped."""
    return min(cap, base * (2 ** (attempt - 1))) * (0.75 + random.random() * 0.5)


class OutboxWorker:
    """Claims due rows, sends each through its channel's sender, records the outcome."""

    def __init__(self, database: Database, *, poll_seconds: float = 1.0, max_attempts: int = 12,
                 batch: int = 20, send_timeout: float = 20.0,
                 lease: timedelta = db.outbox.SENDING_LEASE) -> None:
        self.db = database
        self.lease = lease  # see db.outbox.claim_due
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.batch = batch
        self.send_timeout = send_timeout
        self.senders: dict[str, Sender] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def register(self, channel: str, sender: Sender) -> None:
        self.senders[channel] = sender

    def wake(self) -> None:
        """Ask for a pass now (after a commit that queued something)."""
        self._wake.set()

    async def run_once(self) -> int:
        """One pass over due messages of channels that have a sender; returns how many settled."""
        if not self.senders:
            return 0
        async with self.db.session() as s:
            rows = await db.outbox.claim_due(s, limit=self.batch, channels=list(self.senders),
                                             lease=self.lease)
            claimed = [(r.id, r.channel, r.attempts, r, r.next_attempt_at) for r in rows]
        clock = time.monotonic()
        for row_id, channel, attempts, row, claimed_at in claimed:
            # A send must end inside the row's lease, or another gateway may take the row and
            # send it too: once part of the lease has gone by (a slow vendor, a long batch), the
            # lease is started afresh, and only if the row is still this worker's.
            if time.monotonic() - clock > self._renew_after():
                async with self.db.session() as s:
                    renewed = await db.outbox.renew(s, row_id, claimed_at)
                if renewed is None:
                    log.info("outbox %s was taken over by another worker: not sent here", row_id)
                    continue
            await self._send_one(row_id, channel, attempts, row)
        return len(claimed)

    def _renew_after(self) -> float:
        """Seconds after the claim beyond which a row's lease is renewed before sending: a
        quarter of the lease, so a send (at most `send_timeout`) always ends inside it."""
        return self.lease.total_seconds() / 4

    async def _send_one(self, row_id: int, channel: str, attempts: int, row: Outbox) -> None:
        sender = self.senders[channel]
        try:
            async with asyncio.timeout(self.send_timeout):
                vendor_id = await sender(row)
        except SendError as exc:
            retry = None if exc.permanent or attempts + 1 >= self.max_attempts else \
                (exc.retry_after if exc.retry_after is not None else backoff(attempts + 1))
            log.warning("outbox %s (%s) failed, attempt %d%s: %s", row_id, channel, attempts + 1,
                        "" if retry is None else f", retry in {retry:.0f}s", exc)
            await self._settle_failed(row_id, str(exc), retry)
        except Exception as exc:  # time-outs, connection errors, sender bugs: retry later
            retry = None if attempts + 1 >= self.max_attempts else backoff(attempts + 1)
            log.warning("outbox %s (%s) error, attempt %d: %r", row_id, channel, attempts + 1, exc)
            await self._settle_failed(row_id, repr(exc), retry)
        else:
            await self._settle(db.outbox.mark_sent, row_id, vendor_id)

    async def _settle_failed(self, row_id: int, error: str, retry: float | None) -> None:
        await self._settle(db.outbox.mark_failed, row_id, error, retry_in=retry)

    async def _settle(self, mark: Callable[..., Awaitable[None]], *args: Any, **kw: Any) -> None:
        """Record an outcome, retrying while the database is away (a restart, a lost
        connection): the worker alone knows the message went out."""
        delay = 0.1
        deadline = time.monotonic() + SETTLE_PATIENCE * self.lease.total_seconds()
        while True:
            try:
                async with self.db.session() as s:
                    await mark(s, *args, **kw)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("outbox %s: could not record the outcome yet (%r); retrying",
                            args[0], exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def run(self) -> None:
        while True:
            # Cleared before the pass: a wake() during it (a message queued meanwhile) is seen
            # below, so a pass that found less than a batch need not be followed by an empty one.
            self._wake.clear()
            try:
                n = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be restarting: keep going
                log.exception("outbox pass failed; trying again")
                n = 0
            if n >= self.batch or self._wake.is_set():
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives just as the event is set, and stop() then waited forever.
            try:
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-worker")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
