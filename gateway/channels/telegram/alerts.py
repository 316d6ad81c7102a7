"""Operator alerts in the configured Telegram chat: unassigned and needs_review orders,
unknown callers. Queued in the transaction of the change, like every outbound message."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

import db.people
from db.models import Order, OrderEvent, utcnow
from gateway.channels.telegram.messages import TelegramMessages


class OperatorAlerts:
    """An order listener, and `unknown_caller()` for the SMS and voice adapters."""

    def __init__(self, messages: TelegramMessages) -> None:
        self.messages = messages

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        if event.to_status in ("unassigned", "needs_review"):
            await self.messages.operator_alert(
                session, event.to_status, order=order, reason=event.reason,
                key=f"order:{order.id}:event:{event.id}:operator")
        elif event.from_status is None and order.resident_id is None \
                and await db.people.resident_by_phone(session, order.phone) is None:
            await self.messages.operator_alert(
                session, "unknown_caller", order=order, key=f"order:{order.id}:unknown-caller")

    async def unknown_caller(self, session: AsyncSession, phone: str, channel: str,
                             text: str = "") -> bool:
        """At most one alert per number and channel a day; False if none was queued."""
        day = utcnow().date().isoformat()
        return await self.messages.operator_alert(
            session, "unknown_caller", phone=phone, channel=channel, text=text,
            key=f"unknown-caller:{channel}:{phone}:{day}")
