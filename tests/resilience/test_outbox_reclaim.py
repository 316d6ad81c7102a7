"""A worker killed between Twilio accepting a text and recording it as sent: the next worker
reclaims the row after the lease and must not send the text a second time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import select, update

import db.outbox
from bench.twilio_standin import TwilioStandIn
from db.models import Outbox, utcnow
from gateway.notify.outbox_worker import OutboxWorker
from gateway.channels.twilio.rest import TwilioRest


async def test_reclaimed_row_already_sent_is_not_sent_again(
        database: Any, make_settings: Callable[..., Any], twilio_rest: TwilioStandIn) -> None:
    settings = make_settings(twilio_api_url=twilio_rest.url, twilio_from_number="+8657212345")
    async with database.session() as s:
        await db.outbox.enqueue(s, channel="sms", recipient="+8613800000001",
                                body="您的订单7号已送达。", idempotency_key="order:7:event:9:sms")
    sender = TwilioRest(settings)
    try:
        # The first worker claims the row and Twilio accepts the text; then the worker dies.
        async with database.session() as s:
            [row] = await db.outbox.claim_due(s)
        await sender(row)
        assert len(twilio_rest.messages) == 1
        # The lease runs out; another worker takes the row.
        async with database.session() as s:
            await s.execute(update(Outbox).values(
                next_attempt_at=utcnow() - db.outbox.SENDING_LEASE - timedelta(seconds=1)))
        worker = OutboxWorker(database)
        worker.register("sms", sender)
        assert await worker.run_once() == 1
    finally:
        await sender.close()
    async with database.session() as s:
        [row] = (await s.execute(select(Outbox))).scalars().all()
    assert row.status == "sent"
    assert len(twilio_rest.messages) == 1, "sent twice after the lease"
