"""An unassigned order says the real cause, and is offered again as soon as a leader can take
it: one joins, comes on duty, or gets room."""

from __future__ import annotations

from typing import Any

import db.leaders
import db.people
import db.tasks
from db.models import Leader
from gateway.dispatch.routing import LeaderSpot, why_none
from gateway.orders import reasons
from tests.telegram.conftest import HOME, Harness


def test_why_none_names_the_nearest_leader_and_the_cause() -> None:
    near = LeaderSpot(1, 30.601, 119.7, radius_km=5, capacity=2)
    far = LeaderSpot(2, 30.7, 119.7, radius_km=5, capacity=5)
    assert why_none(*HOME, [(near, False), (far, True)], {}).cause == "not_joined"
    off = LeaderSpot(1, 30.601, 119.7, radius_km=5, capacity=2, on_duty=False)
    assert why_none(*HOME, [(off, True)], {}).cause == "off_duty"
    got = why_none(*HOME, [(near, True)], {1: 2})
    assert got is not None and got.cause == "full" and round(got.distance_km, 1) == 0.1
    got = why_none(*HOME, [(far, True)], {})
    assert got is not None and got.cause == "too_far" and round(got.distance_km) == 11
    assert why_none(*HOME, [(near, True)], {}, exclude=[1]).cause == "tried"  # type: ignore[union-attr]
    assert why_none(*HOME, [], {}) is None


def test_reasons_read_back_as_codes() -> None:
    text = reasons.reason("not_joined", leader=3, km="0.2") + " (confirmed)"
    assert reasons.parse(text) is None
    said = reasons.render(text, lambda code, p: f"<{code}:{p.get('leader', '')}>")
    assert said == "<not_joined:3>（<confirmed:>）"
    assert reasons.render("病了", lambda c, p: "x") == "病了"
    assert reasons.parse("offered to leader 2 at 0.2 km (preferred)") == (
        "offered_preferred", {"leader": "2", "km": "0.2"})


async def _reason(gw: Harness, oid: int) -> str:
    order = await gw.get_order(oid)
    return order.events[-1].reason


async def test_unassigned_says_not_joined_then_is_offered_when_the_leader_joins(
        gw: Harness) -> None:
    ld = await gw.leader(4101, "吴团长", HOME[0] + 0.002, HOME[1], link=False)
    r = await gw.resident()
    oid = await gw.order(r)
    await gw.wait_status(oid, "unassigned")
    why = await _reason(gw, oid)
    assert why.startswith(f"nearest leader {ld.id} at 0.2 km has not joined Telegram"), why
    await gw.emu.send_text(4101, f"/start {ld.invite_code}")
    await gw.wait_status(oid, "assigned")  # no operator pressed anything
    await gw.card(4101, oid)


async def test_offered_again_when_a_leader_comes_on_duty(gw: Harness) -> None:
    ld = await gw.leader(4102, "郑团长", HOME[0] + 0.002, HOME[1], on_duty=False)
    r = await gw.resident()
    oid = await gw.order(r)
    await gw.wait_status(oid, "unassigned")
    assert "is off duty" in await _reason(gw, oid)
    async with gw.services.db.session() as s:
        leader: Any = await s.get(Leader, ld.id)
        await db.leaders.toggle_duty(s, leader)
    gw.services.wake_dispatcher()
    await gw.wait_status(oid, "assigned")


async def test_offered_again_when_a_leader_gets_room(gw: Harness) -> None:
    ld = await gw.leader(4103, "钱团长", HOME[0] + 0.002, HOME[1], capacity=1)
    r = await gw.resident()
    first = await gw.order(r)
    await gw.wait_status(first, "assigned")
    second = await gw.order(r)
    await gw.wait_status(second, "unassigned")
    assert "has no room" in await _reason(gw, second)
    async with gw.services.db.session() as s:
        [task] = [t for t in await db.tasks.open_tasks_of_order(s, first)]
    for action in ("accept", "delivered"):
        assert await gw.dispatcher.press(ld.id, task.id, action) == "ok"
    await gw.wait_status(second, "assigned")
