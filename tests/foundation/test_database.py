"""Database.dispose() and the background work on a database: a cache's re-read that holds a
connection when the app closes gives it back before the pool closes (on PostgreSQL a connection
given back to a closed pool stays open, and asyncpg warns of it when the pool is collected:
`filterwarnings = error` makes that warning fail the test that collects it)."""

from __future__ import annotations

import asyncio
import gc
import time

from sqlalchemy import text

import db.catalog
from db.session import Database
from gateway.language.cache import LanguageCache
from gateway.orders.catalog import active_items
from gateway.orders.pricing import PriceCache


async def _hold(database: Database, seconds: float, seen: list[int]) -> None:
    async with database.session() as s:
        await s.execute(text("SELECT 1"))
        await asyncio.sleep(seconds)  # the connection stays checked out meanwhile
        seen.append((await s.execute(text("SELECT 2"))).scalar_one())


async def test_dispose_waits_for_background_work(database: Database) -> None:
    seen: list[int] = []
    task = database.spawn(_hold(database, 0.3, seen), "hold")
    await asyncio.sleep(0.05)
    assert database.engine.pool.checkedout() == 1
    await database.dispose()
    assert task.done() and not task.cancelled() and seen == [2]  # it ended its work
    assert database.engine.pool.checkedout() == 0
    gc.collect()  # an orphaned connection would warn here, failing this test


async def test_work_that_outlasts_the_wait_is_cancelled(database: Database) -> None:
    seen: list[int] = []
    task = database.spawn(_hold(database, 30, seen), "stuck")
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await database.dispose(wait=0.2)
    assert time.monotonic() - started < 5
    assert task.cancelled() and seen == []
    assert database.engine.pool.checkedout() == 0
    gc.collect()
    # the Database is usable again afterwards
    async with database.session() as s:
        assert (await s.execute(text("SELECT 3"))).scalar_one() == 3


async def test_a_failing_task_does_not_stop_dispose(database: Database) -> None:
    async def fail() -> None:
        async with database.session() as s:
            await s.execute(text("SELECT 1"))
            raise RuntimeError("boom")

    task = database.spawn(fail(), "fail")
    await database.dispose()
    assert isinstance(task.exception(), RuntimeError)
    assert database.engine.pool.checkedout() == 0


async def test_the_caches_rereads_are_waited_for(demo_database: Database) -> None:
    """The SMS path's catalogue version and the voice path's prices are re-read in the
    background when due; closing the database right after waits for those reads."""
    database = demo_database
    languages = LanguageCache(version=db.catalog.version, items=active_items,
                              recheck_seconds=0)
    async with database.session() as s:
        assert await languages.get(s, "zh-CN") is not None
    assert languages.cached("zh-CN", database) is not None  # due at once: read in background
    prices = PriceCache(recheck_seconds=0)
    await prices.get(database)
    assert prices.cached(database) is not None
    assert len(database._background) == 2  # the two re-reads, in flight
    await database.dispose()
    assert not database._background
    assert languages._recheck is not None and languages._recheck.done()
    assert prices._refresh is not None and prices._refresh.done()
    assert database.engine.pool.checkedout() == 0
    gc.collect()
