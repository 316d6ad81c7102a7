"""aiogram's FSM storage in the database, so a leader's half-finished dialogue (/newresident)
survives a restart. One `conversations` row per chat and user, channel "telegram".

Inside an update's handler the storage writes in the update's own session (`CURRENT_SESSION`,
set by the update middleware): the state change commits with the handler's other work, and on
SQLite a second connection would wait for the write lock that session holds."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import db.conversations
from db.models import Conversation, utcnow
from db.session import Database

CHANNEL = "telegram"
IDLE = "idle"  # the column's value for "no state"
CURRENT_SESSION: ContextVar[AsyncSession | None] = ContextVar("telegram_update_session",
                                                              default=None)


def row_key(key: StorageKey) -> str:
    """A short stable key for the row (the column holds 64 characters)."""
    text = ":".join(str(p) for p in (key.bot_id, key.chat_id, key.user_id, key.thread_id,
                                     key.business_connection_id, key.destiny))
    if len(text) <= 64:
        return text
    return "h:" + hashlib.sha256(text.encode()).hexdigest()[:62]


class DatabaseStorage(BaseStorage):
    """State and data of each chat's dialogue: written in the update's session inside a
    handler (`CURRENT_SESSION`), in a transaction of their own outside one."""

    def __init__(self, database: Database) -> None:
        self.db = database

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        current = CURRENT_SESSION.get()
        if current is not None:
            yield current
            return
        async with self.db.session() as s:
            yield s

    async def _row(self, key: StorageKey) -> Conversation | None:
        async with self._session() as s:
            return (await s.execute(select(Conversation).where(
                Conversation.channel == CHANNEL, Conversation.key == row_key(key)))
            ).scalar_one_or_none()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self._session() as s:
            row = await db.conversations.lock(s, CHANNEL, row_key(key), locale="zh-CN")
            row.state = value or IDLE
            row.updated_at = utcnow()

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._row(key)
        return None if row is None or row.state == IDLE else row.state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self._session() as s:
            row = await db.conversations.lock(s, CHANNEL, row_key(key), locale="zh-CN")
            row.draft = dict(data)
            row.updated_at = utcnow()

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._row(key)
        return dict(row.draft or {}) if row is not None else {}

    async def close(self) -> None:
        """Nothing to close: the database belongs to the gateway."""
