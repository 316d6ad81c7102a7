"""Tasks (an order offered to one leader) and the leader/order queries the dispatcher needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

import db.outbox
from db.models import (
    Leader, Order, OrderEvent, OrderItem, Outbox, Product, Resident, Task, utcnow,
)

OPEN = ("offered", "accepted")


async def create(session: AsyncSession, order: Order, leader_id: int, *,
                 expires_at: datetime) -> Task:
    task = Task(order_id=order.id, leader_id=leader_id, status="offered", offered_at=utcnow(),
                expires_at=expires_at)
    session.add(task)
    await session.flush()
    return task


async def get(session: AsyncSession, task_id: int, *, for_update: bool = False) -> Task | None:
    q = select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    if for_update:
        q = q.with_for_update()
    return (await session.execute(q)).scalar_one_or_none()


def close(task: Task, status: str, at: datetime | None = None) -> None:
    task.status = status
    task.closed_at = at or utcnow()


async def tasks_of_order(session: AsyncSession, order_id: int) -> Sequence[Task]:
    """Every task of an order, oldest first."""
    return (await session.execute(
        select(Task).where(Task.order_id == order_id).order_by(Task.id))).scalars().all()


async def tried_leaders(session: AsyncSession, order_id: int) -> set[int]:
    """Leaders offered the order since it was last confirmed: a decline or time-out passes it
    on within one round; an operator's re-confirmation starts a new round with everybody."""
    since = select(func.max(OrderEvent.at)).where(
        OrderEvent.order_id == order_id, OrderEvent.to_status == "confirmed").scalar_subquery()
    rows = await session.execute(select(Task.leader_id).where(
        Task.order_id == order_id, (since.is_(None)) | (Task.offered_at >= since)))
    return {int(r) for (r,) in rows.all()}


async def open_tasks_of_order(session: AsyncSession, order_id: int) -> Sequence[Task]:
    """An order's tasks still open (offered or accepted), oldest first."""
    return (await session.execute(select(Task).where(
        Task.order_id == order_id, Task.status.in_(OPEN)).order_by(Task.id))).scalars().all()


async def open_for_leader(session: AsyncSession, leader_id: int,
                          statuses: Iterable[str] = OPEN) -> list[tuple[Task, Order]]:
    rows = await session.execute(
        select(Task, Order).join(Order, Order.id == Task.order_id)
        .where(Task.leader_id == leader_id, Task.status.in_(tuple(statuses)))
        .order_by(Task.offered_at, Task.id))
    return [(t, o) for t, o in rows.all()]


async def open_task_counts(session: AsyncSession,
                           leader_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Open tasks (offered or accepted) per leader id: of these leaders, or of every leader."""
    q = select(Task.leader_id, func.count(Task.id)).where(Task.status.in_(OPEN))
    if leader_ids is not None:
        ids = list(leader_ids)
        if not ids:
            return {}
        q = q.where(Task.leader_id.in_(ids))
    rows = await session.execute(q.group_by(Task.leader_id))
    return {int(lid): int(n) for lid, n in rows.all()}


async def expired_offers(session: AsyncSession, now: datetime, limit: int = 100) -> Sequence[Task]:
    return (await session.execute(
        select(Task).where(Task.status == "offered", Task.expires_at <= now)
        .order_by(Task.expires_at, Task.id).limit(limit))).scalars().all()


async def next_expiry(session: AsyncSession) -> datetime | None:
    return (await session.execute(
        select(func.min(Task.expires_at)).where(Task.status == "offered"))).scalar_one_or_none()


async def to_redact(session: AsyncSession, closed_before: datetime,
                    limit: int = 100) -> Sequence[Task]:
    """Delivered tasks whose resident details are still in the leader's chat."""
    return (await session.execute(
        select(Task).where(Task.status == "done", Task.redacted_at.is_(None),
                           Task.closed_at <= closed_before)
        .order_by(Task.closed_at, Task.id).limit(limit))).scalars().all()


async def long_unassigned(session: AsyncSession, since_before: datetime, limit: int = 100
                          ) -> Sequence[tuple[Order, OrderEvent]]:
    """Orders unassigned since before `since_before` whose resident has not been texted about
    it yet (no outbox row under `db.outbox.event_sms_key`), with that event; residents who
    opted out are left out."""
    latest = select(OrderEvent.order_id, func.max(OrderEvent.id).label("event_id")) \
        .where(OrderEvent.to_status == "unassigned").group_by(OrderEvent.order_id).subquery()
    key = db.outbox.event_sms_key_sql(Order.id, latest.c.event_id)
    q = (select(Order, OrderEvent)
         .join(latest, latest.c.order_id == Order.id)
         .join(OrderEvent, OrderEvent.id == latest.c.event_id)
         .outerjoin(Resident, Resident.id == Order.resident_id)
         .where(Order.status == "unassigned", Order.updated_at <= since_before,
                or_(Resident.id.is_(None), Resident.opted_out.is_(False)),
                ~exists().where(Outbox.idempotency_key == key))
         .order_by(Order.id).limit(limit))
    return [(o, e) for o, e in (await session.execute(q)).all()]


async def orders_with_status(session: AsyncSession, status: str, limit: int = 100) -> Sequence[int]:
    return (await session.execute(
        select(Order.id).where(Order.status == status).order_by(Order.id).limit(limit))
    ).scalars().all()


async def routable_confirmed(session: AsyncSession, limit: int = 100) -> Sequence[int]:
    """Confirmed orders with something to deliver now: not every line back-ordered."""
    now_line = exists().where(OrderItem.order_id == Order.id, OrderItem.backorder.is_(None))
    any_line = exists().where(OrderItem.order_id == Order.id)
    return (await session.execute(
        select(Order.id).where(Order.status == "confirmed", now_line | ~any_line)
        .order_by(Order.id).limit(limit))).scalars().all()


async def leaders_by_ids(session: AsyncSession, ids: Iterable[int]) -> Sequence[Leader]:
    ids = list(ids)
    if not ids:
        return []
    return (await session.execute(select(Leader).where(Leader.id.in_(ids)))).scalars().all()


async def all_leader_positions(session: AsyncSession) -> Sequence[tuple[int, float, float, float]]:
    rows = await session.execute(select(Leader.id, Leader.lat, Leader.lon, Leader.radius_km))
    return [(int(i), float(a), float(b), float(r)) for i, a, b, r in rows.all()]


async def leaders_signature(session: AsyncSession) -> tuple[int, int]:
    """Changes when leaders are added or removed (other processes: the CLI, imports)."""
    n, top = (await session.execute(select(func.count(Leader.id), func.max(Leader.id)))).one()
    return int(n or 0), int(top or 0)


async def categories(session: AsyncSession, skus: Iterable[str]) -> dict[str, str]:
    skus = list(set(skus))
    if not skus:
        return {}
    rows = await session.execute(select(Product.sku, Product.category).where(Product.sku.in_(skus)))
    return {s: c or "" for s, c in rows.all()}


async def newer_card_edit_sent(session: AsyncSession, task_id: int, outbox_id: int) -> bool:
    """Whether a later edit of this task's card already went out (so an older one must not)."""
    rows = await session.execute(
        select(Outbox.payload).where(Outbox.channel == "telegram", Outbox.status == "sent",
                                     Outbox.id > outbox_id,
                                     Outbox.idempotency_key.like(f"task:{task_id}:%")))
    return any((p or {}).get("op") == "edit" for (p,) in rows.all())


async def all_leaders(session: AsyncSession) -> Sequence[Leader]:
    return (await session.execute(select(Leader).order_by(Leader.id))).scalars().all()


async def availability_signature(session: AsyncSession) -> tuple[object, ...]:
    """Changes when leaders who can take orders change: joined, on duty, capacity, radius,
    base, or the number of open tasks."""
    lead = (await session.execute(
        select(func.count(Leader.id), func.sum(Leader.id), func.sum(Leader.capacity),
               func.sum(Leader.radius_km), func.sum(Leader.lat + Leader.lon))
        .where(Leader.telegram_chat_id.is_not(None), Leader.on_duty.is_(True)))).one()
    tasks = (await session.execute(
        select(func.count(Task.id)).where(Task.status.in_(OPEN)))).scalar_one()
    return (*(str(v) for v in lead), int(tasks))
