"""A later text that takes back or changes a line edits the draft; a repeat keeps what is added.

Real app, signed texts, demo catalogue (萝卜 = white radish, 葱 = scallions, 盐 = salt).
"""

from __future__ import annotations

from sqlalchemy import select

from db.models import Order
from db.session import Database
from tests.sms.conftest import Texter


async def _confirmed_items(database: Database) -> list[tuple[str, int, str]]:
    async with database.session() as s:
        order = (await s.execute(select(Order).order_by(Order.id.desc()))).scalars().first()
        assert order is not None and order.status in ("confirmed", "assigned", "unassigned")
        return sorted((i.sku, int(i.quantity), i.unit) for i in order.items)


async def test_a_later_text_takes_a_line_back(texter: Texter, demo_database: Database) -> None:
    await texter.text("萝卜两斤，葱一把")
    reply = await texter.text("萝卜不要了")
    assert "已去掉萝卜" in reply and "大葱1把" in reply and "白萝卜" not in reply
    await texter.text("1")
    assert await _confirmed_items(demo_database) == [("scallions", 1, "把")]


async def test_a_later_text_changes_a_count(texter: Texter, demo_database: Database) -> None:
    await texter.text("黄瓜两斤")
    reply = await texter.text("黄瓜改成三斤")
    assert "黄瓜3斤" in reply
    await texter.text("1")
    assert await _confirmed_items(demo_database) == [("cucumbers", 3, "斤")]


async def test_taking_back_everything_ends_the_draft(texter: Texter, demo_database: Database
                                                     ) -> None:
    await texter.text("萝卜两斤")
    reply = await texter.text("萝卜不要了")
    assert "已作废" in reply
    assert "没有待确认的订单" in await texter.text("1")
    async with demo_database.session() as s:
        assert (await s.execute(select(Order))).scalars().first() is None


async def test_repeat_with_an_added_item(texter: Texter, demo_database: Database) -> None:
    await texter.text("大米两袋")
    await texter.text("1")
    reply = await texter.text("还是上次那些，再加一袋盐")
    assert "大米2袋" in reply and "食盐1" in reply
    await texter.text("1")
    assert await _confirmed_items(demo_database) == [("rice", 2, "袋"), ("salt", 1, "袋")]
