"""Order queries: create with items, add events, fetch and list for the API and console."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable, Sequence, cast

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, inspect, select, update
from sqlalchemy.orm import make_transient_to_detached, raiseload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Order, OrderEvent, OrderItem, Resident, utcnow

_EVENTS = cast(Table, OrderEvent.__table__)
_ORDERS = cast(Table, Order.__table__)
_INSERT_EVENT = insert(_EVENTS).values(
    order_id=bindparam("order_id"), at=bindparam("at"), from_status=bindparam("from_status"),
    to_status=bindparam("to_status"), actor=bindparam("actor"), reason=bindparam("reason")) \
    .returning(_EVENTS.c.id)
_SET_STATUS = update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id")).values(
    status=bindparam("to_status"), updated_at=bindparam("at"))


def new_items(items: Iterable[Any]) -> list[OrderItem]:
    """OrderItem rows from parsed items (objects or dicts with sku, name, quantity, unit, source)."""
    rows = []
    for it in items:
        get = it.get if isinstance(it, dict) else (lambda k, d=None, o=it: getattr(o, k, d))
        rows.append(OrderItem(sku=get("sku"), name=get("name") or get("sku"),
                              quantity=Decimal(str(get("quantity", 1))), unit=get("unit") or "",
                              source_text=get("source") or get("source_text") or ""))
    return rows


async def create(session: AsyncSession, *, channel: str, phone: str, status: str, actor: str,
                 items: Iterable[Any] = (), locale: str = "zh-CN", resident_id: int | None = None,
                 resident: Resident | None = None, transcript: str | None = None, note: str = "",
                 reason: str = "") -> Order:
    """A new order with its items and the first event (from nothing to `status`), in one flush.

    Items, events, resident and leader are set here, so reading them later loads nothing: pass
    `resident` when the caller has it already; with only `resident_id` it is loaded. Recordings
    stay unloaded (the caller attaches them with an UPDATE; `refresh` reads them then)."""
    if resident is not None:
        resident_id = resident.id
    order = Order(channel=channel, phone=phone, status=status, locale=locale,
                  resident_id=resident_id, transcript=transcript, note=note,
                  items=new_items(items), leader=None,
                  events=[OrderEvent(from_status=None, to_status=status, actor=actor,
                                     reason=reason)])
    if resident is not None or resident_id is None:
        order.resident = resident
    session.add(order)
    await session.flush()
    if resident is None and resident_id is not None:
        await session.refresh(order, ["resident"])
    return order


async def add_event(session: AsyncSession, order: Order, to_status: str, *, actor: str,
                    reason: str = "") -> OrderEvent:
    """Record a status change (or a note, with the same status) and move `order` to it.

    Two prebuilt Core statements instead of an ORM flush (which runs the unit of work over
    everything pending in the session). The event comes back as a persistent object of this
    session, and `order` (and its events, if loaded) are set as committed values, so nothing
    is written twice and readers in this session see the change."""
    params = dict(order_id=order.id, at=utcnow(), from_status=order.status,
                  to_status=to_status, actor=actor, reason=reason)
    conn = await session.connection()
    event_id = (await conn.execute(_INSERT_EVENT, params)).scalar_one()
    await conn.execute(_SET_STATUS, params)
    ev = OrderEvent(id=event_id, **params)
    make_transient_to_detached(ev)
    session.add(ev)
    set_committed_value(order, "status", to_status)
    set_committed_value(order, "updated_at", params["at"])
    if "events" in inspect(order).dict:
        set_committed_value(order, "events", [*order.events, ev])
    return ev


async def replace_items(session: AsyncSession, order: Order, items: Iterable[Any]) -> None:
    order.items.clear()
    await session.flush()
    order.items.extend(new_items(items))
    await session.flush()


async def get(session: AsyncSession, order_id: int, *, for_update: bool = False,
              history: bool = True) -> Order | None:
    """The order with its items, resident and leader, and, unless `history` is False, its
    events and recordings (two queries fewer, for code that only moves the order on; reading
    them then raises instead of loading them behind the caller's back)."""
    q = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    if not history:
        q = q.options(raiseload(Order.events), raiseload(Order.recordings))
    if for_update:
        q = q.with_for_update()
    return (await session.execute(q)).scalar_one_or_none()


async def list_orders(session: AsyncSession, *, status: str | None = None, phone: str | None = None,
                      channel: str | None = None, leader_id: int | None = None,
                      village: str | None = None, limit: int = 100,
                      offset: int = 0) -> tuple[Sequence[Order], int]:
    """Newest first; returns (page, total matching)."""
    conds: list[ColumnElement[bool]] = []
    if status:
        conds.append(Order.status.in_(status.split(",")))
    if phone:
        conds.append(Order.phone == phone)
    if channel:
        conds.append(Order.channel == channel)
    if leader_id is not None:
        conds.append(Order.leader_id == leader_id)
    if village:
        conds.append(Order.resident_id.in_(select(Resident.id).where(Resident.village == village)))
    total = (await session.execute(select(func.count(Order.id)).where(*conds))).scalar_one()
    rows = (await session.execute(select(Order).where(*conds)
                                  .order_by(Order.created_at.desc(), Order.id.desc())
                                  .limit(limit).offset(offset))).scalars().all()
    return rows, int(total)


async def latest_for_phone(session: AsyncSession, phone: str, *,
                           statuses: Sequence[str] | None = None) -> Order | None:
    q = select(Order).where(Order.phone == phone)
    if statuses:
        q = q.where(Order.status.in_(statuses))
    q = q.order_by(Order.created_at.desc(), Order.id.desc()).limit(1)
    return (await session.execute(q)).scalar_one_or_none()
