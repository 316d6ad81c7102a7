"""Notifications to residents on order events, queued in the outbox in the same transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

import db.outbox
from db.models import Order, OrderEvent
from gateway.templates import Templates


class ResidentSms:
    """Queues an SMS to the resident for each status that has a template `sms/event_<status>.j2`."""

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        name = f"sms/event_{event.to_status}.j2"
        if not (self.templates.exists(order.locale, name) or self.templates.exists("zh-CN", name)):
            return
        if order.resident is not None and order.resident.opted_out:
            return
        body = self.templates.render(order.locale, name, order=order, event=event,
                                     resident=order.resident, leader=order.leader)
        await db.outbox.enqueue(session, channel="sms", recipient=order.phone, body=body,
                                idempotency_key=f"order:{order.id}:event:{event.id}:sms",
                                payload={"order_id": order.id, "event_id": event.id})
