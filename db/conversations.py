"""Conversations and the queries the SMS adapter needs: lock a number's row, count recent texts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation, InboundMessage, Order, utcnow

# The SMS statements of the session path, built once and run as Core on the session's
# connection: an ORM statement costs more than the same Core one (statement building, cache
# key, unit of work, identity map; docs/performance.md), and these run several times per text.
# Plain texts run the same statements as SQL text on the bare driver (db.hotpath).
_CONV = cast(Table, Conversation.__table__)
_INBOUND = cast(Table, InboundMessage.__table__)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _ensure_conversation(dialect: str) -> Any:
    ins = pg_insert(_CONV) if dialect == "postgresql" else sqlite_insert(_CONV)
    return ins.values(channel=bindparam("channel"), key=bindparam("key"), state="idle",
                      locale=bindparam("locale"), draft=bindparam("draft", type_=_CONV.c.draft.type),
                      failures=0, updated_at=bindparam("now")) \
        .on_conflict_do_nothing(index_elements=["channel", "key"])


_ANSWERED = select(_INBOUND.c.processed_at, _INBOUND.c.response) \
    .where(_INBOUND.c.id == bindparam("inbound_id"))


def _select_conversation(dialect: str) -> Any:
    """The conversation row, and whether the text being handled was answered meanwhile (by a
    concurrent retry of it, as `answered` tells): one statement instead of two."""
    q = select(_CONV, _ANSWERED.with_only_columns(_INBOUND.c.processed_at).scalar_subquery()
               .label("answered_at"),
               _ANSWERED.with_only_columns(_INBOUND.c.response).scalar_subquery()
               .label("answer")) \
        .where(_CONV.c.channel == bindparam("channel"), _CONV.c.key == bindparam("key"))
    return q.with_for_update(of=_CONV) if dialect == "postgresql" else q


def _store_inbound(dialect: str) -> Any:
    ins = pg_insert(_INBOUND) if dialect == "postgresql" else sqlite_insert(_INBOUND)
    return ins.values(channel=bindparam("channel"), vendor_id=bindparam("vendor_id"),
                      phone=bindparam("phone"), body=bindparam("body"),
                      raw=bindparam("raw", type_=_INBOUND.c.raw.type),
                      received_at=bindparam("now")) \
        .on_conflict_do_nothing(index_elements=["channel", "vendor_id"]) \
        .returning(_INBOUND.c.id)


_STATEMENTS = {d: {"ensure_conversation": _ensure_conversation(d),
                   "select_conversation": _select_conversation(d),
                   "store_inbound": _store_inbound(d)}
               for d in ("sqlite", "postgresql")}
_SAVE_CONVERSATION = _CONV.update().where(_CONV.c.id == bindparam("conv_id")).values(
    state=bindparam("state"), draft=bindparam("draft", type_=_CONV.c.draft.type),
    failures=bindparam("failures"), expires_at=bindparam("expires_at"),
    locale=bindparam("locale"), updated_at=bindparam("now"))
_TOUCH_INBOUND = _INBOUND.update().where(_INBOUND.c.id == bindparam("inbound_id")).values(
    processed_at=bindparam("now"), response=bindparam("response"),
    order_id=bindparam("order_id"))
_INBOUND_BY_VENDOR_ID = select(_INBOUND.c.id, _INBOUND.c.processed_at, _INBOUND.c.response) \
    .where(_INBOUND.c.channel == bindparam("channel"),
           _INBOUND.c.vendor_id == bindparam("vendor_id"))
_RECENT_COUNT = select(func.count(_INBOUND.c.id)).where(
    _INBOUND.c.channel == bindparam("channel"), _INBOUND.c.phone == bindparam("phone"),
    _INBOUND.c.received_at >= bindparam("since"))


def _statement(session: AsyncSession, name: str) -> Any:
    return _STATEMENTS["postgresql" if _dialect(session) == "postgresql" else "sqlite"][name]


async def _ensure_row(session: AsyncSession, channel: str, key: str, locale: str) -> None:
    """Create the conversation row if there is none (the first step of `lock` / `lock_row`)."""
    conn = await session.connection()
    await conn.execute(_statement(session, "ensure_conversation"),
                       {"channel": channel, "key": key, "locale": locale, "draft": {},
                        "now": utcnow()})


async def lock(session: AsyncSession, channel: str, key: str, *, locale: str) -> Conversation:
    """The conversation of (channel, key), created if new, locked for this transaction on
    PostgreSQL (two texts from one number are handled one after the other). The insert comes
    first even when the row exists: on SQLite it takes the write lock before the read, so a
    concurrent writer makes this wait (busy_timeout) instead of failing the transaction later
    with "database is locked" when a read transaction tries to write."""
    await _ensure_row(session, channel, key, locale)
    q = select(Conversation).where(Conversation.channel == channel, Conversation.key == key) \
        .execution_options(populate_existing=True)
    if _dialect(session) == "postgresql":
        q = q.with_for_update()
    return (await session.execute(q)).scalar_one()


@dataclass(frozen=True)
class ConversationRow:
    """A conversation as `lock_row` read it (plain values, no ORM object), and whether the
    inbound message being handled has been answered meanwhile, with that answer."""

    id: int
    state: str
    locale: str
    draft: dict[str, Any]
    failures: int
    expires_at: datetime | None
    answered: bool = False
    answer: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Loaded:
    """A number's conversation as one conversation step reads it, with its resident's facts."""

    row: ConversationRow
    resident_locale: str | None  # None: the number is not a registered resident
    resident_opted_out: bool


async def lock_row(session: AsyncSession, channel: str, key: str, *, locale: str,
                   inbound_id: int | None = None) -> ConversationRow:
    """`lock` as two prebuilt Core statements (the SMS adapter's session path), also telling
    whether the stored message `inbound_id` was answered already (see `answered`); save with
    `save_row`."""
    await _ensure_row(session, channel, key, locale)
    conn = await session.connection()
    r = (await conn.execute(_statement(session, "select_conversation"),
                            {"channel": channel, "key": key, "inbound_id": inbound_id})).one()
    return ConversationRow(id=r.id, state=r.state, locale=r.locale, draft=r.draft or {},
                           failures=r.failures, expires_at=r.expires_at,
                           answered=r.answered_at is not None, answer=r.answer)


async def save_row(session: AsyncSession, conv_id: int, *, state: str, draft: dict[str, Any],
                   failures: int, expires_at: datetime | None, locale: str) -> None:
    conn = await session.connection()
    await conn.execute(_SAVE_CONVERSATION, {
        "conv_id": conv_id, "state": state, "draft": draft, "failures": failures,
        "expires_at": expires_at, "locale": locale, "now": utcnow()})


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
    conn = await session.connection()
    await conn.execute(_TOUCH_INBOUND, {"inbound_id": inbound_id, "now": utcnow(),
                                        "response": response, "order_id": order_id})


@dataclass(frozen=True)
class Stored:
    """What `store_inbound` knows of the stored message: its id, whether this call stored it,
    and, for a message stored before, whether (and how) it was answered."""

    id: int
    new: bool
    processed_at: datetime | None = None
    response: str | None = None
    recent: int | None = None  # texts from this number in the rate window, if it was asked
    prefetched: Loaded | None = None  # the number's conversation, if read in the same statement


async def store_inbound(session: AsyncSession, *, channel: str, vendor_id: str,
                        phone: str | None, body: str, raw: dict[str, Any]) -> Stored:
    """Store a received message once per vendor id. The insert comes first: one statement
    when new, and the write lock is taken before any read, which SQLite needs under concurrent
    writers; only a message seen before is read back."""
    conn = await session.connection()
    new_id = (await conn.execute(_statement(session, "store_inbound"), {
        "channel": channel, "vendor_id": vendor_id, "phone": phone, "body": body, "raw": raw,
        "now": utcnow()})).scalar_one_or_none()
    if new_id is not None:
        return Stored(int(new_id), True)
    old_id, processed_at, response = (await conn.execute(
        _INBOUND_BY_VENDOR_ID, {"channel": channel, "vendor_id": vendor_id})).one()
    return Stored(int(old_id), False, processed_at, response)


async def answered(session: AsyncSession, inbound_id: int) -> tuple[bool, str | None]:
    """Whether a stored message was answered already (by a concurrent retry), and the answer."""
    conn = await session.connection()
    row = (await conn.execute(_ANSWERED, {"inbound_id": inbound_id})).one_or_none()
    if row is None or row[0] is None:
        return False, None
    return True, row[1]
