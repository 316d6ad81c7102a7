"""The SQLite driver that runs statements on the event loop thread (db.sqlite_inloop): a locked
database is waited for off the loop, so the loop goes on, and a writer on the same loop that
holds the lock can finish instead of deadlocking."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from db import sqlite_inloop
from db.session import Database, async_url, is_unavailable


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'inloop.db'}")
    async with d.engine.begin() as c:
        await c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield d
    await d.dispose()


class Ticker:
    """Counts event-loop turns in the background: proves the loop was not blocked."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def test_sqlite_urls_use_the_in_loop_driver() -> None:
    assert async_url("sqlite:///x.db").startswith(f"sqlite+{sqlite_inloop.DRIVER}:")


async def test_session_core_and_results(database: Database) -> None:
    async with database.session() as s:
        await s.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "a"}, {"v": "b"}])
    async with database.engine.begin() as c:  # AsyncConnection insists on an awaiting driver
        rows = (await c.execute(text("SELECT v FROM t ORDER BY id"))).all()
    assert [r.v for r in rows] == ["a", "b"]


async def test_a_lock_held_by_another_process_is_waited_for_off_the_loop(
        database: Database, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "inloop.db", isolation_level=None,
                            check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    other.execute("INSERT INTO t (v) VALUES ('other')")
    release = threading.Timer(0.4, lambda: other.execute("COMMIT"))
    release.start()
    with Ticker() as ticker:
        started = time.monotonic()
        async with database.session() as s:
            await s.execute(text("INSERT INTO t (v) VALUES ('mine')"))
        waited = time.monotonic() - started
    release.join()
    other.close()
    assert waited >= 0.3  # it did wait for the other writer...
    assert ticker.ticks >= 10  # ...and the loop ran on meanwhile
    async with database.session() as s:
        assert (await s.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all() == \
            ["other", "mine"]


async def test_two_writers_on_one_loop_do_not_deadlock(database: Database) -> None:
    """A holds the write lock across an await; B writes meanwhile. Waiting on the loop thread
    would stop A from ever committing; B must wait elsewhere and then go through."""
    a_has_lock = asyncio.Event()

    async def a() -> None:
        async with database.session() as s:
            await s.execute(text("INSERT INTO t (v) VALUES ('a')"))
            a_has_lock.set()
            await asyncio.sleep(0.3)  # e.g. a network call inside the transaction

    async def b() -> None:
        await a_has_lock.wait()
        async with database.session() as s:
            await s.execute(text("INSERT INTO t (v) VALUES ('b')"))

    with Ticker() as ticker:
        await asyncio.wait_for(asyncio.gather(a(), b()), timeout=8)
    assert ticker.ticks >= 10
    async with database.session() as s:
        assert (await s.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all() == \
            ["a", "b"]


async def test_a_lock_never_released_gives_a_clear_unavailable_error(
        database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_inloop, "BUSY_TIMEOUT_MS", 200)
    other = sqlite3.connect(tmp_path / "inloop.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError) as info:
            async with database.session() as s:
                await s.execute(text("INSERT INTO t (v) VALUES ('late')"))
        assert "locked" in str(info.value)
        assert is_unavailable(info.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with database.session() as s:  # the connection is usable again afterwards
        await s.execute(text("INSERT INTO t (v) VALUES ('later')"))
        assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
