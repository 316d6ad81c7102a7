"""Village runs and pickup points on Telegram (issue 17): the run's leader gets the picking list
and the stop lists with delivered / not home buttons at the cut-off, `/run` shows them again,
pickup staff see `/slots` with pickup numbers and mark collected, operators get the call for
a run. The real gateway (webhook mode) against the Bot API emulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

import db.runs
from db.models import Outbox, utcnow
from gateway.channels.telegram.runs import RunPress
from gateway.orders.fulfilment import Fulfilment, RunRequest, save_pickup_point
from tests.telegram.conftest import HOME, OPERATOR_CHAT, Harness

LEADER = 4101
OTHER = 4102
STAFF = 4103
EGGS = {"sku": "eggs", "name": "鸡蛋", "quantity": 1, "unit": "板"}


async def texts_to(gw: Harness, phone: str) -> list[str]:
    async with gw.services.db.session() as s:
        rows = (await s.execute(select(Outbox).where(Outbox.recipient == phone,
                                                     Outbox.channel == "sms")
                                .order_by(Outbox.id))).scalars()
        return [r.body for r in rows]


async def run_with_two_households(gw: Harness, cutoff_in: float = 2.0) -> tuple[Any, int, int]:
    leader = await gw.leader(LEADER, "冯团长", *HOME)
    await gw.leader(OTHER, "吴团长", HOME[0] + 0.01, HOME[1])
    now = utcnow()
    departs = now + timedelta(hours=3)
    async with gw.services.db.session() as s:
        run, _ = await Fulfilment.of(gw.services).create_run(s, RunRequest(
            villages=["鲁家村"], departs_at=departs, cutoff_at=now + timedelta(seconds=cutoff_in),
            leader_id=leader.id, vehicle="浙E·1号",
            stops=[("鲁家村村口", None, None, departs + timedelta(minutes=30), "鲁家村")]),
            actor="test")
        run_id = run.id
    await gw.emu.wait_message(LEADER, f"新的流动超市车次 #{run_id}")
    wang = await gw.resident()
    li = await gw.resident("+8613800000002", "李爷爷")
    first = await gw.order(wang)  # 大米2袋, 猪肉1.5斤
    second = await gw.order(li, [RICE_ONE, EGGS])
    await gw.wait_status(first, "assigned")
    await gw.wait_status(second, "assigned")
    return leader, first, second


RICE_ONE = {"sku": "rice", "name": "大米", "quantity": 1, "unit": "袋"}


async def test_picking_list_at_the_cut_off_and_presses_at_the_stop(gw: Harness) -> None:
    leader, first, second = await run_with_two_households(gw)
    picking = await gw.emu.wait_message(LEADER, "采购单（", timeout=15)
    text = picking["text"]
    assert "大米 3袋（2 户）" in text and "猪肉 1.5斤（1 户）" in text \
        and "鸡蛋 1板（1 户）" in text, text
    assert "2 户" in text.splitlines()[0]
    stop = await gw.emu.wait_message(LEADER, "鲁家村村口", buttons=True)
    assert "王奶奶 +8613800000001：大米2袋、猪肉1.5斤" in stop["text"], stop["text"]
    assert "李爷爷 +8613800000002：大米1袋、鸡蛋1板" in stop["text"]
    assert (await gw.get_order(first)).status == "accepted"
    labels = [b["text"] for row in stop["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["送达 王奶奶", "不在家 王奶奶", "送达 李爷爷", "不在家 李爷爷"]

    other = await gw.emu.press(OTHER, stop, "送达 王奶奶")
    assert "不是您的车次" in (await gw.emu.wait_answer(other))["text"]
    cb = await gw.emu.press(LEADER, stop, "送达 王奶奶")
    assert (await gw.emu.wait_answer(cb))["text"] == "已记录"
    await gw.wait_status(first, "delivered")
    edited = await gw.emu.wait_message(LEADER, "✅ 已送达")
    labels = [b["text"] for row in edited["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["送达 李爷爷", "不在家 李爷爷"]
    again = await gw.emu.press_data(LEADER, edited, RunPress(order_id=first, action="d").pack())
    assert (await gw.emu.wait_answer(again))["text"] == "已经记录过了"

    cb = await gw.emu.press(LEADER, edited, "不在家 李爷爷")
    await gw.emu.wait_answer(cb)
    order = await gw.wait_status(second, "unassigned")
    assert order.events[-1].reason.startswith("not home at the stop of run")
    edited = await gw.emu.wait_message(LEADER, "🚪 不在家")
    assert not edited.get("reply_markup")
    sms = await texts_to(gw, "+8613800000002")
    assert any("没等到您" in t and f"订单{second}号" in t for t in sms), sms
    assert any(f"订单{first}号已送达" in t for t in await texts_to(gw, "+8613800000001"))
    await gw.emu.wait_message(OPERATOR_CHAT, f"订单{second}号无人接单")
    # /run shows the lists again, with the states as they are now
    await gw.emu.send_text(LEADER, "/run")
    await gw.emu.wait_for(lambda: len([m for m in gw.emu.texts(LEADER) if "采购单（" in m]) == 2)
    assert (await gw.get_order(first)).leader_id == leader.id


async def test_run_ahead_and_no_run(gw: Harness) -> None:
    await run_with_two_households(gw, cutoff_in=3600)
    await gw.emu.send_text(LEADER, "/run")
    notice = await gw.emu.wait_message(LEADER, "已有 2 户下单")
    assert "村：鲁家村" in notice["text"] and "浙E·1号" in notice["text"]
    await gw.emu.send_text(OTHER, "/run")
    await gw.emu.wait_message(OTHER, "您现在没有流动超市的车次")


async def test_pickup_staff_see_slots_and_mark_collected(start_gateway: Any) -> None:
    gw = await start_gateway(pickup_lead_minutes=0)
    await gw.leader(LEADER, "冯团长", *HOME)
    async with gw.services.db.session() as s:
        point, _ = await save_pickup_point(s, name="东门供销社", village="鲁家村",
                                           place="东门", hours="00:00-23:59", slot_minutes=30,
                                           capacity=5, prefix="A")
        await db.runs.set_pickup_village(s, "鲁家村", point.id)
        code = point.invite_code
    wang = await gw.resident()
    oid = await gw.order(wang)
    order = await gw.wait_status(oid, "assigned")
    assert order.pickup_no == "A-1"
    await gw.emu.send_text(STAFF, f"/start {code}")
    await gw.emu.wait_message(STAFF, "东门供销社")
    await gw.emu.send_text(STAFF, "/help")
    await gw.emu.wait_message(STAFF, "/slots 今天的取货名单")
    day = order.slot_start.astimezone(Fulfilment.of(gw.services).tz).date()
    await gw.emu.send_text(STAFF, f"/slots {day.isoformat()}")
    slots = await gw.emu.wait_message(STAFF, "A-1 王奶奶", buttons=True)
    assert "大米2袋、猪肉1.5斤" in slots["text"] and "待取" in slots["text"]
    cb = await gw.emu.press(STAFF, slots, "已取 A-1")
    assert (await gw.emu.wait_answer(cb))["text"] == "已记录"
    await gw.wait_status(oid, "delivered")
    await gw.emu.wait_message(STAFF, "✅ 已取")
    assert any(f"订单{oid}号已取货" in t for t in await texts_to(gw, wang.phone))
    await gw.emu.send_text(STAFF, "/slots 12月5日")
    await gw.emu.wait_message(STAFF, "不是日期")


async def test_operators_are_called_to_schedule_a_run_once(start_gateway: Any) -> None:
    gw = await start_gateway(run_call_households=2)
    far = (HOME[0] + 1.0, HOME[1] + 1.0)  # no leader within reach: the orders wait
    a = await gw.resident("+8613800000003", "张阿姨", *far)
    b = await gw.resident("+8613800000004", "陈大伯", *far)
    await gw.order(a)
    await gw.order(b)
    alert = await gw.emu.wait_message(OPERATOR_CHAT, "请安排流动超市", timeout=15)
    assert "鲁家村已有 2 户下单" in alert["text"], alert["text"]
    await gw.dispatcher.run_once()
    await gw.dispatcher.run_once()
    assert len([t for t in gw.emu.texts(OPERATOR_CHAT) if "请安排流动超市" in t]) == 1
