"""Village runs and pickup points on Telegram (issue 17): the run's leader gets the picking list
and the stop lists with delivered / not home buttons at the cut-off, `/run` shows them again,
pickup staff see `/slots` with pickup numbers and mark collected, operators get the call for
a run. The real gateway (webhook mode) against the Bot API emulator."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

import db.runs
import db.stock
from db.models import Outbox, Product, utcnow
from gateway.channels.telegram.runs import PickupPress, RunPress
from gateway.orders import support
from gateway.orders.fulfilment import Fulfilment, RunRequest
from gateway.orders.fulfilment_forms import save_pickup_point
from tests.telegram.conftest import HOME, OPERATOR_CHAT, RICE, Harness

LEADER = 4101
OTHER = 4102
STAFF = 4103
KO_LEADER = 4104
EGGS = {"sku": "eggs", "name": "鸡蛋", "quantity": 1, "unit": "板"}
RICE_ONE = {"sku": "rice", "name": "大米", "quantity": 1, "unit": "袋"}


async def texts_to(gw: Harness, phone: str) -> list[str]:
    async with gw.services.db.session() as s:
        rows = (await s.execute(select(Outbox).where(Outbox.recipient == phone,
                                                     Outbox.channel == "sms")
                                .order_by(Outbox.id))).scalars()
        return [r.body for r in rows]


def labels(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return [b["text"] for row in markup["inline_keyboard"] for b in row]


async def schedule(gw: Harness, leader_id: int, *, cutoff_in: timedelta = timedelta(hours=1)
                   ) -> tuple[int, datetime]:
    """A run to 鲁家村 with one stop (departs in 3 hours); returns (run id, cut-off)."""
    now = utcnow()
    departs, cutoff = now + timedelta(hours=3), now + cutoff_in
    async with gw.services.db.session() as s:
        run, _ = await Fulfilment.of(gw.services).create_run(s, RunRequest(
            villages=["鲁家村"], departs_at=departs, cutoff_at=cutoff, leader_id=leader_id,
            vehicle="浙E·1号",
            stops=[("鲁家村村口", None, None, departs + timedelta(minutes=30), "鲁家村")]),
            actor="test")
        return run.id, cutoff


async def run_with_two_households(gw: Harness) -> tuple[Any, int, int, int, datetime]:
    """王奶奶 pays; 李爷爷 is a supported household (nothing to collect)."""
    leader = await gw.leader(LEADER, "冯团长", *HOME)
    await gw.leader(OTHER, "吴团长", HOME[0] + 0.01, HOME[1])
    run_id, cutoff = await schedule(gw, leader.id)
    await gw.emu.wait_message(LEADER, f"新的流动超市车次 #{run_id}")
    wang = await gw.resident()
    li = await gw.resident("+8613800000002", "李爷爷")
    async with gw.services.db.session() as s:
        s.add_all([Product(sku="rice", name="大米", unit="袋", price=Decimal(25)),
                   Product(sku="pork", name="猪肉", unit="斤", price=Decimal(18)),
                   Product(sku="eggs", name="鸡蛋", unit="板", price=Decimal(30))])
        await support.grant(s, li.phone, approved_by="村委会", until=None, actor="test",
                            today=utcnow().date())
    first = await gw.order(wang)  # 大米2袋, 猪肉1.5斤
    second = await gw.order(li, [RICE_ONE, EGGS])
    await gw.wait_status(first, "assigned")
    await gw.wait_status(second, "assigned")
    return leader, first, second, run_id, cutoff


async def test_picking_list_at_the_cut_off_and_presses_at_the_stop(gw: Harness) -> None:
    leader, first, second, run_id, cutoff = await run_with_two_households(gw)
    assert (await gw.get_order(first)).run_id == run_id
    assert not [t for t in gw.emu.texts(LEADER) if "采购单（" in t]  # not before the cut-off
    assert await gw.dispatcher.run_once(now=cutoff + timedelta(minutes=1)) >= 1

    picking = await gw.emu.wait_message(LEADER, "采购单（")
    lines = picking["text"].splitlines()
    assert lines[0].startswith(f"🧺 车次 #{run_id} 采购单（") and lines[0].endswith("，2 户）")
    assert lines[1:4] == ["大米 3袋（2 户）", "猪肉 1.5斤（1 户）", "鸡蛋 1板（1 户）"], lines
    assert lines[4] == "合计：3 种商品，2 户，应收 77 元，帮扶户 1 户免费。", lines
    stop = await gw.emu.wait_message(LEADER, "📍 鲁家村村口", buttons=True)
    assert f"· 车次 #{run_id}" in stop["text"].splitlines()[0]
    assert "1. 王奶奶 +8613800000001：大米2袋、猪肉1.5斤；收77元 · 待送" in stop["text"], \
        stop["text"]
    assert "2. 李爷爷 +8613800000002：大米1袋、鸡蛋1板；免费（帮扶户） · 待送" in stop["text"]
    assert labels(stop) == ["送达 1.王奶奶", "不在家 1.王奶奶", "送达 2.李爷爷", "不在家 2.李爷爷"]
    assert (await gw.get_order(first)).status == "accepted"

    # another leader's press changes nothing
    other = await gw.emu.press(OTHER, stop, "送达 1.王奶奶")
    assert (await gw.emu.wait_answer(other))["text"] == "这不是您的车次"
    assert (await gw.get_order(first)).status == "accepted"

    cb = await gw.emu.press(LEADER, stop, "送达 1.王奶奶")
    assert (await gw.emu.wait_answer(cb))["text"] == "已记录"
    order = await gw.wait_status(first, "delivered")
    assert order.events[-1].actor == f"leader:{leader.id}"
    edited = await gw.emu.wait_message(LEADER, "✅ 已送达")
    assert edited["message_id"] == stop["message_id"]
    assert "2. 李爷爷" in edited["text"] and "· 待送" in edited["text"]
    assert labels(edited) == ["送达 2.李爷爷", "不在家 2.李爷爷"]
    assert any(f"订单{first}号已送达" in t for t in await texts_to(gw, "+8613800000001"))
    # the same button again (an old copy of the list): already recorded
    again = await gw.emu.press_data(LEADER, edited, RunPress(
        order_id=first, action="d", first=first, last=second).pack())
    assert (await gw.emu.wait_answer(again))["text"] == "已经记录过了"

    cb = await gw.emu.press(LEADER, edited, "不在家 2.李爷爷")
    assert (await gw.emu.wait_answer(cb))["text"] == "已记录"
    order = await gw.wait_status(second, "unassigned")
    assert order.events[-1].reason == f"not home at the stop of run {run_id}"
    assert order.leader_id is None
    edited = await gw.emu.wait_message(LEADER, "🚪 不在家")
    assert "✅ 已送达" in edited["text"] and not edited.get("reply_markup")
    sms = await texts_to(gw, "+8613800000002")
    assert any("流动超市今天在鲁家村村口没等到您" in t and f"订单{second}号" in t for t in sms), sms
    await gw.emu.wait_message(OPERATOR_CHAT, f"订单{second}号无人接单")
    cb = await gw.emu.press_data(LEADER, edited, RunPress(
        order_id=second, action="n", first=first, last=second).pack())
    assert (await gw.emu.wait_answer(cb))["text"] == "已经记录过了"

    # /run shows the lists again, with the states as they are now
    before = len(gw.emu.messages(LEADER))
    await gw.emu.send_text(LEADER, "/run")
    await gw.emu.wait_for(lambda: len(gw.emu.messages(LEADER)) >= before + 2)
    again_picking, again_stop = gw.emu.messages(LEADER)[before:before + 2]
    assert again_picking["text"].splitlines()[0].endswith("，1 户）")  # 李爷爷 went back
    assert "1. 王奶奶" in again_stop["text"] and "✅ 已送达" in again_stop["text"] \
        and "🚪 不在家" in again_stop["text"] and not again_stop.get("reply_markup")


async def test_a_long_stop_list_is_cut_and_a_press_edits_its_own_part(gw: Harness) -> None:
    leader = await gw.leader(LEADER, "冯团长", *HOME)
    _, cutoff = await schedule(gw, leader.id)
    ids = []
    for n in range(1, 18):
        r = await gw.resident(f"+86138000001{n:02d}", f"居民{n}")
        ids.append(await gw.order(r, [RICE]))
    for oid in ids:
        await gw.wait_status(oid, "assigned")
    await gw.dispatcher.run_once(now=cutoff + timedelta(minutes=1))
    picking = await gw.emu.wait_message(LEADER, "采购单（")
    assert "大米 34袋（17 户）" in picking["text"]
    part2 = await gw.emu.wait_message(LEADER, "（第 16–17 户，共 17 户）")
    part1 = await gw.emu.wait_message(LEADER, "（第 1–15 户，共 17 户）")
    assert len(labels(part1)) == 30 and "15. 居民15" in part1["text"] \
        and "16. 居民16" not in part1["text"]
    assert labels(part2) == ["送达 16.居民16", "不在家 16.居民16", "送达 17.居民17",
                             "不在家 17.居民17"]

    cb = await gw.emu.press(LEADER, part2, "送达 16.居民16")
    assert (await gw.emu.wait_answer(cb))["text"] == "已记录"
    await gw.wait_status(ids[15], "delivered")
    edited = await gw.emu.wait_for(lambda: next(
        (m for m in gw.emu.messages(LEADER) if m["message_id"] == part2["message_id"]
         and "✅ 已送达" in m["text"]), None))
    assert "（第 16–17 户，共 17 户）" in edited["text"] and "17. 居民17" in edited["text"]
    assert labels(edited) == ["送达 17.居民17", "不在家 17.居民17"]
    assert len(labels(part1)) == 30 and "✅" not in part1["text"]  # the other part as it was


async def test_korean_leader_reads_korean(gw: Harness) -> None:
    leader = await gw.leader(KO_LEADER, "김팀장", *HOME, link=False, locale="ko-KR")
    await gw.emu.send_text(KO_LEADER, f"/start {leader.invite_code}")
    await gw.emu.wait_message(KO_LEADER, "연결되었습니다")
    run_id, cutoff = await schedule(gw, leader.id)
    notice = await gw.emu.wait_message(KO_LEADER, f"새 이동 슈퍼 운행 #{run_id}")
    assert "정차 1: 鲁家村村口" in notice["text"]  # the stop's own name
    resident = await gw.resident("+821000000001", "김순자", locale="ko-KR")
    oid = await gw.order(resident, [{"sku": "ko-rice", "name": "쌀", "quantity": 2,
                                     "unit": "포대"}])
    await gw.wait_status(oid, "assigned")
    await gw.dispatcher.run_once(now=cutoff + timedelta(minutes=1))
    picking = await gw.emu.wait_message(KO_LEADER, "🧺 운행")
    assert "쌀 2포대 (1가구)" in picking["text"]
    stop = await gw.emu.wait_message(KO_LEADER, "1. 김순자", buttons=True)
    assert labels(stop) == ["전달 1.김순자", "부재 1.김순자"]
    for text in (picking["text"], stop["text"]):
        body = text.replace("鲁家村村口", "")  # the stop's name is data, not our words
        assert not re.search(r"[\u4e00-\u9fff]|[A-Za-z]", body), text
    cb = await gw.emu.press(KO_LEADER, stop, "부재 1.김순자")
    assert (await gw.emu.wait_answer(cb))["text"] == "기록했습니다"
    await gw.wait_status(oid, "unassigned")
    await gw.emu.wait_message(KO_LEADER, "🚪 부재")


async def test_run_ahead_none_and_cancelled(gw: Harness) -> None:
    leader = await gw.leader(LEADER, "冯团长", *HOME)
    await gw.leader(OTHER, "吴团长", HOME[0] + 0.01, HOME[1])
    run_id, _ = await schedule(gw, leader.id)
    oid = await gw.order(await gw.resident())
    await gw.wait_status(oid, "assigned")
    await gw.emu.send_text(LEADER, "/run")
    notice = await gw.emu.wait_message(LEADER, f"即将出发的车次 #{run_id}")
    assert "村：鲁家村" in notice["text"] and "（浙E·1号）" in notice["text"]
    assert "第 1 站：鲁家村村口" in notice["text"] and "已有 1 户下单" in notice["text"]
    await gw.emu.send_text(OTHER, "/run")
    await gw.emu.wait_message(OTHER, "您现在没有流动超市的车次")
    await gw.emu.send_text(STAFF, "/run")  # neither a leader nor staff: the leaders' answer
    await gw.emu.wait_message(STAFF, "还没有绑定")

    async with gw.services.db.session() as s:
        await Fulfilment.of(gw.services).cancel_run(s, run_id, actor="test")
    cancelled = await gw.emu.wait_message(LEADER, f"❌ 车次已取消 #{run_id}")
    assert "不用再送" in cancelled["text"]
    await gw.emu.send_text(LEADER, "/run")
    await gw.emu.wait_for(lambda: gw.emu.texts(LEADER).count("您现在没有流动超市的车次。") == 1)


async def test_pickup_staff_see_slots_and_mark_collected(start_gateway: Any) -> None:
    gw = await start_gateway(pickup_lead_minutes=0)
    await gw.leader(LEADER, "冯团长", *HOME)
    async with gw.services.db.session() as s:
        point, _ = await save_pickup_point(s, name="东门供销社", village="鲁家村",
                                           place="东门", hours="00:00-23:59", slot_minutes=30,
                                           capacity=5, prefix="A")
        await db.runs.set_pickup_village(s, "鲁家村", point.id)
        shop, _ = await db.stock.add_outlet(s, name="西村服务站", village="西村", lat=None,
                                            lon=None)
        code, shop_code = point.invite_code, shop.invite_code
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
    assert slots["text"].startswith(f"📦 东门供销社 {day.month}月{day.day}日 ")
    assert "A-1 王奶奶 +8613800000001：大米2袋、猪肉1.5斤；" in slots["text"]
    assert slots["text"].endswith("· 待取")
    assert labels(slots) == ["已取 A-1 王奶奶"]

    # someone who is not the point's staff: nothing happens
    cb = await gw.emu.press(OTHER, slots, "已取 A-1 王奶奶")
    assert (await gw.emu.wait_answer(cb))["text"] == "这不是您网点的取货单"
    assert (await gw.get_order(oid)).status == "assigned"

    cb = await gw.emu.press(STAFF, slots, "已取 A-1 王奶奶")
    assert (await gw.emu.wait_answer(cb))["text"] == "已记录"
    order = await gw.wait_status(oid, "delivered")
    assert order.events[-1].reason == "collected at the pickup point, number A-1"
    edited = await gw.emu.wait_message(STAFF, "✅ 已取")
    assert edited["message_id"] == slots["message_id"] and not edited.get("reply_markup")
    assert any(f"订单{oid}号已取货" in t for t in await texts_to(gw, wang.phone))
    cb = await gw.emu.press_data(STAFF, edited, PickupPress(order_id=oid, first=oid,
                                                            last=oid).pack())
    assert (await gw.emu.wait_answer(cb))["text"] == "已经记录过了"

    await gw.emu.send_text(STAFF, "/slots 12月5日")
    await gw.emu.wait_message(STAFF, "“12月5日”不是日期")
    await gw.emu.send_text(STAFF, "/slots 2030-01-02")
    await gw.emu.wait_message(STAFF, "东门供销社 1月2日没有人来取货")
    # staff of an outlet that is no pickup point
    await gw.emu.send_text(STAFF + 10, f"/start {shop_code}")
    await gw.emu.wait_message(STAFF + 10, "西村服务站")
    await gw.emu.send_text(STAFF + 10, "/slots")
    await gw.emu.wait_message(STAFF + 10, "「西村服务站」不是自提点")


async def run_calls(gw: Harness) -> list[str]:
    """The calls for a run queued for the operators' chat (sent or not yet)."""
    async with gw.services.db.session() as s:
        rows = (await s.execute(select(Outbox.body).where(
            Outbox.recipient == str(OPERATOR_CHAT), Outbox.channel == "telegram")
            .order_by(Outbox.id))).scalars()
        return [b for b in rows if "请安排流动超市" in b]


async def test_operators_are_called_to_schedule_a_run_once(start_gateway: Any) -> None:
    gw = await start_gateway(run_call_households=2)
    far = (HOME[0] + 1.0, HOME[1] + 1.0)  # no leader within reach: the orders wait
    a = await gw.resident("+8613800000003", "张阿姨", *far)
    b = await gw.resident("+8613800000004", "陈大伯", *far)
    first = await gw.order(a)
    await gw.wait_status(first, "unassigned")
    await gw.dispatcher.run_once()
    assert await run_calls(gw) == []  # one household: below the threshold
    await gw.order(b)
    alert = await gw.emu.wait_message(OPERATOR_CHAT, "请安排流动超市", timeout=15)
    assert alert["text"].startswith("🚚 鲁家村已有 2 户下单，最早的已等 0 小时"), alert["text"]
    await gw.dispatcher.run_once()
    await gw.dispatcher.run_once()
    assert len(await run_calls(gw)) == 1
    assert len([t for t in gw.emu.texts(OPERATOR_CHAT) if "请安排流动超市" in t]) == 1
