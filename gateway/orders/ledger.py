"""Cash on delivery: what a leader collected for each delivered order and handed over to the
co-operative, as ledger entries that are only ever added.

At 已送达 the amount to collect is recorded as received (`CashOnDelivery`). A leader who got a
different amount says so with a reason (`record_received`), which adds a correction of the
difference; an operator records a hand-over (`record_handover`). The balance is the sum.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy.ext.asyncio import AsyncSession

import db.ledger
from db.models import Order, OrderEvent
from gateway.orders.pricing import CENT, order_total


class LedgerError(ValueError):
    """A ledger entry that cannot be made; `code` names why (for the leader's message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_amount(text: str) -> Decimal:
    """A non-negative amount of money from what a person typed ("80", "79.5", "80元")."""
    cleaned = text.strip().removesuffix("元").removesuffix("원").replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise LedgerError("bad_amount", f"{text!r} is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        raise LedgerError("bad_amount", f"{text!r} is not an amount")
    return amount


def amount_to_collect(order: Order) -> Decimal | None:
    """What the leader collects at the door: the order's total at its kept prices, or nothing
    for a supported household (gateway.orders.support)."""
    total = order_total(order)
    if getattr(order, "supported", False) and total is not None:
        return Decimal(0)
    return total


async def received_for(session: AsyncSession, order_id: int) -> Decimal | None:
    """What is recorded as received for an order so far (None: nothing recorded)."""
    rows = [e for e in await db.ledger.of_order(session, order_id)
            if e.kind in ("received", "correction")]
    return sum((Decimal(e.amount) for e in rows), Decimal(0)) if rows else None


class CashOnDelivery:
    """Order listener: at 已送达, the amount to collect is recorded as received."""

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        if event.to_status != "delivered" or order.leader_id is None:
            return
        amount = amount_to_collect(order)
        if amount is None or order.supported \
                or await received_for(session, order.id) is not None:
            return
        await db.ledger.add(session, leader_id=order.leader_id, kind="received", amount=amount,
                            actor=event.actor, order_id=order.id)


async def record_received(session: AsyncSession, order: Order, leader_id: int,
                          amount: Decimal, *, reason: str, actor: str) -> Decimal:
    """The leader got `amount` for `order` (delivered, theirs): adds the entry that makes the
    order's received sum equal `amount`; a reason is needed when it differs from the amount to
    collect. Returns the difference recorded."""
    if order.leader_id != leader_id:
        raise LedgerError("not_yours", "the order is not this leader's")
    if order.status != "delivered":
        raise LedgerError("not_delivered", "the order is not delivered yet")
    expected = amount_to_collect(order)
    if amount != expected and not reason.strip():
        raise LedgerError("needs_reason", "a different amount needs a reason")
    before = await received_for(session, order.id)
    if before is None:
        await db.ledger.add(session, leader_id=leader_id, kind="received", amount=amount,
                            actor=actor, reason=reason.strip(), order_id=order.id)
        return amount
    diff = amount - before
    if diff:
        await db.ledger.add(session, leader_id=leader_id, kind="correction", amount=diff,
                            actor=actor, reason=reason.strip(), order_id=order.id)
    return diff


async def record_handover(session: AsyncSession, leader_id: int, amount: Decimal, *,
                          actor: str, note: str = "") -> None:
    """An operator received `amount` in cash from the leader."""
    if amount <= 0:
        raise LedgerError("bad_amount", "a hand-over is more than zero")
    await db.ledger.add(session, leader_id=leader_id, kind="handed_over", amount=-amount,
                        actor=actor, reason=note.strip())
