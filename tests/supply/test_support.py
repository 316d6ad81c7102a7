"""Issue 18, supported households (特困/低保): a grant with who approved it and until when; while
it is valid, a confirmed order is marked supported, the resident's confirmation says it is free,
the leader's card says so without the reason, nothing is collected, and the month's tally counts
the cost. Also the CLI for stock, outlets and support. Real app, real database, signed texts."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import db.ledger
import db.orders
import db.people
import db.stock
from db.models import Leader, Task
from db.session import Database
from gateway.channels.http_api.orders import order_json
from gateway.channels.telegram.messages import TelegramMessages
from gateway.orders import support
from gateway.orders.ledger import amount_to_collect
from gateway.templates import Templates
from tests.sms.conftest import GRANDMA, Texter, fake_twilio, sms_settings, start_app, texter
from tests.supply.test_purchasing import run

__all__ = ["fake_twilio", "run", "sms_settings", "start_app", "texter"]  # fixtures used here

AUNT = "+8613800000003"  # 张阿姨, 余村
SHANGHAI = ZoneInfo("Asia/Shanghai")


def today() -> date:
    from datetime import datetime

    return datetime.now(SHANGHAI).date()


async def grant(database: Database, phone: str, until: date | None = None, **kw: Any) -> None:
    async with database.session() as s:
        await support.grant(s, phone, approved_by=kw.pop("approved_by", "民政办 周主任"),
                            until=until, category=kw.pop("category", "低保"),
                            reason=kw.pop("reason", "独居，无收入"), actor="operator:test",
                            today=today())


async def only_order(database: Database, phone: str) -> Any:
    async with database.session() as s:
        found, _ = await db.orders.list_orders(s, phone=phone)
        [order] = found
        return order


async def test_a_supported_household_orders_for_free_and_the_card_keeps_the_reason(
        texter: Texter, demo_database: Database, settings: Any) -> None:
    await grant(demo_database, GRANDMA, until=today() + timedelta(days=30))
    reply = await texter.text("大米两袋")
    assert "共90元" in reply  # the read-back still says what it costs
    confirmed = await texter.text("1")
    assert "这单不用付钱" in confirmed and "货到付款" not in confirmed, confirmed
    order = await only_order(demo_database, GRANDMA)
    assert order.supported is True and amount_to_collect(order) == Decimal(0)
    assert order_json(order)["supported"] is True
    leader = Leader(id=1, name="吴团长", phone="+8613900000009", lat=30.6, lon=119.7,
                    locale="zh-CN", invite_code="x")
    text, _ = TelegramMessages(Templates(), settings).card(
        leader, Task(id=1, order_id=order.id, leader_id=1), order, "offered")
    assert "在册帮扶户：无需收款" in text
    assert "低保" not in text and "独居" not in text and "周主任" not in text  # never why
    assert "应收" not in text


async def test_expired_or_revoked_support_is_paid_again(texter: Texter,
                                                         demo_database: Database) -> None:
    async with demo_database.session() as s:
        resident = await db.people.resident_by_phone(s, GRANDMA)
        assert resident is not None
        # Granted last month until yesterday: no longer valid today.
        await db.stock.add_grant(s, resident_id=resident.id, kind="grant", category="特困",
                                 approved_by="x", until=today() - timedelta(days=1),
                                 reason="", actor="t")
    await texter.text("大米两袋")
    assert "共90元，货到付款" in await texter.text("1")
    order = await only_order(demo_database, GRANDMA)
    assert order.supported is False and amount_to_collect(order) == Decimal("90.00")

    await grant(demo_database, AUNT)  # no end
    async with demo_database.session() as s:
        await support.revoke(s, AUNT, actor="operator:test", reason="收入恢复")
        aunt = await db.people.resident_by_phone(s, AUNT)
        assert aunt is not None and not await support.supported_on(s, aunt.id, today())
    await texter.text("大米一袋", phone=AUNT)
    assert "货到付款" in await texter.text("1", phone=AUNT)


async def test_grants_are_refused_without_approver_in_the_past_or_for_strangers(
        demo_database: Database) -> None:
    async with demo_database.session() as s:
        with pytest.raises(support.SupportError, match="approved"):
            await support.grant(s, GRANDMA, approved_by=" ", until=None, actor="t",
                                today=today())
        with pytest.raises(support.SupportError, match="past"):
            await support.grant(s, GRANDMA, approved_by="x", until=date(2020, 1, 1),
                                actor="t", today=today())
        with pytest.raises(support.SupportError, match="no resident"):
            await support.grant(s, "+8613899999999", approved_by="x", until=None, actor="t",
                                today=today())
    with pytest.raises(support.SupportError):
        support.parse_month("2026/12")
    assert support.parse_month("2026-2") == date(2026, 2, 1)


async def test_delivered_supported_orders_are_tallied_by_month_with_no_cash(
        texter: Texter, demo_database: Database) -> None:
    await grant(demo_database, GRANDMA)
    await texter.text("大米两袋，鸡蛋一板")
    await texter.text("1")
    order = await only_order(demo_database, GRANDMA)
    async with demo_database.session() as s:
        leader = (await db.people.list_leaders(s))[0]
        order = await db.orders.get(s, order.id, for_update=True)
        assert order is not None
        order.leader_id = leader.id
        from gateway.orders.ledger import CashOnDelivery

        for status in ("assigned", "accepted", "purchased", "delivered"):
            event = await db.orders.add_event(s, order, status, actor=f"leader:{leader.id}")
            await CashOnDelivery().on_event(s, order, event)
        assert await db.ledger.of_order(s, order.id) == []  # nothing collected, nothing owed
        result = await support.tally(s, today().replace(day=1), SHANGHAI)
        assert [(r.order_id, r.name, r.amount) for r in result.rows] == [
            (order.id, "王奶奶", Decimal("118.00"))]
        assert (result.total, result.households, result.unpriced) == (Decimal("118.00"), 1, 0)
        nxt = today().replace(day=28) + timedelta(days=5)
        assert (await support.tally(s, nxt.replace(day=1), SHANGHAI)).rows == []


def test_cli_stock_outlets_and_support(run: Any, db_url: str) -> None:
    from gateway.orders.demo import load_demo

    async def setup() -> None:
        database = Database(db_url)
        try:
            await load_demo(database, "zh-CN")
        finally:
            await database.dispose()

    asyncio.run(setup())
    assert "nothing is out of stock" in run("stock", "list").output
    assert "eggs out of stock in 鲁家村" in run("stock", "out", "eggs", "--village",
                                                "鲁家村").output
    assert "(already)" in run("stock", "out", "eggs", "--village", "鲁家村").output
    assert "eggs out of stock everywhere" in run("stock", "out", "eggs").output
    listed = run("stock", "list").output
    assert "鲁家村" in listed and "everywhere" in listed and listed.count("eggs") == 2
    bad = run("stock", "out", "caviar", ok=False)
    assert bad.exit_code == 1 and "caviar" in bad.output
    back = run("stock", "in", "eggs").output
    assert "eggs back in stock" in back and "0 follow-up orders" in back
    assert "nothing is out of stock" in run("stock", "list").output

    out = run("outlets", "add", "--name", "鲁家村服务站", "--village", "鲁家村").output
    assert "added outlet 鲁家村服务站 (鲁家村)" in out
    assert "updated outlet" in run("outlets", "add", "--name", "鲁家村服务站",
                                   "--village", "鲁家村").output
    assert "staff on Telegram: 0" in run("outlets", "list").output

    ok = run("residents", "support", "--phone", GRANDMA, "--by", "民政办",
             "--until", "2099-12-31", "--category", "低保").output
    assert f"{GRANDMA} is a supported household until 2099-12-31" in ok
    assert run("residents", "support", "--phone", GRANDMA, "--by", "x", "--until",
               "2020-01-01", ok=False).exit_code == 1
    assert run("residents", "support", "--phone", "+8613899999999", "--by", "x",
               ok=False).exit_code == 1
    assert "no longer" in run("residents", "unsupport", "--phone", GRANDMA).output
    tally = run("support", "tally", "--month", "2026-12", "--format", "csv").output
    assert next(csv.reader(io.StringIO(tally))) == ["month", "order", "day", "name",
                                                      "village", "amount"]
    assert "2026-11: 0 orders" in run("support", "tally", "--month", "2026-11").output
    assert run("support", "tally", "--month", "11/2026", ok=False).exit_code == 1
