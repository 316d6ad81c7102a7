"""Per-update plumbing: store the update once (dedupe by update_id), open a database session,
find the leader behind it, and give handlers a `reply` that queues through the outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

import db.inbound
import db.people
from db.models import Leader
from gateway.services import Services
from gateway.channels.telegram.messages import TelegramMessages
from gateway.channels.telegram.storage import CURRENT_SESSION


class Reply:
    """Queues answers to one update; keys derive from update_id, so a replay sends nothing new."""

    def __init__(self, messages: TelegramMessages, session: Any, chat_id: int | None,
                 locale: str, update_id: int) -> None:
        self.messages, self.session, self.chat_id = messages, session, chat_id
        self.locale, self.update_id, self._n = locale, update_id, 0

    async def __call__(self, name: str, **ctx: Any) -> None:
        await self.text(self.messages.text(self.locale, name, **ctx))

    async def text(self, text: str) -> None:
        if self.chat_id is None:
            return
        self._n += 1
        await self.messages.queue(self.session, self.chat_id, text,
                                  key=f"tg:update:{self.update_id}:{self._n}")


def _summary(update: Update) -> str:
    msg = update.message
    if msg is not None:
        return msg.text or ("<location>" if msg.location else "")
    if update.callback_query is not None:
        return update.callback_query.data or ""
    return ""


class UpdateMiddleware(BaseMiddleware):
    """Outer middleware on updates: dedupe, session (one transaction per update), leader."""

    def __init__(self, services: Services, messages: TelegramMessages) -> None:
        self.services = services
        self.messages = messages

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        chat = data.get("event_chat")
        # The update is stored in its own short transaction: handlers may commit work of their
        # own (a button press) while the handler's session is open, and SQLite has one writer.
        async with self.services.db.session() as s:
            stored = await db.inbound.store(
                s, channel="telegram", vendor_id=str(event.update_id), phone=None,
                body=_summary(event)[:500],
                raw=event.model_dump(mode="json", exclude_none=True))
        if not stored.new:
            return None  # Telegram (or a proxy) sent it again: handled already
        async with self.services.db.session() as s:
            leader: Leader | None = None
            if user is not None:
                leader = await db.people.leader_by_telegram(s, user.id)
            locale = leader.locale if leader else self.services.settings.default_locale
            data.update(session=s, leader=leader, services=self.services,
                        messages=self.messages, locale=locale,
                        dispatch=self.services.dispatcher,
                        reply=Reply(self.messages, s, chat.id if chat else None, locale,
                                    event.update_id))
            token = CURRENT_SESSION.set(s)  # the dialogue state is written in this session
            try:
                result = await handler(event, data)
            finally:
                CURRENT_SESSION.reset(token)
        self.services.outbox.wake()
        return result
