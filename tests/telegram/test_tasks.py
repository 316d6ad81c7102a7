"""Orders offered to leaders on Telegram: the card, the buttons, hand-overs, resident SMS."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

import db.tasks
from db.models import OrderEvent, Outbox, Task, utcnow
from tests.telegram.conftest import HOME, Harness

NEAR = (HOME[0] + 0.004, HOME[1])   # about 450 m from the resident
FAR = (HOME[0] + 0.02, HOME[1])     # about 2.2 km


async def sms_bodies(gw: Harness, phone: str) -> list[str]:
    async with gw.services.db.session() as s:
        rows = (await s.execute(select(Outbox).where(Outbox.channel == "sms",
                                                     Outbox.recipient == phone)
                                .order_by(Outbox.id))).scalars().all()
        return [r.body for r in rows]


async def leader_name(gw: Harness, order_id: int) -> str | None:
    leader = (await gw.get_order(order_id)).leader
    return leader.name if leader else None


async def test_new_task_card_and_the_whole_way_to_delivery(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    r = await gw.resident()
    oid = await gw.order(r)
    card = await gw.card(1001, oid, buttons=True)
    text = card["text"]
    for part in ("王奶奶", "+8613800000001", "鲁家村3号", "大米 ×2袋", "猪肉 ×1.5斤", "0.4 公里"):
        assert part in text, part
    labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["接单", "无法完成"]
    order = await gw.wait_status(oid, "assigned")
    assert order.leader is not None and order.leader.name == "吴团长"

    cb = await gw.emu.press(1001, card, "接单")
    assert (await gw.emu.wait_answer(cb))["text"] == "好的"
    await gw.wait_status(oid, "accepted")
    card = await gw.card(1001, oid, buttons=True)
    await gw.emu.wait_for(lambda: "已接单" in gw.emu.messages(1001)[-1]["text"])
    card = gw.emu.messages(1001)[-1]
    labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["已买到", "已送达", "无法完成"]

    await gw.emu.press(1001, card, "已买到")
    await gw.wait_status(oid, "purchased")
    await gw.emu.wait_for(lambda: "已买到" in gw.emu.messages(1001)[-1]["text"].split("\n")[0])
    card = gw.emu.messages(1001)[-1]
    await gw.emu.press(1001, card, "已送达")
    await gw.wait_status(oid, "delivered")
    await gw.emu.wait_for(lambda: not gw.emu.messages(1001)[-1].get("reply_markup"))
    assert "已送达" in gw.emu.messages(1001)[-1]["text"]

    bodies = await sms_bodies(gw, r.phone)
    assert any("已由团长吴团长接单" in b for b in bodies)
    assert any("已送达" in b for b in bodies)
    async with gw.services.db.session() as s:
        task = (await s.execute(select(Task).where(Task.order_id == oid))).scalar_one()
        assert task.status == "done" and task.closed_at is not None
        assert task.telegram_message_id == card["message_id"]
        actors = [e.actor for e in (await s.execute(
            select(OrderEvent).where(OrderEvent.order_id == oid))).scalars()]
    assert actors[-3:] == [f"leader:{task.leader_id}"] * 3


async def test_decline_hands_the_order_to_the_next_nearest(gw: Harness) -> None:
    await gw.leader(1001, "近团长", *NEAR)
    await gw.leader(1002, "远团长", *FAR)
    oid = await gw.order(await gw.resident())
    card = await gw.card(1001, oid, buttons=True)
    assert gw.emu.messages(1002)[-1]["text"].startswith("欢迎")  # not offered to the far one
    await gw.emu.press(1001, card, "无法完成")
    second = await gw.card(1002, oid, buttons=True)
    assert "王奶奶" in second["text"]
    order = await gw.wait_status(oid, "assigned")
    assert order.leader is not None and order.leader.name == "远团长"
    # The first leader's card no longer shows the resident and has no buttons.
    await gw.emu.wait_for(lambda: "已退回" in gw.emu.messages(1001)[-1]["text"])
    first = gw.emu.messages(1001)[-1]
    assert "王奶奶" not in first["text"] and not first.get("reply_markup")
    # The second declines too: nobody is left, the order goes to the operators.
    await gw.emu.press(1002, second, "无法完成")
    await gw.wait_status(oid, "unassigned")


async def test_no_answer_in_time_goes_to_the_next(gw: Harness) -> None:
    await gw.leader(1001, "近团长", *NEAR)
    await gw.leader(1002, "远团长", *FAR)
    oid = await gw.order(await gw.resident())
    await gw.card(1001, oid, buttons=True)
    await gw.dispatcher.run_once(now=utcnow() + timedelta(minutes=14))
    assert await leader_name(gw, oid) == "近团长"
    await gw.dispatcher.run_once(now=utcnow() + timedelta(minutes=16))
    await gw.card(1002, oid, buttons=True)
    await gw.emu.wait_for(lambda: "超时" in gw.emu.messages(1001)[-1]["text"])
    async with gw.services.db.session() as s:
        tasks = await db.tasks.tasks_of_order(s, oid)
    assert tasks[0].status == "expired"
    assert tasks[1].status == "offered"
    # A late press on the expired card changes nothing.
    late = await gw.emu.press_data(1001, gw.emu.messages(1001)[-1] | {
        "reply_markup": None}, f"t:{tasks[0].id}:accept")
    assert "不在您这里" in (await gw.emu.wait_answer(late))["text"]
    assert await leader_name(gw, oid) == "远团长"


async def test_double_press_is_idempotent(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    oid = await gw.order(await gw.resident())
    card = await gw.card(1001, oid, buttons=True)
    first = await gw.emu.press(1001, card, "接单")
    second = await gw.emu.press(1001, card, "接单")
    answers = {(await gw.emu.wait_answer(first))["text"], (await gw.emu.wait_answer(second))["text"]}
    assert answers == {"好的", "已处理过了"}
    async with gw.services.db.session() as s:
        accepted = (await s.execute(select(OrderEvent).where(
            OrderEvent.order_id == oid, OrderEvent.to_status == "accepted"))).scalars().all()
    assert len(accepted) == 1
    assert sum("接单" in b for b in await sms_bodies(gw, "+8613800000001")) == 1


async def test_a_press_on_someone_elses_task_is_refused(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    await gw.leader(1002, "钱团长", *FAR)
    oid = await gw.order(await gw.resident())
    card = await gw.card(1001, oid, buttons=True)
    data = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    cb = await gw.emu.press_data(1002, card, data)
    answer = await gw.emu.wait_answer(cb)
    assert answer["text"] == "这不是您的订单" and answer.get("show_alert") in (True, "true")
    stranger = await gw.emu.press_data(3003, card, data)
    assert (await gw.emu.wait_answer(stranger))["text"] == "这不是您的订单"
    assert (await gw.get_order(oid)).status == "assigned"
    assert await leader_name(gw, oid) == "吴团长"


async def test_preferred_leader_first_and_full_or_off_duty_leaders_skipped(gw: Harness) -> None:
    await gw.leader(1001, "近团长", *NEAR, capacity=1)
    pref = await gw.leader(1002, "熟人团长", *FAR)
    r = await gw.resident(preferred_leader_id=pref.id)
    oid = await gw.order(r)
    await gw.card(1002, oid, buttons=True)
    await gw.emu.send_text(1002, "/duty")
    await gw.emu.wait_message(1002, "已下班")
    second = await gw.order(await gw.resident("+8613800000002", "李爷爷"))
    await gw.card(1001, second, buttons=True)     # nearest, now full (capacity 1)
    third = await gw.order(await gw.resident("+8613800000003", "张奶奶"))
    await gw.wait_status(third, "unassigned")     # one off duty, the other full


async def test_confirmed_orders_waiting_at_start_are_dispatched(start_gateway, database) -> None:
    import db.orders
    import db.people

    async with database.session() as s:
        r, _ = await db.people.upsert_resident(s, "+8613800000001", name="王奶奶",
                                               lat=HOME[0], lon=HOME[1])
        o = await db.orders.create(s, channel="voice", phone=r.phone, status="confirmed",
                                   actor="resident", resident_id=r.id,
                                   items=[{"sku": "rice", "name": "大米", "quantity": 1}])
        oid = o.id
    gw = await start_gateway(unassigned_sms_minutes=0)  # the resident is texted at once
    await gw.wait_status(oid, "unassigned")  # nobody linked yet: straight to the operators
    alert = await gw.emu.wait_message(-100777, f"订单{oid}号无人接单")
    assert "+8613800000001" in alert["text"] and "大米" in alert["text"]
    assert any("暂时没有团长" in b for b in await sms_bodies(gw, "+8613800000001"))
