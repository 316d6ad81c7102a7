"""Plain texts on the bare driver (db.sms_store) and everything else on the ORM session: which
texts go which way, that both leave the same conversation, and the ways back to the ORM path
(another writer, a lost connection, a row changed meanwhile)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from db import sms_store
from db.sms_store import driver_for_url
from db.sms_store.postgres import PostgresDriver
from db.sms_store.sqlite import SqliteDriver
from db.models import Conversation, InboundMessage, Order, utcnow
from db.session import Database
from gateway.services import SERVICES
from gateway.channels.twilio.sms import SMS, STEPS
from tests.resilience.proxy import TcpProxy
from tests.sms.conftest import GRANDMA, GRANDPA, STRANGER, Texter, new_sid


def steps(texter: Texter, stage: str = "answer") -> dict[tuple[str, str], int]:
    """{(path, why): texts} of one stage (store, answer) from the gateway's own counter."""
    counts = texter.app[SERVICES].metrics.counters[STEPS]
    return {(dict(k)["path"], dict(k)["why"]): int(v) for k, v in counts.items()
            if dict(k)["stage"] == stage}


async def test_plain_texts_go_hot_and_the_rest_the_orm_path(texter: Texter) -> None:
    assert "大米2袋" in await texter.text("大米两袋")
    assert "醋2瓶" in await texter.text("还要两瓶醋")
    assert "没看懂" in await texter.text("xyzzy")
    assert "作废" in await texter.text("取消")
    assert "大米2袋" in await texter.text("大米两袋")
    assert "已下单" in await texter.text("1")  # an order to make
    assert "大米两袋" in await texter.text("帮助")  # a carrier keyword: help with an example
    await texter.text("你好", phone=STRANGER)  # not a resident: kept for an operator
    got = steps(texter)
    # The very first text compiles the catalogue on the ORM path; the next four are hot.
    assert got.pop(("orm", "catalogue")) == 1
    assert got == {("hot", ""): 4, ("orm", "orders"): 1, ("orm", "keyword"): 1,
                   ("orm", "sender"): 1}
    assert steps(texter, "store") == {("hot", ""): 8}
    hot = texter.app[SERVICES].db.hot
    if isinstance(hot, PostgresDriver):  # handing a text over kept the connection
        assert hot.connects == 1


async def test_off_means_every_text_on_the_orm_path(start_app: Any) -> None:
    texter = await start_app(sms_hot_path=False)
    await texter.text("大米两袋")
    await texter.text("取消")
    assert steps(texter) == steps(texter, "store") == {("orm", "off"): 2}


SCRIPT = ("大米两袋", "还要两瓶醋", "xyzzy", "取消", "鸡蛋一板", "再要一袋大米", "状态", "怎么办",
          "1", "1", "大米两袋")


async def conversation_of(database: Database, phone: str) -> dict[str, Any]:
    async with database.session() as s:
        c = (await s.execute(select(Conversation).where(Conversation.key == phone))).scalar_one()
        inbound = (await s.execute(select(InboundMessage).where(InboundMessage.phone == phone)
                                   .order_by(InboundMessage.id))).scalars().all()
    assert c.expires_at is not None and c.expires_at.tzinfo is not None
    assert all(m.processed_at is not None and m.processed_at.tzinfo is not None
               for m in inbound)
    return {"state": c.state, "locale": c.locale, "draft": c.draft, "failures": c.failures,
            "expires_in": round((c.expires_at - c.updated_at).total_seconds() / 60),
            "responses": [numbered(m.response or "") for m in inbound]}


def numbered(reply: str) -> str:
    """A reply without its order number (the two residents' orders have different ids)."""
    return re.sub(r"\d+号", "N号", reply)


async def test_both_paths_leave_the_same_conversation(start_app: Any,
                                                      demo_database: Database) -> None:
    hot = await start_app()
    orm = await start_app(sms_hot_path=False)
    for body in SCRIPT:
        assert numbered(await hot.text(body, phone=GRANDMA)) == \
            numbered(await orm.text(body, phone=GRANDPA)), body
    assert steps(hot)[("hot", "")] >= 6
    got_hot = await conversation_of(demo_database, GRANDMA)
    got_orm = await conversation_of(demo_database, GRANDPA)
    assert got_hot == got_orm
    assert got_hot["state"] == "draft" and got_hot["expires_in"] == 120
    async with demo_database.session() as s:
        made = (await s.execute(select(Order.phone, Order.status).order_by(Order.id))).all()
    assert sorted(phone for phone, _ in made) == [GRANDMA, GRANDPA]  # one order each
    assert made[0][1] == made[1][1]


async def test_a_hot_draft_is_swept_by_the_orm(texter: Texter, fake_twilio: Any) -> None:
    assert "大米2袋" in await texter.text("大米两袋")
    assert "醋2瓶" in await texter.text("还要两瓶醋")
    assert steps(texter).get(("hot", ""), 0) >= 1
    gateway = texter.app[SMS]
    assert (await gateway.sweep_once(now=utcnow() + timedelta(hours=3)))["expired"] == 1
    assert "没有待确认" in await texter.text("1")


async def test_a_retry_of_a_hot_text_gets_the_same_answer(texter: Texter,
                                                          demo_database: Database) -> None:
    sid = new_sid()
    first = await texter.text("大米两袋", sid=sid)
    again = await asyncio.gather(*(texter.text("大米两袋", sid=sid) for _ in range(5)))
    assert set(again) == {first}
    async with demo_database.session() as s:
        rows = (await s.execute(select(InboundMessage))).scalars().all()
        conv = (await s.execute(select(Conversation))).scalar_one()
    assert len(rows) == 1 and rows[0].response == first
    assert [i["quantity"] for i in conv.draft["items"]] == ["2"]  # counted once


async def test_sqlite_hot_path_waits_for_another_writer(texter: Texter,
                                                        demo_database: Database) -> None:
    if not demo_database.is_sqlite:
        pytest.skip("SQLite's single writer")
    await texter.text("大米两袋")
    other = sqlite3.connect(demo_database.engine.url.database or "", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        pending = asyncio.ensure_future(texter.text("还要两瓶醋"))
        await asyncio.sleep(0.3)
        assert not pending.done()  # waiting for the lock on a worker thread...
        ping = await texter.client.get("/healthz")  # ...while the event loop serves others
        assert ping.status in (200, 503)
    finally:
        other.execute("COMMIT")
        other.close()
    reply = await asyncio.wait_for(pending, 10)
    assert "大米2袋" in reply and "醋2瓶" in reply
    assert steps(texter)[("hot", "")] == 1


async def test_postgres_lost_connection_falls_back_to_the_orm_path(
        start_app: Any, demo_database: Database) -> None:
    """The hot pool reaches the server through a proxy that is cut (connections reset, new
    ones refused) while the ORM engine still gets through: every text is answered."""
    if demo_database.is_sqlite:
        pytest.skip("PostgreSQL connections")
    proxy = TcpProxy()
    await proxy.start()
    database = Database(demo_database.url)
    database._hot = PostgresDriver(
        demo_database.url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/"))
    database._hot_made = True
    try:
        texter = await start_app(database=database)
        await texter.text("大米两袋")
        assert "醋2瓶" in await texter.text("还要两瓶醋")
        assert steps(texter)[("hot", "")] == 1 and proxy.connections >= 1
        await proxy.cut()
        reply = await texter.text("鸡蛋一板")
        assert "大米2袋" in reply and "醋2瓶" in reply and "鸡蛋1板" in reply
        assert steps(texter, "store")[("orm", "disconnected")] == 1
        await proxy.restore()
        assert "鸡蛋2板" in await texter.text("再要一板鸡蛋")  # hot again, on a new connection
        assert steps(texter)[("hot", "")] == 2
        assert steps(texter, "store")[("hot", "")] == 3
    finally:
        await proxy.close()


async def test_postgres_row_changed_meanwhile_is_a_conflict(demo_database: Database) -> None:
    if demo_database.is_sqlite:
        pytest.skip("SQLite's step holds the write lock")
    hot = demo_database.hot
    stored = await hot.store(channel="sms", vendor_id=new_sid(), phone=GRANDMA,
                                     body="大米两袋", raw={})
    async with hot.transaction() as tx:
        loaded = await tx.load("sms", GRANDMA, locale="zh-CN", inbound_id=stored.id)
        assert loaded.resident_locale == "zh-CN" and not loaded.row.answered
        async with demo_database.session() as s:  # another process's step, or the sweeper
            await s.execute(update(Conversation).where(Conversation.id == loaded.row.id)
                            .values(updated_at=utcnow()))
        with pytest.raises(sms_store.Conflict):
            await tx.finish(loaded.row, state="draft", draft={"items": []}, failures=0,
                            expires_at=None, locale="zh-CN", inbound_id=stored.id,
                            response="lost")
    async with demo_database.session() as s:
        m = await s.get(InboundMessage, stored.id)
        c = await s.get(Conversation, loaded.row.id)
    assert m is not None and m.processed_at is None and m.response is None  # nothing saved
    assert c is not None and c.state == "idle"


async def test_in_memory_sqlite_has_no_hot_path() -> None:
    assert driver_for_url("sqlite:///:memory:") is None
    assert driver_for_url("sqlite://") is None
    assert isinstance(driver_for_url("sqlite:////tmp/x.db"), SqliteDriver)
    pg = driver_for_url("postgresql://u:p@h:5432/db")
    assert isinstance(pg, PostgresDriver) and pg.dsn == "postgresql://u:p@h:5432/db"


async def test_postgres_stale_prefetch_is_redone_on_the_orm_path(texter: Texter,
                                                                 demo_database: Database) -> None:
    """Two texts of one number stored before either is answered: both read the same
    conversation with their store; the second one's save finds it changed and is redone on the
    ORM path, so its answer has both texts' items."""
    if demo_database.is_sqlite:
        pytest.skip("SQLite stores without reading the conversation")
    await texter.text("取消")  # the number has a conversation row now
    gateway = texter.app[SMS]
    hot = demo_database.hot
    stored = [await hot.store(channel="sms", vendor_id=new_sid(), phone=GRANDMA,
                                      body=body, raw={}) for body in ("大米两袋", "还要两瓶醋")]
    assert all(s.prefetched is not None and s.prefetched.row.state == "idle" for s in stored)
    first = await gateway.process(stored[0].id, GRANDMA, "大米两袋",
                                  prefetched=stored[0].prefetched)
    second = await gateway.process(stored[1].id, GRANDMA, "还要两瓶醋",
                                   prefetched=stored[1].prefetched)
    assert "大米2袋" in first and "醋" not in first
    assert "大米2袋" in second and "醋2瓶" in second
    assert steps(texter)[("orm", "conflict")] == 1
