"""Conversations (where an SMS, call or Telegram dialogue stands) and the order queries the
dialogues ask: lock a row, save it, expired drafts. Imports only db.models (and SQLAlchemy); the
SMS webhook's own statements on a conversation row are in db.sms_store."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation, Order, utcnow

# Built once and run as Core on the session's connection (cheaper than ORM statements).
_CONV = cast(Table, Conversation.__table__)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _ensure_conversation(dialect: str) -> Any:
    ins = pg_insert(_CONV) if dialect == "postgresql" else sqlite_insert(_CONV)
    return ins.values(channel=bindparam("channel"), key=bindparam("key"), state="idle",
                      locale=bindparam("locale"), draft=bindparam("draft", type_=_CONV.c.draft.type),
                      failures=0, updated_at=bindparam("now")) \
        .on_conflict_do_nothing(index_elements=["channel", "key"])


_ENSURE = {d: _ensure_conversation(d) for d in ("sqlite", "postgresql")}


def dialect(session: AsyncSession) -> str:
    """"postgresql" or "sqlite": the statements that differ are built for these two."""
    return "postgresql" if _dialect(session) == "postgresql" else "sqlite"


async def ensure_row(session: AsyncSession, channel: str, key: str, locale: str) -> None:
    """Create the conversation row if there is none (the first step of `lock`)."""
    conn = await session.connection()
    await conn.execute(_ENSURE[dialect(session)],
                       {"channel": channel, "key": key, "locale": locale, "draft": {},
                        "now": utcnow()})


async def lock(session: AsyncSession, channel: str, key: str, *, locale: str) -> Conversation:
    """The conversation of (channel, key), created if new, locked for this transaction on
    PostgreSQL (two texts from one number are handled one after the other). The insert comes
    first even when the row exists: on SQLite it takes the write lock before the read, so a
    concurrent writer makes this wait (busy_timeout) instead of failing the transaction later
    with "database is locked" when a read transaction tries to write."""
    await ensure_row(session, channel, key, locale)
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
