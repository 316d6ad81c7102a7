"""Engines and sessions: plain database URLs mapped to async drivers, SQLite in WAL mode."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db import sqlite_inloop


def async_url(url: str) -> str:
    """Map `sqlite:///x.db` / `postgresql://u@h/db` to the async drivers: SQLite on the event
    loop thread (db.sqlite_inloop) and asyncpg."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        u = u.set(drivername=f"sqlite+{sqlite_inloop.DRIVER}")
    elif backend in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return u.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The same database for synchronous tools (Alembic): sqlite or psycopg2."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        u = u.set(drivername="sqlite")
    elif backend in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg2")
    return u.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=0")  # a locked database is waited for off the loop
    cur.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for a plain URL; SQLite files get their folder created and WAL mode."""
    aurl = async_url(url)
    if is_sqlite(url):
        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(aurl, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_async_engine(aurl, **kwargs)


class TaskSet:
    """Background tasks their owner keeps references to and waits for before it closes."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def settle(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` s (None: as long as it takes) for this loop's tasks; cancel
        what is still running then."""
        loop = asyncio.get_running_loop()
        tasks = {t for t in self._tasks if t.get_loop() is loop}
        self._tasks.intersection_update(tasks)  # another (closed) loop's are forgotten
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Database:
    """An engine and its session factory, shared by everything in one process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._hot: Any = None
        self._hot_made = False
        self._background = TaskSet()

    @property
    def hot(self) -> Any:
        """The SMS store's bare driver (`db.sms_store.Driver`), made on first use; None where it
        cannot run (an in-memory SQLite)."""
        if not self._hot_made:
            from db.sms_store import driver_for_url

            self._hot, self._hot_made = driver_for_url(self.url), True
        return self._hot

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessionmaker() as s:
            async with s.begin():
                yield s

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro`, background work on this database (a cache's re-read), as a task that
        `dispose()` waits for: a connection it holds goes back to the pool before the pool
        closes, not to a pool already closed (where it stays open until collected)."""
        return self._background.spawn(coro, name)

    async def dispose(self, wait: float = 5.0) -> None:
        """Close every connection, once the background work (`spawn`) has ended or, after
        `wait` seconds, been cancelled; the Database may be used again (new ones are made)."""
        await self._background.settle(wait)
        hot, self._hot, self._hot_made = self._hot, None, False
        if hot is not None:
            await hot.close()
        await self.engine.dispose()


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached or used just now (connection lost
    or refused, server restarting, pool exhausted, SQLite busy), as opposed to a bug."""
    import sqlite3

    from sqlalchemy import exc as sa

    from db.sms_store import Disconnected

    if isinstance(exc, (sa.OperationalError, sa.InterfaceError, sa.TimeoutError, OSError,
                        sqlite3.OperationalError, Disconnected)):
        return True
    return isinstance(exc, sa.DBAPIError) and exc.connection_invalidated
