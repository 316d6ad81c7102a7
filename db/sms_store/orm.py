"""The SMS store on an AsyncSession: the intake and the step for every text a bare driver
cannot take (orders, opt-outs, unknown senders...), and for all of them when the bare driver is
off. Its statements are prebuilt Core run on the session's connection.

Imports only db (models, inbound, conversations, people, outbox).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

import db.inbound
import db.outbox
import db.people
from db.conversations import dialect, ensure_row
from db.models import Conversation, InboundMessage, utcnow
from db.sms_store import ConversationRow, Loaded, Stored

_CONV = cast(Table, Conversation.__table__)
_INBOUND = cast(Table, InboundMessage.__table__)


def _select_conversation(dialect: str) -> Any:
    """The conversation row, and whether the text being handled was answered meanwhile (by a
    concurrent retry of it): one statement instead of two."""
    answered = db.inbound.ANSWERED
    q = select(_CONV, answered.with_only_columns(_INBOUND.c.processed_at).scalar_subquery()
               .label("answered_at"),
               answered.with_only_columns(_INBOUND.c.response).scalar_subquery()
               .label("answer")) \
        .where(_CONV.c.channel == bindparam("channel"), _CONV.c.key == bindparam("key"))
    return q.with_for_update(of=_CONV) if dialect == "postgresql" else q


_SELECT = {d: _select_conversation(d) for d in ("sqlite", "postgresql")}
_SAVE = _CONV.update().where(_CONV.c.id == bindparam("conv_id")).values(
    state=bindparam("state"), draft=bindparam("draft", type_=_CONV.c.draft.type),
    failures=bindparam("failures"), expires_at=bindparam("expires_at"),
    locale=bindparam("locale"), updated_at=bindparam("now"))


async def lock_row(session: AsyncSession, channel: str, key: str, *, locale: str,
                   inbound_id: int | None = None) -> ConversationRow:
    """`db.conversations.lock` as plain values, also telling whether the stored message
    `inbound_id` was answered already; save with `save_row`."""
    await ensure_row(session, channel, key, locale)
    conn = await session.connection()
    r = (await conn.execute(_SELECT[dialect(session)],
                            {"channel": channel, "key": key, "inbound_id": inbound_id})).one()
    return ConversationRow(id=r.id, state=r.state, locale=r.locale, draft=r.draft or {},
                           failures=r.failures, expires_at=r.expires_at,
                           answered=r.answered_at is not None, answer=r.answer)


async def save_row(session: AsyncSession, conv_id: int, *, state: str, draft: dict[str, Any],
                   failures: int, expires_at: datetime | None, locale: str) -> None:
    conn = await session.connection()
    await conn.execute(_SAVE, {
        "conv_id": conv_id, "state": state, "draft": draft, "failures": failures,
        "expires_at": expires_at, "locale": locale, "now": utcnow()})


class OrmIntake:
    """The intake's statements on an ORM session (one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def store(self, *, channel: str, vendor_id: str, phone: str | None, body: str,
                    raw: dict[str, Any], rate_window: timedelta | None = None) -> Stored:
        stored = await db.inbound.store(self.s, channel=channel, vendor_id=vendor_id,
                                        phone=phone, body=body, raw=raw)
        recent = None
        if stored.new and rate_window is not None and phone is not None:
            recent = await db.inbound.recent_count(self.s, channel, phone, rate_window)
        return Stored(stored.id, stored.new, stored.processed_at, stored.response,
                      recent=recent)

    async def resident_locale(self, phone: str) -> str | None:
        resident = await db.people.resident_by_phone(self.s, phone)
        return resident.locale if resident is not None else None

    async def answer(self, inbound_id: int, *, response: str | None,
                     order_id: int | None) -> None:
        await db.inbound.answer(self.s, inbound_id, response=response, order_id=order_id)


class OrmStep:
    """One conversation step on an ORM session: everything a text can ask for."""

    bare = False

    def __init__(self, session: AsyncSession, channel: str,
                 normalize: Callable[[str], str]) -> None:
        self.s, self.channel, self.normalize = session, channel, normalize
        self._resident: Any = None

    async def load(self, phone: str, inbound_id: int, guessed: str) -> Loaded:
        self._resident = r = await db.people.resident_by_phone(self.s, phone)
        row = await lock_row(self.s, self.channel, phone,
                             locale=self.normalize(r.locale) if r is not None else guessed,
                             inbound_id=inbound_id)
        return Loaded(row, r.locale if r is not None else None,
                      bool(r.opted_out) if r is not None else False)

    def session(self, why: str = "orders") -> AsyncSession:
        return self.s

    def resident(self) -> Any:
        return self._resident

    def set_opted_out(self, value: bool) -> None:
        self._resident.opted_out = value

    async def finish(self, row: ConversationRow, *, inbound_id: int, response: str,
                     order_id: int | None, **state: Any) -> None:
        await save_row(self.s, row.id, **state)
        await db.inbound.answer(self.s, inbound_id, response=response, order_id=order_id)

    def queued(self) -> bool:
        return db.outbox.queued_in(self.s)
