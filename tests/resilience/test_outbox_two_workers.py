"""Two gateways' outbox workers on one database and a slow vendor: no text is sent twice.

Issue 15 item 2: a worker claimed a batch, the vendor was slow, the 'sending' lease of the rows
it had not reached yet ran out, the other worker re-claimed and sent them, and then the first
sent them too. The lease is shortened here (the vendor takes 0.15 s a text, the lease 0.5 s)
so the same race happens in a second instead of minutes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import db.outbox
from db.models import Outbox
from gateway.notify.outbox_worker import OutboxWorker


class SlowVendor:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[int] = []

    async def __call__(self, row: Outbox) -> str:
        await asyncio.sleep(self.seconds)
        self.sent.append(row.id)
        return f"SM{row.id:032d}"


async def test_two_workers_and_a_slow_vendor_send_each_text_once(database: Any,
                                                                 monkeypatch: Any) -> None:
    monkeypatch.setattr(db.outbox, "SENDING_LEASE", timedelta(seconds=0.5))
    async with database.session() as s:
        for i in range(20):
            await db.outbox.enqueue(s, channel="sms", recipient=f"+86138000000{i:02d}",
                                    body=f"text {i}", idempotency_key=f"two-workers:{i}")
    vendor = SlowVendor(0.15)
    a = OutboxWorker(database, batch=20)
    b = OutboxWorker(database, batch=20)
    a.register("sms", vendor)
    b.register("sms", vendor)

    async def keep_claiming(worker: OutboxWorker, until: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < until:
            await worker.run_once()
            await asyncio.sleep(0.05)

    loop = asyncio.get_running_loop()
    first = asyncio.create_task(a.run_once())  # takes all 20; 3 s of vendor time at 0.15 s
    await asyncio.sleep(0.1)
    await asyncio.gather(first, keep_claiming(b, loop.time() + 4.0))
    twice = {row_id: n for row_id, n in Counter(vendor.sent).items() if n > 1}
    assert not twice, f"sent twice: {twice}"
    assert len(vendor.sent) == 20
    async with database.session() as s:
        assert (await db.outbox.depth(s)) == {"sent": 20}
