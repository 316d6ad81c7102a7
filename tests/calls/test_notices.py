"""Spoken notices of an order's key steps (issue 20): short calls saying the step twice with
"press 1 if you heard this", per each person's `notify`; texts held back for `call` and sent
only when nobody heard. Real app, signed webhooks, the Twilio stand-in, a real database."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

import db.orders
import db.outbox
import db.people
import db.proxies
import db.tasks
from db.models import Order, Resident, utcnow
from db.session import Database
from gateway.app import PARTS as ALL_PARTS
from gateway.orders.demo import join_demo_leaders
from gateway.orders.events import announce_created, change_status
from gateway.orders.fulfilment import Fulfilment, RunRequest
from gateway.orders.stock import mark_out
from tests.calls.conftest import (
    OPERATOR_CHAT,
    WANG,
    Gateway,
    outbox,
    says,
    set_notify,
    voice_calls,
    wait_calls,
    wait_for,
)

WU = "+8613900000001"  # 吴团长, 鲁家村
FENG = "+8613900000004"  # 冯团长, the run's leader
ZHAO = "+8613800000006"  # 赵爷爷, 大竹园村
SON = "+8613700000001"
GRANDCHILD = "+8613700000002"
RICE = {"sku": "rice", "name": "大米", "quantity": 2, "unit": "袋"}


async def new_order(s: Any, phone: str, channel: str = "sms", status: str = "confirmed",
                    items: list[dict[str, Any]] | None = None) -> Order:
    resident = await db.people.resident_by_phone(s, phone)
    assert resident is not None
    return await db.orders.create(s, channel=channel, phone=phone, status=status, actor="test",
                                  resident=resident, locale=resident.locale,
                                  items=items or [RICE])


async def accepted(gw: Gateway, database: Database, phone: str = WANG) -> int:
    """An order of `phone` taken by 吴团长, through the real listeners."""
    listeners = gw.services.listeners
    async with database.session() as s:
        order = await new_order(s, phone)
        leader = await db.people.leader_by_phone(s, WU)
        assert leader is not None
        order.leader_id, order.leader = leader.id, leader
        await change_status(s, order, "assigned", actor="dispatcher", listeners=listeners)
        await change_status(s, order, "accepted", actor=f"leader:{leader.id}",
                            listeners=listeners)
        order_id = order.id
    gw.services.outbox.wake()
    return order_id


async def held_text(database: Database, order_id: int, status: str, suffix: str = "") -> Any:
    async with database.session() as s:
        order = await db.orders.get(s, order_id)
        assert order is not None
        [event] = [e for e in order.events if e.to_status == status]
    key = db.outbox.event_sms_key(order_id, event.id) + suffix
    [row] = [r for r in await outbox(database, "sms") if r.idempotency_key == key]
    return row


async def test_a_notice_pressed_1_is_heard_and_no_text_is_sent(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start()
    order_id = await accepted(gw, demo_database)
    [call] = await wait_calls(gw.fake, 1)
    [vc] = await voice_calls(demo_database)
    assert call.to == WANG and call.url.endswith(f"/twilio/voice/notice?vc={vc.id}&try=1")
    xml = await gw.answer(call)
    said = says(xml)
    assert said[0].startswith("王奶奶您好，这里是门口送。"), said
    assert f"您的订单{order_id}号，吴团长已经接单" in said[0] and said[0].endswith("听到了请按1。")
    assert said[1].startswith("再说一遍：") and "吴团长已经接单" in said[1]  # said twice
    gather = ET.fromstring(xml).find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert 'language="zh-CN"' in xml
    assert says(await gw.press(call, xml, "1")) == ["好的，谢谢！再见！"]
    await gw.ended(call, "completed", duration=25)
    await asyncio.sleep(0.5)
    assert gw.fake.bodies_to(WANG) == [] and len(gw.fake.calls) == 1
    [vc] = await voice_calls(demo_database)
    assert (vc.kind, vc.status, vc.order_id, vc.tries) == ("notice", "heard", order_id, 1)
    held = await held_text(demo_database, order_id, "accepted")  # delivered by the call
    assert (held.status, held.vendor_id) == ("sent", call.sid)


async def test_a_notice_nobody_hears_falls_back_to_the_text_and_the_operators(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start()
    order_id = await accepted(gw, demo_database)
    [first] = await wait_calls(gw.fake, 1)
    xml = await gw.answer(first)  # picked up, but 1 is never pressed
    assert says(await gw.press(first, xml, "5"))[0].startswith("好的，再说一遍。")  # again
    await gw.ended(first, "completed", duration=30)
    calls = await wait_calls(gw.fake, 2)
    await gw.ended(calls[1], "busy")
    calls = await wait_calls(gw.fake, 3)
    assert gw.fake.bodies_to(WANG) == []  # held while the calls are tried
    await gw.ended(calls[2], "no-answer")
    [text] = await wait_for(lambda: gw.fake.bodies_to(WANG))
    assert f"您的订单{order_id}号已由团长吴团长接单" in text
    await asyncio.sleep(0.4)
    assert len(gw.fake.calls) == 3
    [vc] = await voice_calls(demo_database)
    assert (vc.status, vc.tries, vc.last_outcome) == ("gave_up", 3, "no-answer")
    [alert] = [r for r in await outbox(demo_database, "telegram") if "语音通知" in r.body]
    assert alert.recipient == str(OPERATOR_CHAT)
    assert f"打给{WANG}的语音通知打了3次都没人听到，已改发短信" in alert.body
    assert "吴团长已经接单" in alert.body  # what it said


async def test_both_texts_at_once_and_calls(start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "both")
    gw = await start()
    order_id = await accepted(gw, demo_database)
    [call] = await wait_calls(gw.fake, 1)
    [text] = await wait_for(lambda: gw.fake.bodies_to(WANG))
    assert f"订单{order_id}号已由团长吴团长接单" in text and call.to == WANG
    xml = await gw.answer(call)
    await gw.press(call, xml, "1")
    [vc] = await voice_calls(demo_database)
    assert vc.status == "heard" and vc.fallback_text == ""


async def test_sms_residents_get_no_calls(start: Any, demo_database: Database) -> None:
    gw = await start()
    await accepted(gw, demo_database)
    await wait_for(lambda: gw.fake.bodies_to(WANG))
    await asyncio.sleep(0.3)
    assert gw.fake.calls == [] and await voice_calls(demo_database) == []


async def test_proxies_are_told_by_their_own_preference(
        start: Any, demo_database: Database) -> None:
    async with demo_database.session() as s:
        resident = await db.people.resident_by_phone(s, WANG)
        assert resident is not None
        await db.proxies.add(s, resident=resident, phone=SON, name="王强", relation="妈妈",
                             notify="call")
        await db.proxies.add(s, resident=resident, phone=GRANDCHILD, name="王小明",
                             relation="奶奶", notify="sms")
    gw = await start()
    order_id = await accepted(gw, demo_database)
    [call] = await wait_calls(gw.fake, 1)
    assert call.to == SON
    said = says(await gw.answer(call))
    assert said[0].startswith(f"您好，这里是门口送。妈妈的订单{order_id}号，吴团长已经接单"), said
    await wait_for(lambda: gw.fake.bodies_to(WANG) and gw.fake.bodies_to(GRANDCHILD))
    assert gw.fake.bodies_to(GRANDCHILD)[0].startswith("【奶奶】")
    # nobody answers the son: he gets the text too, marked with whom it is about
    await gw.ended(call, "no-answer")
    calls = await wait_calls(gw.fake, 2)
    await gw.ended(calls[1], "no-answer")
    calls = await wait_calls(gw.fake, 3)
    await gw.ended(calls[2], "no-answer")
    [text] = await wait_for(lambda: gw.fake.bodies_to(SON))
    assert text.startswith("【妈妈】") and f"订单{order_id}号" in text
    held = await held_text(demo_database, order_id, "accepted", ":p1")
    assert held.status == "sent" and held.recipient == SON


async def test_long_unassigned_is_spoken_once(start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start(workers=False)
    sms = gw.services.resident_sms
    assert sms is not None and "unassigned" in sms.delayed
    async with demo_database.session() as s:
        order = await new_order(s, WANG)
        await change_status(s, order, "unassigned", actor="dispatcher",
                            listeners=gw.services.listeners)
    later = utcnow() + timedelta(hours=1)
    async with demo_database.session() as s:
        [(order, event)] = await db.tasks.long_unassigned(s, later)
        assert await sms.send(s, order, event)
    async with demo_database.session() as s:  # the held text counts as told: asked once
        assert await db.tasks.long_unassigned(s, later) == []
    [vc] = await voice_calls(demo_database)
    assert "暂时没有团长能接" in vc.text and vc.fallback_text.startswith("您的订单")


async def test_goods_out_of_stock_on_an_order_taken_for_her_are_spoken(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start(workers=False)
    async with demo_database.session() as s:
        await mark_out(s, "rice", actor="test")
    for channel in ("sms", "console"):  # her own text named it; an operator's entry did not
        async with demo_database.session() as s:
            order = await new_order(s, WANG, channel=channel,
                                    items=[RICE, {"sku": "eggs", "name": "鸡蛋", "quantity": 1}])
            await announce_created(s, order, gw.services.listeners)
            order_id = order.id
    [vc] = await voice_calls(demo_database)
    assert vc.order_id == order_id and vc.key == f"notice|order:{order_id}:short:sms"
    assert f"您的订单{order_id}号里的大米现在缺货，有货后再送。" in vc.text
    [held] = [r for r in await outbox(demo_database, "sms")
              if r.idempotency_key == f"order:{order_id}:short:sms"]
    assert held.status == "pending" and held.next_attempt_at > utcnow() + timedelta(minutes=30)


async def test_the_run_an_order_goes_on_is_spoken(start: Any, demo_database: Database) -> None:
    await join_demo_leaders(demo_database, 7_100_000)
    await set_notify(demo_database, ZHAO, "both")
    async with demo_database.session() as s:  # far from every leader: it waits, unassigned
        await s.execute(update(Resident).where(Resident.phone == ZHAO).values(lat=31.5,
                                                                              lon=121.0))
    gw = await start(workers=False, parts=tuple(ALL_PARTS), unassigned_sms_minutes=0)
    services = gw.services
    async with demo_database.session() as s:
        order = await new_order(s, ZHAO)
        await announce_created(s, order, services.listeners)
        order_id = order.id
    assert services.dispatcher is not None
    await services.dispatcher.run_once()
    async with demo_database.session() as s:
        assert (await s.get(Order, order_id)).status == "unassigned"  # type: ignore[union-attr]
        leader = await db.people.leader_by_phone(s, FENG)
        assert leader is not None
    tomorrow_9 = (utcnow().astimezone(Fulfilment.of(services).tz) + timedelta(days=1)) \
        .replace(hour=9, minute=0, second=0, microsecond=0)
    async with demo_database.session() as s:
        await Fulfilment.of(services).create_run(s, RunRequest(
            villages=["大竹园村"], departs_at=tomorrow_9,
            cutoff_at=tomorrow_9 - timedelta(hours=2), leader_id=leader.id), actor="test")
    services.runs_active.invalidate()
    async with demo_database.session() as s:
        order = (await s.execute(select(Order).where(Order.id == order_id))).scalar_one()
        assert order.fulfil_kind == "run"
    spoken = [v for v in await voice_calls(demo_database) if "流动超市" in v.text]
    assert len(spoken) == 1, [v.key for v in await voice_calls(demo_database)]
    # keyed like the text it speaks (the run's text: order:<id>:event:<assigned>:sms)
    [texted] = [r for r in await outbox(demo_database, "sms") if "流动超市" in r.body]
    assert spoken[0].key == f"notice|{texted.idempotency_key}"
    assert spoken[0].phone == ZHAO and spoken[0].fallback_text == ""  # texted anyway
    assert f"您的订单{order_id}号由流动超市送来：明天上午9点到村口，请到时来取。" in spoken[0].text


async def test_a_korean_notice_is_said_in_korean(start: Any, demo_database: Database) -> None:
    async with demo_database.session() as s:
        await db.people.upsert_resident(s, "+821000000009", name="김순자", village="鲁家村",
                                        lat=30.6012, lon=119.7005, locale="ko-KR", notify="call")
    gw = await start()
    await accepted(gw, demo_database, "+821000000009")
    [call] = await wait_calls(gw.fake, 1)
    xml = await gw.answer(call)
    said = says(xml)
    assert 'language="ko-KR"' in xml
    assert said[0].startswith("김순자님, 안녕하세요, 도어스텝입니다. 주문"), said
    assert "吴团长 팀장님이 맡았습니다" in said[0] and said[0].endswith("1번을 눌러 주세요.")
    assert says(await gw.press(call, xml, "1")) == ["네, 감사합니다. 안녕히 계세요!"]


async def test_a_notice_that_cannot_be_placed_is_texted_at_once(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start()
    gw.fake.fail_next_call(1, status=400, code=21211)  # Twilio refuses the number
    order_id = await accepted(gw, demo_database)
    [text] = await wait_for(lambda: gw.fake.bodies_to(WANG))
    assert f"您的订单{order_id}号已由团长吴团长接单" in text
    assert gw.fake.calls == []
    [vc] = await voice_calls(demo_database)
    assert (vc.status, vc.last_outcome) == ("gave_up", "failed")
