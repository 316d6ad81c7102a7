"""Notifications to residents on order events, queued in the outbox in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

import db.outbox
from db.models import Order, OrderEvent
from gateway.orders.proxies import copy_to_proxies
from gateway.templates import Templates


class ResidentSms:
    """Queues an SMS to the resident for each status that has a template `sms/event_<status>.j2`.
    Statuses in `delayed` are not texted on the event itself: the dispatcher texts them when the
    order is still in that status after a while (`send`)."""

    def __init__(self, templates: Templates, delayed: Iterable[str] = ()) -> None:
        self.templates = templates
        self.delayed = frozenset(delayed)

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        if event.to_status not in self.delayed:
            await self.send(session, order, event)

    async def send(self, session: AsyncSession, order: Order, event: OrderEvent) -> bool:
        """Queue the text about `event` (once per event); False if there is none to send."""
        if order.fulfil_kind in ("run", "pickup") and event.to_status in (
                "assigned", "accepted", "confirmed", "unassigned"):
            return False  # gateway.orders.fulfilment texts these in its own words
        name = f"sms/event_{event.to_status}.j2"
        if event.from_status is None and event.to_status == "confirmed" \
                and order.channel == "console":
            # Taken by phone by an operator: the resident has no written confirmation yet
            # (texts and calls confirm in their own dialogue, so they get none here).
            name = "sms/event_entered.j2"
        if not (self.templates.exists(order.locale, name) or self.templates.exists("zh-CN", name)):
            return False
        if order.resident is not None and order.resident.opted_out:
            return False
        body = self.templates.render(order.locale, name, order=order, event=event,
                                     resident=order.resident, leader=order.leader)
        key = db.outbox.event_sms_key(order.id, event.id)
        queued = await db.outbox.enqueue(session, channel="sms", recipient=order.phone, body=body,
                                         idempotency_key=key,
                                         payload={"order_id": order.id, "event_id": event.id})
        if queued:  # family members and carers are told too
            await copy_to_proxies(session, order, body, key=key, templates=self.templates)
        return queued
