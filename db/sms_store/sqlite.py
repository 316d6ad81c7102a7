"""The SMS store's bare driver on SQLite: one sqlite3 connection of its own, on the event loop
thread, no ORM session and no greenlet (an AsyncSession costs several times the driver's own
work per statement). The text is committed first, on its own, as on the ORM path; the step
that follows is one BEGIN IMMEDIATE transaction (one writer anyway). A statement that finds the
database locked by another connection is retried on a worker thread that waits for the lock
(db.sqlite_inloop).

Imports only db (models, sqlite_inloop, sms_store).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator

from db import sqlite_inloop
from db.models import utcnow
from db.sms_store import ConversationRow, Driver, DriverTransaction, Loaded, Stored, sql


def _sqlite_dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


def _sqlite_parse_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


class SqliteDriver(Driver):
    """One sqlite3 connection of its own, used on the event loop thread one caller at a time.
    Busy timeout 0 there; a statement that finds the database locked by another connection
    is retried on a worker thread that waits for the lock (see db.sqlite_inloop)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                                   check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                           "busy_timeout=0"):
                conn.execute(f"PRAGMA {pragma}")
            self._conn = conn
        return self._conn

    async def _all(self, statement: str, *args: Any) -> list[Any]:
        conn = self._connection()
        return await sqlite_inloop.call_async(
            conn, lambda: conn.execute(sql.sqlite_sql(statement), args).fetchall())

    async def _one(self, statement: str, *args: Any) -> Any:
        rows = await self._all(statement, *args)
        return rows[0] if rows else None

    async def store(self, *, channel: str, vendor_id: str, phone: str | None, body: str,
                    raw: dict[str, Any], rate_window: timedelta | None = None) -> Stored:
        async with self._lock:
            now = utcnow()
            new = await self._one(sql.STORE, channel, vendor_id, phone, body, json.dumps(raw),
                                  _sqlite_dt(now))
            if new is not None:
                recent = None
                if rate_window is not None:
                    recent = int((await self._one(sql.RECENT, channel, phone,
                                                  _sqlite_dt(now - rate_window)))[0])
                return Stored(int(new[0]), True, recent=recent)
            old = await self._one(sql.STORED, channel, vendor_id)
        return Stored(int(old[0]), False, _sqlite_parse_dt(old[1]), old[2])

    async def resident_locale(self, phone: str) -> str | None:
        async with self._lock:
            r = await self._one(sql.RESIDENT_LOCALE, phone)
        return r[0] if r is not None else None

    async def answer(self, inbound_id: int, *, response: str | None,
                     order_id: int | None) -> None:
        async with self._lock:
            await self._all(sql.ANSWER, inbound_id, _sqlite_dt(utcnow()), response, order_id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DriverTransaction]:
        async with self._lock:
            # IMMEDIATE: the write lock first, so no later statement finds the database locked
            await self._all("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self)
                await self._all("COMMIT")
            except BaseException:
                conn = self._connection()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _SqliteTransaction(DriverTransaction):
    def __init__(self, driver: SqliteDriver) -> None:
        self.driver = driver

    async def load(self, channel: str, key: str, *, locale: str, inbound_id: int) -> Loaded:
        now = _sqlite_dt(utcnow())
        r = await self.driver._one(sql.LOAD_SQLITE, channel, key, locale, sql.EMPTY_DRAFT,
                                   now, inbound_id)
        return sql.loaded(r, json.loads, _sqlite_parse_dt)

    async def finish(self, row: ConversationRow, *, state: str, draft: dict[str, Any],
                     failures: int, expires_at: datetime | None, locale: str, inbound_id: int,
                     response: str) -> None:
        now = _sqlite_dt(utcnow())  # the row is locked since load: no conflict possible
        await self.driver._all(sql.SAVE, row.id, state, json.dumps(draft), failures,
                               _sqlite_dt(expires_at), locale, now)
        await self.driver._all(sql.ANSWER, inbound_id, now, response, None)
