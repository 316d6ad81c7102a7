"""A standing order's weekly question asked by a call (issue 20: "asked by text or call"): for
someone who takes calls, "this week as usual? press 1, press 2 to skip", answered with a key
through the real webhooks; the texted question is held back for when nobody answers (calls
only) or sent anyway (both). Real app, the Twilio stand-in, a real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

import db.people
import db.standing
from db.models import Order, StandingRound, utcnow
from db.session import Database
from gateway.app import STANDING
from gateway.orders.standing import Phrase, Standing, deadline_of
from tests.calls.conftest import (
    WANG,
    outbox,
    says,
    set_notify,
    voice_calls,
    wait_calls,
    wait_for,
)

TZ = ZoneInfo("Asia/Shanghai")
EGGS = [{"sku": "eggs", "name": "鸡蛋", "quantity": 1, "unit": "板"}]


async def _asked(gw: Any, database: Database, *, unconfirmed: str = "skip") -> int:
    """王奶奶's standing order (every Tuesday, eggs), its round asked now; the round's id."""
    async with database.session() as s:
        resident = await db.people.resident_by_phone(s, WANG)
        so = await Standing.of(gw.services).create(
            s, resident=resident, items=EGGS, when=Phrase(1), unconfirmed=unconfirmed,
            created_by="test")
        so_id = so.id
    dl = deadline_of(so.start_date, TZ, "20:00")
    assert (await gw.app[STANDING].tick(now=dl - timedelta(hours=2)))["asked"] == 1
    async with database.session() as s:
        [rnd] = await db.standing.rounds_of(s, so_id)
    return rnd.id


async def _orders(database: Database) -> list[Order]:
    async with database.session() as s:
        return list((await s.execute(select(Order).where(Order.phone == WANG))).scalars())


async def test_a_standing_question_answered_1_on_the_phone_makes_the_order(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start()
    round_id = await _asked(gw, demo_database)
    [call] = await wait_calls(gw.fake, 1)
    [vc] = await voice_calls(demo_database)
    assert (vc.kind, vc.phone) == ("question", WANG)
    xml = await gw.answer(call)
    said = says(xml)
    assert said[0].startswith("王奶奶您好，这里是门口送。您") and "鸡蛋1板" in said[0], said
    assert said[0].endswith("照旧请按1，这周不要请按2。") and said[1].startswith("再说一遍")
    done = says(await gw.press(call, xml, "1"))
    [order] = await _orders(demo_database)
    assert done == [f"好的，这周照旧，已经下单了，订单{order.id}号。再见！"]
    assert order.status != "draft" and [it.sku for it in order.items] == ["eggs"]
    async with demo_database.session() as s:
        rnd = await s.get(StandingRound, round_id)
        assert rnd is not None and rnd.state == "ordered" and rnd.order_id == order.id
    [vc] = await voice_calls(demo_database)
    assert vc.status == "heard"
    [held] = [r for r in await outbox(demo_database, "sms")
              if r.idempotency_key == f"standing:ask:{round_id}"]
    assert held.status == "sent" and held.vendor_id == call.sid  # answered: never texted
    again = says(await gw.press(call, xml, "2"))  # a second key (or a second gateway)
    assert again == ["这周的固定订单已经定好了，不用再按了。再见！"]
    assert len(await _orders(demo_database)) == 1


async def test_a_standing_question_answered_2_skips_the_week(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "both")
    gw = await start()
    round_id = await _asked(gw, demo_database, unconfirmed="confirm")
    [texted] = [r for r in await outbox(demo_database, "sms")
                if r.idempotency_key == f"standing:ask:{round_id}"]
    assert "本周照旧吗？回复1确认，2跳过" in texted.body  # "both": the text goes anyway
    [call] = await wait_calls(gw.fake, 1)
    xml = await gw.answer(call)
    assert says(await gw.press(call, xml, "2")) == ["好的，这周不送了，下次照常问您。再见！"]
    async with demo_database.session() as s:
        rnd = await s.get(StandingRound, round_id)
        assert rnd is not None and rnd.state == "skipped"
    assert await _orders(demo_database) == []
    # The deadline passes: skipped stays skipped, even with "confirm when unanswered".
    await gw.app[STANDING].tick(now=utcnow() + timedelta(days=8))
    assert await _orders(demo_database) == []


async def test_a_wrong_key_repeats_and_an_unanswered_question_falls_back_to_the_text(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start()
    round_id = await _asked(gw, demo_database)
    [call] = await wait_calls(gw.fake, 1)
    xml = await gw.answer(call)
    again = says(await gw.press(call, xml, "7"))
    assert again[0].startswith("没听清，再说一遍。")
    assert await gw.ended(call, "completed", duration=20) == 200  # hung up, nothing pressed
    calls = await wait_calls(gw.fake, 2)
    await gw.ended(calls[1], "busy")
    calls = await wait_calls(gw.fake, 3)
    assert gw.fake.bodies_to(WANG) == []  # held while the calls are tried
    await gw.ended(calls[2], "no-answer")
    [text] = await wait_for(lambda: gw.fake.bodies_to(WANG))
    assert "本周照旧吗？回复1确认，2跳过" in text
    assert [a for a in await outbox(demo_database, "telegram")] == []  # no operator alert
    [vc] = await voice_calls(demo_database)
    assert vc.status == "gave_up"
    async with demo_database.session() as s:  # still open: a texted 1 or the deadline decides
        rnd = await s.get(StandingRound, round_id)
        assert rnd is not None and rnd.state == "asked"
