"""The SMS webhook's statements on a bare driver connection: no ORM session, no greenlet.

Most texts a resident sends are plain order texts: store the text, read the number's
conversation, save the new draft, record the answer. Through an AsyncSession each of those
statements costs ~0.15 ms of Python (session and transaction objects, a greenlet switch per
call, execution context, result processing), about four times what the driver itself spends;
on PostgreSQL the pool's pre-ping adds a round trip per transaction as well. This module runs
the same statements on the driver directly (sqlite3 on the event loop thread, asyncpg
connections of its own), written once with `$n` placeholders (SQLite reads them as `?n`).

The text is committed first, on its own, as on the ORM path. The step of the conversation that
follows is a transaction on SQLite (BEGIN IMMEDIATE: one writer anyway). On PostgreSQL the
statement that stores the text also reads the conversation, and the step ends with one
conditional write (see _SAVE_AND_TOUCH_PG): two round trips per text instead of about ten.

It covers only what a plain text needs; orders, opt-outs and the rest stay on the ORM path,
which the caller falls back to whenever this one raises `Disconnected` (a PostgreSQL connection
lost: the ORM pool pings and reconnects), `Conflict`, or a reason of its own.

Values are stored exactly as SQLAlchemy stores them (JSON via `json.dumps`; on SQLite, UTC
datetimes as "YYYY-MM-DD HH:MM:SS.ffffff"), so either path reads what the other wrote.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from abc import ABC, abstractmethod
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator

from sqlalchemy.engine import make_url

from db import sqlite_inloop
from db.conversations import ConversationRow, Loaded, Stored
from db.models import utcnow

class Conflict(Exception):
    """The conversation changed between reading and saving it (another process): nothing was
    saved; the caller does the step again on the ORM path."""


class Disconnected(Exception):
    """The driver connection is gone (server restarted, network, pool exhausted): the caller
    should do the same work on the ORM path, which reconnects."""


_STORE = """
INSERT INTO inbound_messages (channel, vendor_id, phone, body, raw, received_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (channel, vendor_id) DO NOTHING RETURNING id"""
_STORED = "SELECT id, processed_at, response FROM inbound_messages " \
          "WHERE channel = $1 AND vendor_id = $2"
_RECENT = "SELECT count(id) FROM inbound_messages " \
          "WHERE channel = $1 AND phone = $2 AND received_at >= $3"
_RESIDENT_LOCALE = "SELECT locale FROM residents WHERE phone = $1"
_TOUCH = "UPDATE inbound_messages SET processed_at = $2, response = $3, order_id = $4 " \
         "WHERE id = $1"


def _answered_and_resident(inbound: str, phone: str) -> str:
    return f"""
    (SELECT processed_at FROM inbound_messages WHERE id = {inbound}),
    (SELECT response FROM inbound_messages WHERE id = {inbound}),
    (SELECT locale FROM residents WHERE phone = {phone}),
    (SELECT opted_out FROM residents WHERE phone = {phone})"""


# SQLite, in a BEGIN IMMEDIATE transaction: the conversation, created if new, in one statement;
# the subqueries tell whether the text was answered meanwhile and who the sender is.
_LOAD_SQLITE = f"""
INSERT INTO conversations (channel, "key", state, locale, draft, failures, updated_at)
VALUES ($1, $2, 'idle', $3, $4, 0, $5)
ON CONFLICT (channel, "key") DO UPDATE SET "key" = excluded."key"
RETURNING id, state, locale, draft, failures, expires_at, {_answered_and_resident("$6", "$2")},
    updated_at"""
_SAVE = "UPDATE conversations SET state = $2, draft = $3, failures = $4, expires_at = $5, " \
        "locale = $6, updated_at = $7 WHERE id = $1"
# PostgreSQL, without a transaction around the step (a BEGIN and a COMMIT are two round trips
# and half the server's work per text): read the row, then save it only if nobody changed it
# since (its updated_at), together with the answer, in one statement. Texts of one number are
# taken one at a time in a process; a change by another process (or the sweeper) makes the
# save touch nothing, and the caller does the step again on the ORM path, which locks the row.
_LOAD_PG = f"""
SELECT id, state, locale, draft, failures, expires_at, {_answered_and_resident("$3", "$2")},
    updated_at
FROM conversations WHERE channel = $1 AND "key" = $2"""
_CREATE_PG = """
INSERT INTO conversations (channel, "key", state, locale, draft, failures, updated_at)
VALUES ($1, $2, 'idle', $3, $4, 0, $5) ON CONFLICT (channel, "key") DO NOTHING"""
_SAVE_AND_TOUCH_PG = """
WITH saved AS (
    UPDATE conversations SET state = $2, draft = $3, failures = $4, expires_at = $5,
        locale = $6, updated_at = $7
    WHERE id = $1 AND updated_at = $10 RETURNING id)
UPDATE inbound_messages SET processed_at = $7, response = $8, order_id = NULL
WHERE id = $9 AND EXISTS (SELECT 1 FROM saved) RETURNING id"""
_COUNTED = """,
    1 + (SELECT count(id) FROM inbound_messages
         WHERE channel = $1 AND phone = $3 AND received_at >= $7)"""
# The text stored and, in the same statement, the number's conversation read for the step that
# follows (its save checks that nobody changed it since) and, if asked, the number's recent
# texts (the new row is not visible to the rest of its own statement, hence the 1 +).
_STORE_AND_READ_PG = {counted: f"""
WITH stored AS ({_STORE})
SELECT stored.id, c.id, c.state, c.locale, c.draft, c.failures, c.expires_at, NULL, NULL,
    (SELECT locale FROM residents WHERE phone = $3),
    (SELECT opted_out FROM residents WHERE phone = $3),
    c.updated_at{_COUNTED if counted else ""}
FROM stored LEFT JOIN conversations c ON c.channel = $1 AND c."key" = $3"""
                      for counted in (False, True)}
_EMPTY_DRAFT = json.dumps({})


def _sqlite_sql(sql: str) -> str:
    return sql.replace("$", "?")  # ?NNN: SQLite's numbered parameters


def _row(r: Any, decode: Any, parse_dt: Any) -> Loaded:
    draft = decode(r[3]) if r[3] is not None else {}
    row = ConversationRow(id=int(r[0]), state=r[1], locale=r[2],
                          draft=draft if isinstance(draft, dict) else {},
                          failures=int(r[4] or 0), expires_at=parse_dt(r[5]),
                          answered=r[6] is not None, answer=r[7], updated_at=parse_dt(r[10]))
    return Loaded(row, r[8], bool(r[9]) if r[9] is not None else False)


class HotTransaction(ABC):
    """One conversation step of one number, in a transaction holding its row."""

    @abstractmethod
    async def load(self, channel: str, key: str, *, locale: str, inbound_id: int) -> Loaded: ...

    @abstractmethod
    async def finish(self, row: ConversationRow, *, state: str, draft: dict[str, Any],
                     failures: int, expires_at: datetime | None, locale: str, inbound_id: int,
                     response: str) -> None:
        """Save the conversation and record the answer to the text; Conflict if the row
        changed since `load` read it."""


class HotPath(ABC):
    """The plain-text statements of the SMS webhook on one database."""

    @abstractmethod
    async def store_inbound(self, *, channel: str, vendor_id: str, phone: str | None, body: str,
                            raw: dict[str, Any], rate_window: timedelta | None = None) -> Stored:
        """As `db.conversations.store_inbound`, committed at once, with `recent` counted for
        a new text when `rate_window` is given; where the backend reads it in the same
        statement, the number's conversation comes back too (`prefetched`)."""

    @abstractmethod
    async def resident_locale(self, phone: str) -> str | None: ...

    @abstractmethod
    async def touch_inbound(self, inbound_id: int, *, response: str | None,
                            order_id: int | None) -> None: ...

    @abstractmethod
    def transaction(self) -> Any:
        """`async with hot.transaction() as tx:` commits on success, rolls back on error."""

    @abstractmethod
    async def close(self) -> None: ...


# --- SQLite --------------------------------------------------------------------------------------

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


class SqliteHotPath(HotPath):
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

    async def _all(self, sql: str, *args: Any) -> list[Any]:
        conn = self._connection()
        return await sqlite_inloop.call_async(
            conn, lambda: conn.execute(_sqlite_sql(sql), args).fetchall())

    async def _one(self, sql: str, *args: Any) -> Any:
        rows = await self._all(sql, *args)
        return rows[0] if rows else None

    async def store_inbound(self, *, channel: str, vendor_id: str, phone: str | None, body: str,
                            raw: dict[str, Any], rate_window: timedelta | None = None) -> Stored:
        async with self._lock:
            now = utcnow()
            new = await self._one(_STORE, channel, vendor_id, phone, body, json.dumps(raw),
                                  _sqlite_dt(now))
            if new is not None:
                recent = None
                if rate_window is not None:
                    recent = int((await self._one(_RECENT, channel, phone,
                                                  _sqlite_dt(now - rate_window)))[0])
                return Stored(int(new[0]), True, recent=recent)
            old = await self._one(_STORED, channel, vendor_id)
        return Stored(int(old[0]), False, _sqlite_parse_dt(old[1]), old[2])

    async def resident_locale(self, phone: str) -> str | None:
        async with self._lock:
            r = await self._one(_RESIDENT_LOCALE, phone)
        return r[0] if r is not None else None

    async def touch_inbound(self, inbound_id: int, *, response: str | None,
                            order_id: int | None) -> None:
        async with self._lock:
            await self._all(_TOUCH, inbound_id, _sqlite_dt(utcnow()), response, order_id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[HotTransaction]:
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


class _SqliteTransaction(HotTransaction):
    def __init__(self, hot: SqliteHotPath) -> None:
        self.hot = hot

    async def load(self, channel: str, key: str, *, locale: str, inbound_id: int) -> Loaded:
        now = _sqlite_dt(utcnow())
        r = await self.hot._one(_LOAD_SQLITE, channel, key, locale, _EMPTY_DRAFT, now,
                                inbound_id)
        return _row(r, json.loads, _sqlite_parse_dt)

    async def finish(self, row: ConversationRow, *, state: str, draft: dict[str, Any],
                     failures: int, expires_at: datetime | None, locale: str, inbound_id: int,
                     response: str) -> None:
        now = _sqlite_dt(utcnow())  # the row is locked since load: no conflict possible
        await self.hot._all(_SAVE, row.id, state, json.dumps(draft), failures,
                            _sqlite_dt(expires_at), locale, now)
        await self.hot._all(_TOUCH, inbound_id, now, response, None)


# --- PostgreSQL ----------------------------------------------------------------------------------

def _is_disconnect(exc: BaseException) -> bool:
    import asyncpg

    return isinstance(exc, (OSError, TimeoutError, asyncpg.PostgresConnectionError,
                            asyncpg.InterfaceError,  # "connection is closed" and the like
                            asyncpg.exceptions.OperatorInterventionError,  # shutdown, restart
                            asyncpg.exceptions.InsufficientResourcesError))  # too many clients


def _from_driver(exc: BaseException) -> bool:
    """Raised by the driver or the connection (or a cancellation, which may come mid-statement),
    as opposed to raised by the code between two statements."""
    import asyncpg

    return not isinstance(exc, Exception) or _is_disconnect(exc) or \
        isinstance(exc, asyncpg.PostgresError)


# Server-side limits instead of asyncpg's command_timeout (a client-side timer per statement):
# a statement or an open transaction that hangs is ended by the server.
_SERVER_SETTINGS = {"statement_timeout": "10000", "idle_in_transaction_session_timeout": "10000",
                    "application_name": "doorstep-hot"}


class PostgresHotPath(HotPath):
    """A few asyncpg connections of its own, made on first use, used by one event loop.

    Not asyncpg's Pool: its release is a round trip (UNLISTEN, RESET ALL...) for session state
    these statements never create, and a shielded task; here a connection goes back to a list,
    and one that saw a driver error or a cancellation is dropped instead of reused. At most
    `max_size` at once (made only as texts in flight need them): with 8, 20 texts at once spent
    ~5 % of the CPU queueing for a connection."""

    def __init__(self, dsn: str, max_size: int = 16) -> None:
        self.dsn, self.max_size = dsn, max_size
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(max_size)
        self.connects = 0

    async def _acquire(self) -> Any:
        import asyncpg

        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
        self.connects += 1
        return await asyncpg.connect(self.dsn, timeout=5, server_settings=_SERVER_SETTINGS)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        await self._slots.acquire()
        conn = None
        try:
            conn = await self._acquire()
            yield conn
        except BaseException as exc:
            if conn is not None:
                if _from_driver(exc) or conn.is_in_transaction():
                    conn.terminate()  # possibly mid-statement: not reused
                else:  # the caller's own reason to stop (e.g. the ORM path takes over)
                    self._release(conn)
            if isinstance(exc, Exception) and _is_disconnect(exc):
                self._drop_idle()  # the others are likely gone too
                raise Disconnected(repr(exc)) from exc
            raise
        else:
            self._release(conn)
        finally:
            self._slots.release()

    def _release(self, conn: Any) -> None:
        if not conn.is_closed():
            self._idle.append(conn)

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()

    async def store_inbound(self, *, channel: str, vendor_id: str, phone: str | None, body: str,
                            raw: dict[str, Any], rate_window: timedelta | None = None) -> Stored:
        async with self._connection() as conn:
            now = utcnow()
            args = [channel, vendor_id, phone, body, json.dumps(raw), now]
            if rate_window is not None:
                args.append(now - rate_window)
            new = await conn.fetchrow(_STORE_AND_READ_PG[rate_window is not None], *args)
            if new is not None:
                return Stored(int(new[0]), True,
                              recent=int(new[12]) if rate_window is not None else None,
                              prefetched=_row(new[1:12], json.loads, lambda v: v)
                              if new[1] is not None else None)
            old = await conn.fetchrow(_STORED, channel, vendor_id)
        return Stored(int(old[0]), False, old[1], old[2])

    async def resident_locale(self, phone: str) -> str | None:
        async with self._connection() as conn:
            return await conn.fetchval(_RESIDENT_LOCALE, phone)  # type: ignore[no-any-return]

    async def touch_inbound(self, inbound_id: int, *, response: str | None,
                            order_id: int | None) -> None:
        async with self._connection() as conn:
            await conn.execute(_TOUCH, inbound_id, utcnow(), response, order_id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[HotTransaction]:
        """No database transaction: see _SAVE_AND_TOUCH_PG."""
        async with self._connection() as conn:
            yield _PostgresTransaction(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=2)
            except Exception:  # noqa: BLE001 (a lost connection cannot be closed politely)
                conn.terminate()


class _PostgresTransaction(HotTransaction):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def load(self, channel: str, key: str, *, locale: str, inbound_id: int) -> Loaded:
        r = await self.conn.fetchrow(_LOAD_PG, channel, key, inbound_id)
        if r is None:  # the number's first text
            await self.conn.execute(_CREATE_PG, channel, key, locale, _EMPTY_DRAFT, utcnow())
            r = await self.conn.fetchrow(_LOAD_PG, channel, key, inbound_id)
        return _row(r, json.loads, lambda v: v)

    async def finish(self, row: ConversationRow, *, state: str, draft: dict[str, Any],
                     failures: int, expires_at: datetime | None, locale: str, inbound_id: int,
                     response: str) -> None:
        saved = await self.conn.fetchval(
            _SAVE_AND_TOUCH_PG, row.id, state, json.dumps(draft), failures, expires_at, locale,
            utcnow(), response, inbound_id, row.updated_at)
        if saved is None:
            raise Conflict(f"conversation {row.id} changed meanwhile")


def for_url(url: str) -> HotPath | None:
    """The hot path for a plain database URL; None where it cannot share the database (an
    in-memory SQLite lives in one connection only)."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        if not u.database or u.database == ":memory:" or u.database.startswith("file:"):
            return None
        return SqliteHotPath(u.database)
    if backend in ("postgresql", "postgres"):
        return PostgresHotPath(u.set(drivername="postgresql").render_as_string(
            hide_password=False))
    return None
