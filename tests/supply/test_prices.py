"""Prices and totals: read-back and confirmation by SMS, the leader's card, the JSON API, the
rule that a confirmed order keeps its prices, and weight units."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import db.catalog
import db.orders
from db.models import Leader, Task
from db.session import Database
from gateway.channels.http_api.orders import order_json
from gateway.channels.telegram.messages import TelegramMessages
from gateway.orders.pricing import Price, PriceBook, money, order_total, total_of, unit_price
from gateway.services import SERVICES
from gateway.templates import Templates
from tests.sms.conftest import GRANDMA, Texter, fake_twilio, sms_settings, start_app, texter

__all__ = ["fake_twilio", "sms_settings", "start_app", "texter"]  # fixtures used here


def test_weight_units_convert_and_unknown_prices_give_no_total() -> None:
    jin = Price(Decimal("16.00"), "斤")
    assert unit_price(jin, "斤") == Decimal("16.00")
    assert unit_price(jin, "公斤") == Decimal("32.0000")
    assert unit_price(jin, "克") == Decimal("0.0320")
    assert unit_price(jin, "块") is None
    assert unit_price(None, "斤") is None
    book = PriceBook({"pork": jin, "rice": Price(Decimal("45"), "袋")})
    assert book.total([{"sku": "pork", "quantity": "1.5", "unit": "斤"},
                       {"sku": "rice", "quantity": 2, "unit": "袋"}]) == Decimal("114.00")
    assert book.total([{"sku": "pork", "quantity": 1, "unit": "公斤"}]) == Decimal("32.00")
    # One item without a price: no total at all, never a total of part of the order.
    assert book.total([{"sku": "rice", "quantity": 1, "unit": "袋"},
                       {"sku": "salt", "quantity": 1, "unit": "包"}]) is None
    assert total_of([]) is None
    assert (money(Decimal("90.00")), money(Decimal("12.5")), money(None)) == ("90", "12.50", None)


async def test_sms_readback_and_confirmation_carry_the_total_and_keep_it(
        texter: Texter, demo_database: Database) -> None:
    reply = await texter.text("大米2袋，猪肉1斤")
    assert "共106元" in reply, reply  # 2 × 45 + 16
    confirmed = await texter.text("1")
    assert "共106元，货到付款" in confirmed, confirmed
    async with demo_database.session() as s:
        order = (await db.orders.list_orders(s, phone=GRANDMA))[0][0]
        assert order.status == "confirmed" and order_total(order) == Decimal("106.00")
        rice = await db.catalog.get_by_sku(s, "rice")
        assert rice is not None
        rice.price = Decimal("60.00")  # the price goes up after confirmation
    async with demo_database.session() as s:
        order = await db.orders.get(s, order.id)
        assert order is not None
        assert order_json(order)["total"] == "106.00"  # the confirmed order keeps its total
    texter.app[SERVICES].prices.invalidate()
    assert "共136元" in await texter.text("大米2袋，猪肉1斤")  # a new draft: today's price


async def test_no_total_where_prices_are_unset(texter: Texter, demo_database: Database) -> None:
    async with demo_database.session() as s:
        salt = await db.catalog.get_by_sku(s, "salt")
        assert salt is not None
        salt.price = None
    texter.app[SERVICES].prices.invalidate()
    reply = await texter.text("大米1袋，盐1包")
    assert "元" not in reply, reply
    await texter.text("1")
    async with demo_database.session() as s:
        order = (await db.orders.list_orders(s, phone=GRANDMA))[0][0]
        assert order_json(order)["total"] is None


async def test_leader_card_shows_the_amount_to_collect(demo_database: Database,
                                                       settings: Any) -> None:
    async with demo_database.session() as s:
        order = await db.orders.create(
            s, channel="sms", phone=GRANDMA, status="draft", actor="t",
            items=[{"sku": "rice", "name": "大米", "quantity": 1, "unit": "袋"}])
        from gateway.orders.pricing import keep_prices

        await keep_prices(s, order)
        order = await db.orders.get(s, order.id)
        assert order is not None
        leader = Leader(id=1, name="吴团长", phone="+8613900000009", lat=30.6, lon=119.7,
                        locale="zh-CN", invite_code="x")
        ko = Leader(id=2, name="김", phone="+8213900000009", lat=30.6, lon=119.7,
                    locale="ko-KR", invite_code="y")
        messages = TelegramMessages(Templates(), settings)
        text, _ = messages.card(leader, Task(id=1, order_id=order.id, leader_id=1), order,
                                "offered")
        assert "应收：45元（货到付款）" in text
        text, _ = messages.card(ko, Task(id=1, order_id=order.id, leader_id=2), order,
                                "offered")
        assert "받을 금액: 45원" in text
