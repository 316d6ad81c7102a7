"""Every lifecycle transition, legal and illegal, in memory and through the database."""

from __future__ import annotations

import itertools

import pytest

import db.orders
from gateway.orders import lifecycle
from gateway.orders.lifecycle import IllegalTransition, Status, TRANSITIONS
from gateway.orders.events import change_status

ALL = list(Status)
LEGAL = [(a, b) for a in ALL for b in sorted(TRANSITIONS[a])]
ILLEGAL = [(a, b) for a, b in itertools.product(ALL, ALL) if b not in TRANSITIONS[a]]


def test_design_path_is_legal() -> None:
    path = ["draft", "confirmed", "assigned", "accepted", "purchased", "delivered"]
    for a, b in zip(path, path[1:]):
        assert lifecycle.check(a, b) == Status(b)


@pytest.mark.parametrize(("a", "b"), LEGAL)
def test_legal(a: Status, b: Status) -> None:
    assert lifecycle.can_move(a, b)
    assert lifecycle.check(a, b) is b


@pytest.mark.parametrize(("a", "b"), ILLEGAL)
def test_illegal(a: Status, b: Status) -> None:
    assert not lifecycle.can_move(a, b)
    with pytest.raises(IllegalTransition) as err:
        lifecycle.check(a, b)
    assert repr(a.value) in str(err.value) and repr(b.value) in str(err.value)


def test_final_states_go_nowhere() -> None:
    for s in lifecycle.FINAL:
        assert TRANSITIONS[s] == frozenset()
        with pytest.raises(IllegalTransition, match="final"):
            lifecycle.check(s, "draft")


def test_unknown_status() -> None:
    with pytest.raises(ValueError, match="unknown order status 'shipped'"):
        lifecycle.check("draft", "shipped")


def test_cancel_reachable_from_every_open_state() -> None:
    for s in ALL:
        if s not in lifecycle.FINAL:
            assert lifecycle.can_move(s, "cancelled")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[int, str | None, str]] = []

    async def on_event(self, session, order, event) -> None:  # noqa: ANN001
        self.seen.append((order.id, event.from_status, event.to_status))


async def test_each_transition_writes_an_event(database) -> None:  # noqa: ANN001
    rec = Recorder()
    async with database.session() as s:
        order = await db.orders.create(s, channel="sms", phone="+8613800000001", status="draft",
                                       actor="resident", items=[{"sku": "rice", "name": "大米",
                                                                 "quantity": 2, "unit": "袋"}])
        for to in ("confirmed", "assigned", "assigned", "accepted", "purchased", "delivered"):
            await change_status(s, order, to, actor="test", reason=f"to {to}", listeners=[rec])
        order_id = order.id
    async with database.session() as s:
        order = await db.orders.get(s, order_id)
        assert order is not None and order.status == "delivered"
        steps = [(e.from_status, e.to_status, e.actor) for e in order.events]
        assert steps == [(None, "draft", "resident"), ("draft", "confirmed", "test"),
                         ("confirmed", "assigned", "test"), ("assigned", "assigned", "test"),
                         ("assigned", "accepted", "test"), ("accepted", "purchased", "test"),
                         ("purchased", "delivered", "test")]
        assert [e.reason for e in order.events][1] == "to confirmed"
    assert [t for _, _, t in rec.seen] == ["confirmed", "assigned", "assigned", "accepted",
                                          "purchased", "delivered"]


async def test_illegal_transition_changes_nothing(database) -> None:  # noqa: ANN001
    async with database.session() as s:
        order = await db.orders.create(s, channel="console", phone="+8613800000001",
                                       status="draft", actor="op")
        order_id = order.id
    with pytest.raises(IllegalTransition):
        async with database.session() as s:
            order = await db.orders.get(s, order_id)
            assert order is not None
            await change_status(s, order, "delivered", actor="test")
    async with database.session() as s:
        order = await db.orders.get(s, order_id)
        assert order is not None
        assert order.status == "draft" and len(order.events) == 1
