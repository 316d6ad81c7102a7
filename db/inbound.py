"""Inbound messages, stored once before anything else happens: every SMS, call webhook and
Telegram update goes through `store`, unique on (channel, vendor id), so a retry is recognised
and changes nothing. Also the answer recorded on a stored message, and the queries on them.

Imports only db.models (and SQLAlchemy). The SMS webhook's bare-driver statements that do the
same on plain texts live in db.sms_store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import InboundMessage, utcnow

# Built once and run as Core on the session's connection: an ORM statement costs noticeably
# more than the same Core one (statement building, cache key, unit of work, identity map).
_INBOUND = cast(Table, InboundMessage.__table__)


def _insert(dialect: str) -> Any:
    ins = pg_insert(_INBOUND) if dialect == "postgresql" else sqlite_insert(_INBOUND)
    return ins.values(channel=bindparam("channel"), vendor_id=bindparam("vendor_id"),
                      phone=bindparam("phone"), body=bindparam("body"),
                      raw=bindparam("raw", type_=_INBOUND.c.raw.type),
                      received_at=bindparam("now")) \
        .on_conflict_do_nothing(index_elements=["channel", "vendor_id"]) \
        .returning(_INBOUND.c.id)


_STORE = {d: _insert(d) for d in ("sqlite", "postgresql")}
_BY_VENDOR_ID = select(_INBOUND.c.id, _INBOUND.c.processed_at, _INBOUND.c.response) \
    .where(_INBOUND.c.channel == bindparam("channel"),
           _INBOUND.c.vendor_id == bindparam("vendor_id"))
ANSWERED = select(_INBOUND.c.processed_at, _INBOUND.c.response) \
    .where(_INBOUND.c.id == bindparam("inbound_id"))
_ANSWER = _INBOUND.update().where(_INBOUND.c.id == bindparam("inbound_id")).values(
    processed_at=bindparam("now"), response=bindparam("response"),
    order_id=bindparam("order_id"))
_RECENT_COUNT = select(func.count(_INBOUND.c.id)).where(
    _INBOUND.c.channel == bindparam("channel"), _INBOUND.c.phone == bindparam("phone"),
    _INBOUND.c.received_at >= bindparam("since"))


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    return "postgresql" if bind is not None and bind.dialect.name == "postgresql" else "sqlite"


@dataclass(frozen=True)
class Stored:
    """What `store` knows of the stored message: its id, whether this call stored it, and, for
    a message stored before, whether (and how) it was answered."""

    id: int
    new: bool
    processed_at: datetime | None = None
    response: str | None = None


async def store(session: AsyncSession, *, channel: str, vendor_id: str, phone: str | None,
                body: str, raw: dict[str, Any]) -> Stored:
    """Store a received message once per (channel, vendor id). The insert comes first: one
    statement when new, and the write lock is taken before any read, which SQLite needs under
    concurrent writers; only a message seen before is read back, and left as it was."""
    conn = await session.connection()
    new_id = (await conn.execute(_STORE[_dialect(session)], {
        "channel": channel, "vendor_id": vendor_id, "phone": phone, "body": body, "raw": raw,
        "now": utcnow()})).scalar_one_or_none()
    if new_id is not None:
        return Stored(int(new_id), True)
    old_id, processed_at, response = (await conn.execute(
        _BY_VENDOR_ID, {"channel": channel, "vendor_id": vendor_id})).one()
    return Stored(int(old_id), False, processed_at, response)


async def answer(session: AsyncSession, inbound_id: int, *, response: str | None,
                 order_id: int | None) -> None:
    """Record the answer to a stored message (it is processed from now on)."""
    conn = await session.connection()
    await conn.execute(_ANSWER, {"inbound_id": inbound_id, "now": utcnow(),
                                 "response": response, "order_id": order_id})


async def answered(session: AsyncSession, inbound_id: int) -> tuple[bool, str | None]:
    """Whether a stored message was answered already (by a concurrent retry), and the answer."""
    conn = await session.connection()
    row = (await conn.execute(ANSWERED, {"inbound_id": inbound_id})).one_or_none()
    if row is None or row[0] is None:
        return False, None
    return True, row[1]


async def recent_count(session: AsyncSession, channel: str, phone: str,
                       window: timedelta, now: datetime | None = None) -> int:
    """Messages received from `phone` on `channel` within `window` (this one included)."""
    since = (now or utcnow()) - window
    conn = await session.connection()
    return int((await conn.execute(_RECENT_COUNT, {"channel": channel, "phone": phone,
                                                    "since": since})).scalar_one())


async def unprocessed(session: AsyncSession, channel: str, older_than: datetime,
                      limit: int = 50) -> Sequence[InboundMessage]:
    """Stored messages that were never answered (the process died between storing and
    answering); oldest first."""
    return (await session.execute(
        select(InboundMessage).where(InboundMessage.channel == channel,
                                     InboundMessage.processed_at.is_(None),
                                     InboundMessage.received_at <= older_than)
        .order_by(InboundMessage.id).limit(limit))).scalars().all()
