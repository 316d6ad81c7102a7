"""What an operator can do to an order; each action is written as an order event in their name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

import db.orders
import db.tasks
from db.models import Leader, Order, OrderEvent, Task, utcnow
from gateway.orders.fulfilment import leave
from gateway.channels.console.forms import FormError, ItemRow
from gateway.orders import lifecycle
from gateway.orders.events import OrderListener, change_status
from gateway.templates import qty

# Statuses whose items an operator may still correct (not once bought or delivered).
CORRECTABLE = ("draft", "needs_review", "confirmed", "assigned", "accepted", "unassigned")


def describe(items: Sequence[ItemRow]) -> str:
    return ", ".join(f"{i.name} {qty(i.quantity)}{i.unit}" for i in items)


async def correct_items(session: AsyncSession, order: Order, items: Sequence[ItemRow], *,
                        actor: str, reason: str = "") -> OrderEvent:
    """Replace the items; the event keeps the status and records old and new items."""
    if order.status not in CORRECTABLE:
        raise FormError("error.not_correctable", status=order.status)
    if not items:
        raise FormError("error.no_items")
    before = ", ".join(f"{i.name} {qty(i.quantity)}{i.unit}" for i in order.items)
    await db.orders.replace_items(session, order, [i.as_dict() for i in items])
    why = f"items corrected: {before or '-'} → {describe(items)}"
    # Not a status change, so no listeners: the resident is not texted the same status again.
    return await db.orders.add_event(session, order, order.status, actor=actor,
                                     reason=f"{why} ({reason})" if reason else why)


async def confirm(session: AsyncSession, order: Order, *, actor: str, reason: str = "",
                  listeners: Sequence[OrderListener] = ()) -> OrderEvent:
    """A needs_review (or draft) order confirmed by hand; the dispatcher routes it next."""
    if order.status not in ("needs_review", "draft"):
        raise FormError("error.not_confirmable", status=order.status)
    if not order.items:
        raise FormError("error.no_items")
    return await change_status(session, order, "confirmed", actor=actor,
                               reason=reason or "confirmed by an operator", listeners=listeners)


Withdrawn = Callable[[AsyncSession, Task, Order], Awaitable[None]]


async def _withdraw_tasks(session: AsyncSession, order: Order, *,
                          on_withdrawn: Withdrawn | None = None) -> None:
    now = utcnow()
    for task in await db.tasks.open_tasks_of_order(session, order.id):
        task.status = "withdrawn"
        task.closed_at = now
        if on_withdrawn is not None:
            await on_withdrawn(session, task, order)


async def reassign(session: AsyncSession, order: Order, leader: Leader | None, *, actor: str,
                   reason: str = "", accept_minutes: float = 15,
                   listeners: Sequence[OrderListener] = (), dispatcher_offers: bool = False,
                   on_withdrawn: Withdrawn | None = None) -> list[OrderEvent]:
    """Hand the order to `leader`, or back to the dispatcher if None.

    With `dispatcher_offers`, the dispatcher's listener creates the new leader's task and sends
    the offer when the order becomes `assigned`, and closes tasks on `confirmed`; here we only
    withdraw the other leaders' open tasks. Without a dispatcher we keep the tasks ourselves."""
    if order.status in lifecycle.FINAL or order.status in ("draft", "needs_review"):
        raise FormError("error.not_reassignable", status=order.status)
    events: list[OrderEvent] = []
    if leader is not None:
        await _withdraw_tasks(session, order, on_withdrawn=on_withdrawn)
        await leave(session, order, "leader")  # off its run or pickup slot, if it was
        order.leader = leader
        if not dispatcher_offers:
            session.add(Task(order_id=order.id, leader_id=leader.id, status="offered",
                             expires_at=utcnow() + timedelta(minutes=accept_minutes)))
            await session.flush()
        why = f"reassigned to {leader.name}" + (f" ({reason})" if reason else "")
        events.append(await change_status(session, order, "assigned", actor=actor, reason=why,
                                           listeners=listeners))
        return events
    if not dispatcher_offers:
        await _withdraw_tasks(session, order)
    await leave(session, order, None)
    order.leader = None
    why = "back to the dispatcher" + (f" ({reason})" if reason else "")
    if not lifecycle.can_move(order.status, "confirmed"):
        # accepted/purchased cannot go straight back; the step through `unassigned` is
        # bookkeeping, so nobody is told about it (no listeners: no "nobody available" text).
        events.append(await change_status(session, order, "unassigned", actor=actor, reason=why))
    events.append(await change_status(session, order, "confirmed", actor=actor, reason=why,
                                      listeners=listeners))
    return events


async def cancel(session: AsyncSession, order: Order, *, actor: str, reason: str,
                 listeners: Sequence[OrderListener] = (), dispatcher_offers: bool = False) -> OrderEvent:
    if order.status in lifecycle.FINAL:
        raise FormError("error.final", status=order.status)
    if not reason:
        raise FormError("error.reason_required")
    if not dispatcher_offers:
        await _withdraw_tasks(session, order)
    return await change_status(session, order, "cancelled", actor=actor, reason=reason,
                               listeners=listeners)


async def create_order(session: AsyncSession, *, phone: str, items: Sequence[ItemRow],
                       locale: str, resident_id: int | None, actor: str, note: str = "",
                       listeners: Sequence[OrderListener] = ()) -> Order:
    """An order taken by phone: confirmed with the caller, so it goes straight to routing."""
    from gateway.orders.events import announce_created

    if not items:
        raise FormError("error.no_items")
    order = await db.orders.create(session, channel="console", phone=phone, status="confirmed",
                                   actor=actor, items=[i.as_dict() for i in items], locale=locale,
                                   resident_id=resident_id, note=note,
                                   reason="taken by phone and read back to the caller")
    await session.refresh(order, ["resident", "leader", "recordings"])
    await announce_created(session, order, listeners)
    return order
