"""A phone call reads back the order's total and says it again at confirmation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

from gateway.orders.pricing import order_total
from tests.voice.calls import call, scripted, start, tone
from tests.voice.test_call_flow import WANG, orders


async def test_call_reads_back_and_confirms_the_total(make_client: Callable[..., Any],
                                                      settings: Any, demo_database: Any) -> None:
    rec, _ = scripted(["大米两袋"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [tone()], "1")
    assert any("您要的是：大米2袋。一共90元。" in h for h in log.heard), log.heard
    assert "一共90元，货到付款" in log.heard[-1]
    [order] = await orders(demo_database)
    assert order_total(order) == Decimal("90.00")


async def test_call_names_goods_out_of_stock_and_keeps_them_as_back_orders(
        make_client: Callable[..., Any], settings: Any, demo_database: Any) -> None:
    from gateway.orders import stock

    async with demo_database.session() as s:
        await stock.mark_out(s, "eggs", village="鲁家村", actor="operator:test")
    rec, _ = scripted(["大米两袋，鸡蛋一板"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [tone()], "1")
    readback = next(h for h in log.heard if "您要的是" in h)
    assert "鸡蛋今天缺货，有货后给您送，不算在钱里。一共90元。" in readback, readback
    assert "一共90元，货到付款" in log.heard[-1]
    [order] = await orders(demo_database)
    assert {it.sku: it.backorder for it in order.items} == {"rice": None, "eggs": "waiting"}
    assert order_total(order) == Decimal("90.00")
