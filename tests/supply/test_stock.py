"""Issue 18, stock in the conversation: goods out of stock everywhere or in one village are
named in the read-back (keep as a back-order with 1, drop with 2), back-ordered lines stay on
the order but are not bought, delivered or charged, and come on a follow-up order (or back onto
an order that had nothing else) when restocked; the resident is told. Real app, real database,
signed texts, the Twilio REST stand-in."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

import db.orders
from db.models import Order, Outbox
from db.session import Database
from gateway.orders import stock
from gateway.orders.pricing import order_total
from gateway.orders.demo import load_demo_locales
from gateway.services import SERVICES
from tests.sms.conftest import GRANDMA, Texter, fake_twilio, sms_settings, start_app, texter

__all__ = ["fake_twilio", "sms_settings", "start_app", "texter"]  # fixtures used here

AUNT = "+8613800000003"  # 张阿姨, 余村 (王奶奶 lives in 鲁家村)
KIM = "+821000000001"  # 김순자, 평사리


async def mark(database: Database, sku: str, kind: str = "out", village: str = "",
               app: Any = None) -> Any:
    async with database.session() as s:
        if kind == "out":
            done = await stock.mark_out(s, sku, village=village, actor="operator:test")
        else:
            services = app[SERVICES] if app is not None else None
            done = await stock.mark_in(
                s, sku, village=village, actor="operator:test",
                listeners=services.listeners if services else (),
                templates=services.templates if services else None)
    if app is not None:
        app[SERVICES].stock.invalidate()
        app[SERVICES].wake_dispatcher()
    return done


async def orders_of(database: Database, phone: str) -> list[Order]:
    async with database.session() as s:
        found, _ = await db.orders.list_orders(s, phone=phone)
        return sorted(found, key=lambda o: o.id)


async def texts_to(database: Database, phone: str) -> list[str]:
    async with database.session() as s:
        rows = (await s.execute(select(Outbox).where(Outbox.recipient == phone,
                                                     Outbox.channel == "sms")
                                .order_by(Outbox.id))).scalars()
        return [r.body for r in rows]


async def test_out_everywhere_is_read_back_kept_as_a_back_order_and_sent_when_restocked(
        texter: Texter, demo_database: Database) -> None:
    await mark(demo_database, "eggs", app=texter.app)
    reply = await texter.text("大米两袋，鸡蛋一板")
    assert "鸡蛋今天缺货，有货后给您送" in reply and "回复2去掉缺货的" in reply, reply
    assert "共90元" in reply  # 2 × 45; the eggs are paid when they come
    confirmed = await texter.text("1")
    assert "鸡蛋缺货，有货后给您送" in confirmed and "共90元" in confirmed, confirmed
    [order] = await orders_of(demo_database, GRANDMA)
    lines = {it.sku: it.backorder for it in order.items}
    assert lines == {"rice": None, "eggs": "waiting"}  # never silently gone
    assert order_total(order) == Decimal("90.00")
    assert any("back-ordered" in e.reason and "鸡蛋" in e.reason for e in order.events)

    done = await mark(demo_database, "eggs", "in", app=texter.app)
    assert done.marked == [""] and len(done.follow_ups) == 1
    again = await mark(demo_database, "eggs", "in", app=texter.app)
    assert again.follow_ups == [] and again.released == []  # never a second follow-up
    first, follow = await orders_of(demo_database, GRANDMA)
    assert [(it.sku, float(it.quantity), it.unit) for it in follow.items] == [("eggs", 1, "板")]
    eggs = next(it for it in first.items if it.sku == "eggs")
    assert eggs.backorder == "sent" and eggs.backorder_order_id == follow.id
    assert order_total(follow) == Decimal("28.00")
    told = [t for t in await texts_to(demo_database, GRANDMA) if "到货了" in t]
    assert told == [f"您订的鸡蛋1板到货了，已作为订单{follow.id}号安排送货。"]


async def test_out_in_one_village_is_short_only_there(texter: Texter,
                                                      demo_database: Database) -> None:
    await mark(demo_database, "eggs", village="鲁家村", app=texter.app)
    assert "缺货" in await texter.text("鸡蛋一板", phone=GRANDMA)
    assert "缺货" not in await texter.text("鸡蛋一板", phone=AUNT)
    await texter.text("1", phone=AUNT)
    [order] = await orders_of(demo_database, AUNT)
    assert [it.backorder for it in order.items] == [None]


async def test_two_drops_the_goods_out_of_stock(texter: Texter,
                                                demo_database: Database) -> None:
    await mark(demo_database, "eggs", app=texter.app)
    await texter.text("大米两袋，鸡蛋一板")
    reply = await texter.text("2")
    assert "已去掉缺货的鸡蛋" in reply and "大米" in reply and "缺货，有货" not in reply, reply
    await texter.text("1")
    [order] = await orders_of(demo_database, GRANDMA)
    assert [it.sku for it in order.items] == ["rice"]
    # "2" means nothing special when nothing is short.
    await mark(demo_database, "eggs", "in", app=texter.app)
    await texter.text("鸡蛋一板")
    assert "去掉" not in await texter.text("2")


async def test_an_order_of_only_missing_goods_waits_then_goes_out_as_it_is(
        texter: Texter, demo_database: Database) -> None:
    await mark(demo_database, "eggs", app=texter.app)
    await texter.text("鸡蛋两板")
    await texter.text("1")
    [order] = await orders_of(demo_database, GRANDMA)
    dispatcher = texter.app[SERVICES].dispatcher
    if dispatcher is not None:
        await dispatcher.run_once()
    [order] = await orders_of(demo_database, GRANDMA)
    assert order.status == "confirmed" and order.leader_id is None  # nothing to buy yet
    done = await mark(demo_database, "eggs", "in", app=texter.app)
    assert done.released == [order.id] and done.follow_ups == []
    [order] = await orders_of(demo_database, GRANDMA)
    assert [it.backorder for it in order.items] == [None]
    assert order_total(order) == Decimal("56.00")
    assert any("到货了" in t and f"订单{order.id}号" in t
               for t in await texts_to(demo_database, GRANDMA))


async def test_two_gateways_restocking_at_once_send_one_follow_up(
        texter: Texter, demo_database: Database) -> None:
    await mark(demo_database, "eggs", app=texter.app)
    await texter.text("大米两袋，鸡蛋一板")
    await texter.text("1")
    services = texter.app[SERVICES]

    async def restock() -> stock.Restock:
        other = Database(services.settings.database_url)  # another gateway's engine
        try:
            async with other.session() as s:
                return await stock.mark_in(s, "eggs", actor="operator:x",
                                           listeners=services.listeners,
                                           templates=services.templates)
        finally:
            await other.dispose()

    results = await asyncio.gather(restock(), restock(), return_exceptions=True)
    made = [r.follow_ups for r in results if isinstance(r, stock.Restock)]
    assert sum(len(m) for m in made) == 1, results
    assert len(await orders_of(demo_database, GRANDMA)) == 2


async def test_korean_read_back_and_confirmation(start_app: Any, demo_database: Database) -> None:
    await load_demo_locales(demo_database, "zh-CN", ["ko-KR"])
    texter = await start_app()
    await mark(demo_database, "ko-eggs", app=texter.app)
    reply = await texter.text("쌀 한 포대, 계란 한 판", phone=KIM)
    assert "계란은(는) 오늘 품절" in reply and "빼려면 2" in reply, reply
    confirmed = await texter.text("1", phone=KIM)
    assert "품절이라 들어오는 대로" in confirmed, confirmed


async def test_unknown_products_and_repeated_marks(demo_database: Database) -> None:
    async with demo_database.session() as s:
        with pytest.raises(stock.StockError):
            await stock.mark_out(s, "caviar", actor="t")
        assert await stock.mark_out(s, "eggs", actor="t") is True
        assert await stock.mark_out(s, "eggs", actor="t") is False
        current = await stock.outs(s)
        assert current.out_for("鲁家村") == {"eggs"} and current.out_for("") == {"eggs"}
        assert (await stock.mark_in(s, "eggs", actor="t")).marked == [""]
        assert not await stock.outs(s)
