"""The SMS store's bare driver on PostgreSQL: asyncpg connections of its own, no ORM session
and no greenlet (an AsyncSession costs several times the driver's own work per statement, and
the pool's pre-ping a round trip per transaction).

The text is committed first, on its own, as on the ORM path; the statement that stores it also
reads the number's conversation, and the step ends with one conditional write
(sql.SAVE_AND_ANSWER_PG): two round trips per text. A lost connection raises `Disconnected`, a
row changed meanwhile `Conflict`; the caller then takes the ORM path.

Imports only db (models, sms_store).
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, AsyncIterator

from db.models import utcnow
from db.sms_store import (
    Conflict,
    ConversationRow,
    Disconnected,
    Driver,
    DriverTransaction,
    Loaded,
    Stored,
    sql,
)


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


class PostgresDriver(Driver):
    """A few asyncpg connections of its own, made on first use, used by one event loop.

    Not asyncpg's Pool: its release is a round trip (UNLISTEN, RESET ALL...) for session state
    these statements never create, and a shielded task; here a connection goes back to a list,
    and one that saw a driver error or a cancellation is dropped instead of reused. At most
    `max_size` at once, made only as texts in flight need them (docs/performance.md says how
    many)."""

    def __init__(self, dsn: str, max_size: int = 16) -> None:
        self.dsn, self.max_size = dsn, max_size
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(max_size)
        self.connects = 0
        self._closed = False  # after close(): a connection given back is closed, not kept

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
        if self._closed:  # in use when the driver closed (a request outliving the app)
            conn.terminate()
        elif not conn.is_closed():
            self._idle.append(conn)

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()

    async def store(self, *, channel: str, vendor_id: str, phone: str | None, body: str,
                    raw: dict[str, Any], rate_window: timedelta | None = None) -> Stored:
        async with self._connection() as conn:
            now = utcnow()
            args = [channel, vendor_id, phone, body, json.dumps(raw), now]
            if rate_window is not None:
                args.append(now - rate_window)
            new = await conn.fetchrow(sql.STORE_AND_READ_PG[rate_window is not None], *args)
            if new is not None:
                return Stored(int(new[0]), True,
                              recent=int(new[12]) if rate_window is not None else None,
                              prefetched=sql.loaded(new[1:12], json.loads, lambda v: v)
                              if new[1] is not None else None)
            old = await conn.fetchrow(sql.STORED, channel, vendor_id)
        return Stored(int(old[0]), False, old[1], old[2])

    async def resident_locale(self, phone: str) -> str | None:
        async with self._connection() as conn:
            return await conn.fetchval(sql.RESIDENT_LOCALE, phone)  # type: ignore[no-any-return]

    async def answer(self, inbound_id: int, *, response: str | None,
                     order_id: int | None) -> None:
        async with self._connection() as conn:
            await conn.execute(sql.ANSWER, inbound_id, utcnow(), response, order_id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DriverTransaction]:
        """No database transaction: see sql.SAVE_AND_ANSWER_PG."""
        async with self._connection() as conn:
            yield _PostgresTransaction(conn)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=2)
            except Exception:  # noqa: BLE001 (a lost connection cannot be closed politely)
                conn.terminate()


class _PostgresTransaction(DriverTransaction):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def load(self, channel: str, key: str, *, locale: str, inbound_id: int) -> Loaded:
        r = await self.conn.fetchrow(sql.LOAD_PG, channel, key, inbound_id)
        if r is None:  # the number's first text
            await self.conn.execute(sql.CREATE_PG, channel, key, locale, sql.EMPTY_DRAFT,
                                    utcnow())
            r = await self.conn.fetchrow(sql.LOAD_PG, channel, key, inbound_id)
        return sql.loaded(r, json.loads, lambda v: v)

    async def finish(self, row: ConversationRow, *, state: str, draft: dict[str, Any],
                     failures: int, expires_at: datetime | None, locale: str, inbound_id: int,
                     response: str) -> None:
        saved = await self.conn.fetchval(
            sql.SAVE_AND_ANSWER_PG, row.id, state, json.dumps(draft), failures, expires_at,
            locale, utcnow(), response, inbound_id, row.updated_at)
        if saved is None:
            raise Conflict(f"conversation {row.id} changed meanwhile")
