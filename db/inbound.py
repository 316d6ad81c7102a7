"""Inbound messages: store first, unique on the vendor's id, so retries are recognised."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import InboundMessage, utcnow


async def record(session: AsyncSession, *, channel: str, vendor_id: str, phone: str | None,
                 body: str, raw: dict[str, Any]) -> tuple[InboundMessage, bool]:
    """Store a received message; returns (row, True) if new, (existing row, False) for a retry."""
    existing = await get(session, channel, vendor_id)
    if existing is not None:
        return existing, False
    msg = InboundMessage(channel=channel, vendor_id=vendor_id, phone=phone, body=body, raw=raw)
    try:
        async with session.begin_nested():
            session.add(msg)
            await session.flush()
    except IntegrityError:
        existing = await get(session, channel, vendor_id)
        if existing is None:
            raise
        return existing, False
    return msg, True


async def get(session: AsyncSession, channel: str, vendor_id: str) -> InboundMessage | None:
    return (await session.execute(select(InboundMessage).where(
        InboundMessage.channel == channel, InboundMessage.vendor_id == vendor_id))).scalar_one_or_none()


def mark_processed(msg: InboundMessage, response: str | None, order_id: int | None = None,
                   at: datetime | None = None) -> None:
    msg.processed_at = at or utcnow()
    msg.response = response
    if order_id is not None:
        msg.order_id = order_id
