"""Order status changes through the lifecycle, each written as an event and announced to listeners."""

from __future__ import annotations

from typing import Protocol, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

import db.orders
from db.models import Order, OrderEvent
from gateway.orders import lifecycle


class OrderListener(Protocol):
    """Reacts to a status change inside the same transaction (e.g. queues notifications)."""

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None: ...


async def change_status(session: AsyncSession, order: Order, to: str, *, actor: str,
                        reason: str = "", listeners: Sequence[OrderListener] = ()) -> OrderEvent:
    """Move `order` to `to` if the lifecycle allows it; raises lifecycle.IllegalTransition if not."""
    lifecycle.check(order.status, to)
    event = await db.orders.add_event(session, order, to, actor=actor, reason=reason)
    for listener in listeners:
        await listener.on_event(session, order, event)
    return event


async def announce_created(session: AsyncSession, order: Order,
                           listeners: Sequence[OrderListener] = ()) -> None:
    """Tell listeners about a new order's first event (from nothing to its first status)."""
    for listener in listeners:
        await listener.on_event(session, order, order.events[0])
