"""Changes made elsewhere (resident cancels, operator assigns by hand) reach the leader's card;
a Korean-speaking leader gets Korean labels."""

from __future__ import annotations

import db.orders
import db.tasks
from gateway.orders.events import change_status
from tests.telegram.conftest import HOME, Harness

NEAR = (HOME[0] + 0.004, HOME[1])


async def test_cancelled_order_withdraws_the_task(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    oid = await gw.order(await gw.resident())
    card = await gw.card(1001, oid, buttons=True)
    accept = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    async with gw.services.db.session() as s:
        o = await db.orders.get(s, oid)
        assert o is not None
        await change_status(s, o, "cancelled", actor="resident", reason="不要了",
                            listeners=gw.services.listeners)
    gw.services.outbox.wake()
    await gw.emu.wait_for(lambda: "订单已取消" in gw.card_text(1001, oid))
    assert "王奶奶" not in gw.card_text(1001, oid)
    async with gw.services.db.session() as s:
        assert [t.status for t in await db.tasks.tasks_of_order(s, oid)] == ["withdrawn"]
    cb = await gw.emu.press_data(1001, card, accept)   # a stale card in another client
    assert "不在您这里" in (await gw.emu.wait_answer(cb))["text"]


async def test_operator_assigns_an_unassigned_order_by_hand(gw: Harness) -> None:
    oid = await gw.order(await gw.resident())
    await gw.wait_status(oid, "unassigned")
    ld = await gw.leader(1001, "吴团长", 31.5, 120.5)  # far away: only a person would pick them
    await gw.assign_by_hand(oid, ld)
    card = await gw.card(1001, oid, buttons=True)
    await gw.emu.press(1001, card, "接单")
    await gw.wait_status(oid, "accepted")


async def test_korean_leader_gets_korean_labels(gw: Harness) -> None:
    async with gw.services.db.session() as s:
        import db.people
        ld, _ = await db.people.upsert_leader(s, "+821012345678", name="김팀장", lat=NEAR[0],
                                              lon=NEAR[1], locale="ko-KR")
    await gw.emu.send_text(1001, f"/start {ld.invite_code}")
    await gw.emu.wait_message(1001, "계정이 연결되었습니다")
    oid = await gw.order(await gw.resident())
    card = await gw.emu.wait_message(1001, f"주문 {oid}번", buttons=True)
    labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["수락", "할 수 없음"]
    assert "품목:" in card["text"]


async def test_reconfirmed_order_starts_a_new_round_with_everybody(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    oid = await gw.order(await gw.resident())
    card = await gw.card(1001, oid, buttons=True)
    await gw.emu.press(1001, card, "无法完成")
    await gw.wait_status(oid, "unassigned")           # the only leader declined
    async with gw.services.db.session() as s:
        o = await db.orders.get(s, oid)
        assert o is not None
        await change_status(s, o, "confirmed", actor="operator:admin", reason="try again",
                            listeners=gw.services.listeners)
    gw.services.wake_dispatcher()
    await gw.wait_status(oid, "assigned")
    async with gw.services.db.session() as s:
        assert [t.status for t in await db.tasks.tasks_of_order(s, oid)] == ["declined", "offered"]
