"""Queries of the operator console: filtered order lists, demand per village and day, tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    InboundMessage,
    Leader,
    Order,
    OrderItem,
    Outbox,
    Recording,
    Resident,
    Task,
)

# Orders that count as demand: confirmed by the resident (or an operator) and not cancelled.
DEMAND_STATUSES = ("confirmed", "assigned", "accepted", "purchased", "delivered", "unassigned")


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    village: str | None = None
    leader_id: int | None = None
    channel: str | None = None
    phone: str | None = None
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until


def _conditions(f: OrderFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.status:
        conds.append(Order.status.in_(f.status.split(",")))
    if f.channel:
        conds.append(Order.channel == f.channel)
    if f.leader_id is not None:
        conds.append(Order.leader_id == f.leader_id)
    if f.phone:
        conds.append(Order.phone == f.phone)
    if f.village:
        conds.append(Order.resident_id.in_(select(Resident.id).where(Resident.village == f.village)))
    if f.since is not None:
        conds.append(Order.created_at >= f.since)
    if f.until is not None:
        conds.append(Order.created_at < f.until)
    return conds


async def list_orders(session: AsyncSession, f: OrderFilter, *, limit: int = 200,
                      offset: int = 0) -> tuple[Sequence[Order], int]:
    """Newest first; returns (page, total matching)."""
    conds = _conditions(f)
    total = (await session.execute(select(func.count(Order.id)).where(*conds))).scalar_one()
    rows = (await session.execute(
        select(Order).where(*conds).order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit).offset(offset))).scalars().all()
    return rows, int(total)


async def latest_change(session: AsyncSession) -> str:
    """Changes whenever any order is created or changes: lets the live list skip redraws."""
    row = (await session.execute(select(func.count(Order.id), func.max(Order.updated_at)))).one()
    return f"{row[0]}:{row[1]}"


async def villages(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(Resident.village).where(Resident.village != "")
                                 .distinct().order_by(Resident.village))
    return [v for (v,) in rows.all()]


@dataclass(frozen=True)
class DemandRow:
    created_at: datetime
    village: str
    sku: str
    name: str
    unit: str
    quantity: Decimal


async def demand_rows(session: AsyncSession, *, since: datetime, until: datetime,
                      village: str | None = None) -> list[DemandRow]:
    """One row per ordered item in the period (orders that count as demand), with the village."""
    q = (select(Order.created_at, Resident.village, OrderItem.sku, OrderItem.name, OrderItem.unit,
                OrderItem.quantity)
         .join(OrderItem, OrderItem.order_id == Order.id)
         .outerjoin(Resident, Resident.id == Order.resident_id)
         .where(Order.status.in_(DEMAND_STATUSES), Order.created_at >= since,
                Order.created_at < until)
         .order_by(Order.created_at))
    if village:
        q = q.where(Resident.village == village)
    return [DemandRow(c, v or "", s, n, u, Decimal(q_)) for c, v, s, n, u, q_ in
            (await session.execute(q)).all()]


async def tasks_of_leader(session: AsyncSession, leader_id: int, *,
                          open_only: bool = True) -> Sequence[Task]:
    q = select(Task).where(Task.leader_id == leader_id)
    if open_only:
        q = q.where(Task.status.in_(("offered", "accepted")))
    return (await session.execute(q.order_by(Task.offered_at.desc(), Task.id.desc()))).scalars().all()


async def leader(session: AsyncSession, leader_id: int) -> Leader | None:
    return await session.get(Leader, leader_id)


async def resident(session: AsyncSession, resident_id: int) -> Resident | None:
    return await session.get(Resident, resident_id)


async def recording(session: AsyncSession, recording_id: int) -> Recording | None:
    return await session.get(Recording, recording_id)


async def outbox_to(session: AsyncSession, recipient: str, *, after_id: int = 0,
                    limit: int = 50) -> Sequence[Outbox]:
    """Outbound messages to one recipient (for the try-it page), oldest first."""
    return (await session.execute(
        select(Outbox).where(Outbox.recipient == recipient, Outbox.id > after_id)
        .order_by(Outbox.id).limit(limit))).scalars().all()


async def max_outbox_id(session: AsyncSession) -> int:
    return int((await session.execute(select(func.coalesce(func.max(Outbox.id), 0)))).scalar_one())


async def inbound_from(session: AsyncSession, phone: str, limit: int = 30) -> Sequence[InboundMessage]:
    """What a number sent in (SMS and calls), newest first (for the try-it page)."""
    return (await session.execute(
        select(InboundMessage).where(InboundMessage.phone == phone)
        .order_by(InboundMessage.id.desc()).limit(limit))).scalars().all()


async def outbox_recent_to(session: AsyncSession, recipient: str, limit: int = 30) -> Sequence[Outbox]:
    return (await session.execute(
        select(Outbox).where(Outbox.recipient == recipient)
        .order_by(Outbox.id.desc()).limit(limit))).scalars().all()
