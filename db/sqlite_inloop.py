"""SQLite for the async engine without a thread hop per call.

aiosqlite runs every DBAPI call (cursor, execute, fetch, close, commit) on a thread of its own
and hands the result back through the event loop: about nine hand-offs per statement, each a
GIL hand-over between two threads. Under load that convoy cost more than SQLite itself: at 20
concurrent texts the gateway spent ~17 ms of CPU per webhook and ~900 futex calls.

A local SQLite statement takes microseconds, so this dialect runs it right on the event loop
thread (it is the pysqlite dialect, marked async so that `create_async_engine` accepts it; the
calls simply never suspend). The one thing that may take long is waiting for another writer's
lock, and blocking the loop then could even deadlock (the writer holding the lock may be a
coroutine on this very loop). So the connection's own busy timeout is 0: a statement that finds
the database locked is retried on a worker thread with the real busy timeout, and the event loop
runs on meanwhile, as it did with aiosqlite.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet

DRIVER = "doorstep"
BUSY_TIMEOUT_MS = 10_000


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # sqlite_errorcode is there since Python 3.11 (the project's minimum); the low byte is the
    # primary code (SQLITE_BUSY_SNAPSHOT and the like are BUSY too)
    code = getattr(exc, "sqlite_errorcode", 0)  # 0: raised by hand, not by SQLite
    return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _waiting(conn: sqlite3.Connection, fn: Any, *args: Any) -> Any:
    """Run `fn(*args)` on this (worker) thread with the real busy timeout."""
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return fn(*args)
    finally:
        conn.execute("PRAGMA busy_timeout=0")


class _Ready:
    """An awaitable that is done at once. AsyncConnection.execute insists that the driver
    awaited something (it guards against sync drivers); awaiting this costs two greenlet
    switches and never suspends the event loop."""

    def __await__(self) -> Any:
        return iter(())


_READY = _Ready()


def _call(conn: sqlite3.Connection, fn: Any, *args: Any) -> Any:
    """`fn(*args)` on the loop thread; if the database is locked, again on a worker thread
    that waits for the lock (the greenlet awaits it, so the event loop runs meanwhile)."""
    if in_greenlet():
        await_(_READY)
    try:
        return fn(*args)
    except sqlite3.OperationalError as exc:
        if not _is_busy(exc):
            raise
        return await_(asyncio.to_thread(_waiting, conn, fn, *args))


async def call_async(conn: sqlite3.Connection, fn: Any, *args: Any) -> Any:
    """`_call` for callers outside SQLAlchemy's greenlet (db.sms_store): on the loop thread, or,
    if the database is locked, on a worker thread that waits for the lock."""
    try:
        return fn(*args)
    except sqlite3.OperationalError as exc:
        if not _is_busy(exc):
            raise
        return await asyncio.to_thread(_waiting, conn, fn, *args)


class Cursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """Called by the asyncio extension before a result is used outside the greenlet; a
        sqlite3 cursor can be read from anywhere, so nothing to do."""

    def execute(self, sql: str, parameters: Any = ()) -> Cursor:  # type: ignore[override]
        _call(self.connection, super().execute, sql, parameters)
        return self

    def executemany(self, sql: str, seq: Any) -> Cursor:  # type: ignore[override]
        _call(self.connection, super().executemany, sql, list(seq))
        return self


class Connection(sqlite3.Connection):
    def cursor(self, factory: Any = Cursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)

    def commit(self) -> None:
        _call(self, super().commit)


class SQLiteDialect_doorstep(SQLiteDialect_pysqlite):  # noqa: N801 (SQLAlchemy's naming)
    """pysqlite on the event loop thread; busy statements wait on a worker thread."""

    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        kwargs["factory"] = Connection
        kwargs["check_same_thread"] = False  # the busy path runs a call on a worker thread
        kwargs["timeout"] = 0  # busy_timeout 0 on the loop thread; the worker waits instead
        return args, kwargs


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_doorstep")
dialect = SQLiteDialect_doorstep
