"""Conversations and the queries the SMS adapter needs: lock a number's row, count recent texts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation, InboundMessage, Order, utcnow


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def lock(session: AsyncSession, channel: str, key: str, *, locale: str) -> Conversation:
    """The conversation of (channel, key), created if new, locked for this transaction on
    PostgreSQL (two texts from one number are handled one after the other). The insert comes
    first even when the row exists: on SQLite it takes the write lock before the read, so a
    concurrent writer makes this wait (busy_timeout) instead of failing the transaction later
    with "database is locked" when a read transaction tries to write."""
    ins = pg_insert(Conversation) if _dialect(session) == "postgresql" else \
        sqlite_insert(Conversation)
    await session.execute(ins.values(channel=channel, key=key, state="idle", locale=locale,
                                      draft={}, failures=0, updated_at=utcnow())
                          .on_conflict_do_nothing(index_elements=["channel", "key"]))
    q = select(Conversation).where(Conversation.channel == channel, Conversation.key == key) \
        .execution_options(populate_existing=True)
    if _dialect(session) == "postgresql":
        q = q.with_for_update()
    return (await session.execute(q)).scalar_one()


def save(conv: Conversation, *, state: str, draft: dict[str, Any], failures: int,
         expires_at: datetime | None, locale: str | None = None) -> None:
    conv.state = state
    conv.draft = draft
    conv.failures = failures
    conv.expires_at = expires_at
    conv.updated_at = utcnow()
    if locale:
        conv.locale = locale


async def expired_drafts(session: AsyncSession, channel: str, now: datetime,
                         limit: int = 100) -> Sequence[Conversation]:
    """Drafts whose time ran out, locked (skipping rows another worker holds on PostgreSQL)."""
    q = select(Conversation).where(Conversation.channel == channel, Conversation.state == "draft",
                                   Conversation.expires_at <= now) \
        .order_by(Conversation.expires_at).limit(limit)
    if _dialect(session) == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return (await session.execute(q)).scalars().all()


async def recent_count(session: AsyncSession, channel: str, phone: str,
                       window: timedelta, now: datetime | None = None) -> int:
    """Messages received from `phone` on `channel` within `window` (this one included)."""
    since = (now or utcnow()) - window
    return int((await session.execute(
        select(func.count(InboundMessage.id)).where(
            InboundMessage.channel == channel, InboundMessage.phone == phone,
            InboundMessage.received_at >= since))).scalar_one())


async def unprocessed(session: AsyncSession, channel: str, older_than: datetime,
                      limit: int = 50) -> Sequence[InboundMessage]:
    """Stored messages that were never answered (the process died between storing and
    answering); oldest first."""
    return (await session.execute(
        select(InboundMessage).where(InboundMessage.channel == channel,
                                     InboundMessage.processed_at.is_(None),
                                     InboundMessage.received_at <= older_than)
        .order_by(InboundMessage.id).limit(limit))).scalars().all()


async def open_review_order(session: AsyncSession, phone: str, channel: str,
                            since: datetime) -> Order | None:
    """This number's newest order still waiting for an operator, if created after `since`."""
    q = select(Order).where(Order.phone == phone, Order.channel == channel,
                            Order.status == "needs_review", Order.created_at >= since) \
        .order_by(Order.id.desc()).limit(1)
    if _dialect(session) == "postgresql":
        q = q.with_for_update()
    return (await session.execute(q)).scalar_one_or_none()


async def last_order_with_items(session: AsyncSession, phone: str) -> Order | None:
    """The newest order of this number that a resident could order again."""
    return (await session.execute(
        select(Order).where(Order.phone == phone,
                            Order.status.notin_(("draft", "needs_review")))
        .order_by(Order.created_at.desc(), Order.id.desc()).limit(1))).scalar_one_or_none()


async def touch_inbound(session: AsyncSession, inbound_id: int, *, response: str | None,
                        order_id: int | None) -> None:
    await session.execute(update(InboundMessage).where(InboundMessage.id == inbound_id)
                          .values(processed_at=utcnow(), response=response, order_id=order_id))


@dataclass(frozen=True)
class Stored:
    """What `store_inbound` knows of the stored message: its id, whether this call stored it,
    and, for a message stored before, whether (and how) it was answered."""

    id: int
    new: bool
    processed_at: datetime | None = None
    response: str | None = None


async def store_inbound(session: AsyncSession, *, channel: str, vendor_id: str,
                        phone: str | None, body: str, raw: dict[str, Any]) -> Stored:
    """Store a received message once per vendor id. The insert comes first: one statement
    when new, and the write lock is taken before any read, which SQLite needs under concurrent
    writers; only a message seen before is read back."""
    ins = pg_insert(InboundMessage) if _dialect(session) == "postgresql" else \
        sqlite_insert(InboundMessage)
    new_id = (await session.execute(
        ins.values(channel=channel, vendor_id=vendor_id, phone=phone, body=body, raw=raw,
                   received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel", "vendor_id"])
        .returning(InboundMessage.id))).scalar_one_or_none()
    if new_id is not None:
        return Stored(int(new_id), True)
    old_id, processed_at, response = (await session.execute(
        select(InboundMessage.id, InboundMessage.processed_at, InboundMessage.response)
        .where(InboundMessage.channel == channel, InboundMessage.vendor_id == vendor_id))).one()
    return Stored(int(old_id), False, processed_at, response)


async def answered(session: AsyncSession, inbound_id: int) -> tuple[bool, str | None]:
    """Whether a stored message was answered already (by a concurrent retry), and the answer."""
    row = (await session.execute(
        select(InboundMessage.processed_at, InboundMessage.response)
        .where(InboundMessage.id == inbound_id))).one_or_none()
    if row is None or row[0] is None:
        return False, None
    return True, row[1]
