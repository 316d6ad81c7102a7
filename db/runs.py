"""Village runs, their stops and villages, pickup points and their seats: queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Order, OrderEvent, Outlet, PickupSeat, PickupVillage, Resident, Run, RunStop, RunVillage,
)

OPEN_ON_RUN = ("assigned", "accepted", "purchased")
WAITING = ("confirmed", "unassigned")


async def get(session: AsyncSession, run_id: int, *, for_update: bool = False) -> Run | None:
    q = select(Run).where(Run.id == run_id).execution_options(populate_existing=True)
    if for_update:
        q = q.with_for_update()
    return (await session.execute(q)).scalar_one_or_none()


async def next_run(session: AsyncSession, village: str, confirmed_at: datetime,
                   now: datetime) -> Run | None:
    """The earliest scheduled run to `village` whose cut-off is after `confirmed_at` and that
    has not left yet at `now`."""
    if not village:
        return None
    q = (select(Run).join(RunVillage, RunVillage.run_id == Run.id)
         .where(RunVillage.village == village, Run.status == "scheduled",
                Run.cutoff_at > confirmed_at, Run.departs_at > now)
         .order_by(Run.departs_at, Run.id).limit(1))
    return (await session.execute(q)).scalar_one_or_none()


async def runs_between(session: AsyncSession, since: datetime | None = None,
                       until: datetime | None = None, *, statuses: Iterable[str] | None = None
                       ) -> Sequence[Run]:
    q = select(Run).order_by(Run.departs_at, Run.id)
    if since is not None:
        q = q.where(Run.departs_at >= since)
    if until is not None:
        q = q.where(Run.departs_at < until)
    if statuses is not None:
        q = q.where(Run.status.in_(tuple(statuses)))
    return (await session.execute(q)).scalars().all()


async def due_picking(session: AsyncSession, now: datetime) -> Sequence[int]:
    """Scheduled runs past their cut-off whose picking list has not gone out yet."""
    return (await session.execute(
        select(Run.id).where(Run.status == "scheduled", Run.cutoff_at <= now,
                             Run.picking_sent_at.is_(None)).order_by(Run.cutoff_at, Run.id)
    )).scalars().all()


async def due_departure(session: AsyncSession, now: datetime, window: timedelta
                        ) -> Sequence[int]:
    """Scheduled runs that left (at most `window` ago) whose residents were not yet told."""
    return (await session.execute(
        select(Run.id).where(Run.status == "scheduled", Run.departs_at <= now,
                             Run.departs_at > now - window,
                             Run.departure_told_at.is_(None)).order_by(Run.departs_at, Run.id)
    )).scalars().all()


async def orders_on_run(session: AsyncSession, run_id: int,
                        statuses: Iterable[str] | None = None) -> Sequence[Order]:
    q = select(Order).where(Order.run_id == run_id, Order.fulfil_kind == "run") \
        .order_by(Order.id)
    if statuses is not None:
        q = q.where(Order.status.in_(tuple(statuses)))
    return (await session.execute(q)).scalars().all()


async def run_order_counts(session: AsyncSession, run_ids: Iterable[int]) -> dict[int, int]:
    ids = list(run_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Order.run_id, func.count(Order.id))
        .where(Order.run_id.in_(ids), Order.fulfil_kind == "run", Order.status != "cancelled")
        .group_by(Order.run_id))
    return {int(r): int(n) for r, n in rows.all()}


async def waiting_in_villages(session: AsyncSession, villages: Iterable[str],
                              confirmed_before: datetime) -> Sequence[int]:
    """Orders of these villages' residents still waiting for someone (confirmed or
    unassigned, not on a run or at a pickup point), last confirmed before the cut-off."""
    vs = list(villages)
    if not vs:
        return []
    last = (select(OrderEvent.order_id, func.max(OrderEvent.at).label("at"))
            .where(OrderEvent.to_status == "confirmed").group_by(OrderEvent.order_id).subquery())
    return (await session.execute(
        select(Order.id).join(Resident, Resident.id == Order.resident_id)
        .join(last, last.c.order_id == Order.id)
        .where(Resident.village.in_(vs), Order.status.in_(WAITING), last.c.at < confirmed_before)
        .order_by(Order.id))).scalars().all()


async def confirmed_at(session: AsyncSession, order_id: int) -> datetime | None:
    return (await session.execute(select(func.max(OrderEvent.at)).where(
        OrderEvent.order_id == order_id, OrderEvent.to_status == "confirmed"))).scalar_one_or_none()


async def villages_with_runs_ahead(session: AsyncSession, now: datetime) -> set[str]:
    rows = await session.execute(
        select(RunVillage.village).join(Run, Run.id == RunVillage.run_id)
        .where(Run.status == "scheduled", Run.departs_at > now))
    return {v for (v,) in rows.all()}


def _waiting() -> Any:
    """Waiting for someone: confirmed or unassigned (a not-home order too), or offered to a
    leader who has not taken it."""
    return Order.status.in_(WAITING) | ((Order.status == "assigned") & (
        Order.fulfil_kind.is_(None) | (Order.fulfil_kind == "leader")))


async def waiting_by_village(session: AsyncSession) -> list[tuple[str, int, datetime]]:
    """Per village: households with an order waiting for someone (confirmed, unassigned, or
    offered to a leader and not taken), and when the oldest of those orders was made."""
    rows = await session.execute(
        select(Resident.village, func.count(func.distinct(Order.phone)), func.min(Order.created_at))
        .join(Resident, Resident.id == Order.resident_id)
        .where(Resident.village != "", _waiting())
        .group_by(Resident.village).order_by(Resident.village))
    return [(v, int(n), at) for v, n, at in rows.all()]


async def oldest_waiting_order(session: AsyncSession, village: str) -> int | None:
    return (await session.execute(
        select(func.min(Order.id)).join(Resident, Resident.id == Order.resident_id)
        .where(Resident.village == village, _waiting()))).scalar_one_or_none()


# --- pickup points ---------------------------------------------------------------------------


async def pickup_point_of(session: AsyncSession, resident: Resident) -> Outlet | None:
    """The resident's own pickup point, else their village's, else None (door delivery)."""
    if resident.pickup_outlet_id is not None:
        point = await session.get(Outlet, resident.pickup_outlet_id)
        if point is not None and point.pickup:
            return point
    if not resident.village:
        return None
    return (await session.execute(
        select(Outlet).join(PickupVillage, PickupVillage.outlet_id == Outlet.id)
        .where(PickupVillage.village == resident.village, Outlet.pickup.is_(True))
    )).scalar_one_or_none()


async def pickup_points(session: AsyncSession) -> Sequence[Outlet]:
    return (await session.execute(select(Outlet).where(Outlet.pickup.is_(True))
                                  .order_by(Outlet.id))).scalars().all()


async def pickup_villages(session: AsyncSession) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for v in (await session.execute(select(PickupVillage).order_by(PickupVillage.village))
              ).scalars().all():
        out.setdefault(v.outlet_id, []).append(v.village)
    return out


async def set_pickup_village(session: AsyncSession, village: str, outlet_id: int | None) -> None:
    await session.execute(delete(PickupVillage).where(PickupVillage.village == village))
    if outlet_id is not None:
        session.add(PickupVillage(village=village, outlet_id=outlet_id))
    await session.flush()


async def lock_point(session: AsyncSession, outlet_id: int) -> Outlet | None:
    """The point's row, locked (PostgreSQL) so bookings at one point take turns."""
    return (await session.execute(select(Outlet).where(Outlet.id == outlet_id)
                                  .with_for_update().execution_options(populate_existing=True))
            ).scalar_one_or_none()


async def seats_taken(session: AsyncSession, outlet_id: int, starts: Sequence[datetime]
                      ) -> dict[datetime, set[int]]:
    if not starts:
        return {}
    rows = await session.execute(select(PickupSeat.slot_start, PickupSeat.seat).where(
        PickupSeat.outlet_id == outlet_id, PickupSeat.slot_start.in_(list(starts)),
        PickupSeat.seat > 0))
    out: dict[datetime, set[int]] = {}
    for start, seat in rows.all():
        out.setdefault(start, set()).add(int(seat))
    return out


async def last_number(session: AsyncSession, outlet_id: int, day: date) -> int:
    return int((await session.execute(select(func.max(PickupSeat.number)).where(
        PickupSeat.outlet_id == outlet_id, PickupSeat.day == day))).scalar_one_or_none() or 0)


async def seat_of(session: AsyncSession, order_id: int) -> PickupSeat | None:
    return (await session.execute(select(PickupSeat).where(PickupSeat.order_id == order_id))
            ).scalar_one_or_none()


async def drop_seat(session: AsyncSession, order_id: int) -> None:
    await session.execute(delete(PickupSeat).where(PickupSeat.order_id == order_id))


async def release_seat(session: AsyncSession, order_id: int) -> None:
    """Give the order's seat back (its pickup number stays taken for the day: a number is
    never handed out twice). A released seat is kept as seat -order_id."""
    await session.execute(update(PickupSeat).where(PickupSeat.order_id == order_id,
                                                   PickupSeat.seat > 0)
                          .values(seat=-order_id))


async def orders_at_point(session: AsyncSession, outlet_id: int, since: datetime,
                          until: datetime) -> Sequence[Order]:
    return (await session.execute(
        select(Order).where(Order.pickup_outlet_id == outlet_id, Order.fulfil_kind == "pickup",
                            Order.slot_start >= since, Order.slot_start < until,
                            Order.status != "cancelled")
        .order_by(Order.slot_start, Order.id))).scalars().all()


async def stops_of(session: AsyncSession, run_id: int) -> Sequence[RunStop]:
    return (await session.execute(select(RunStop).where(RunStop.run_id == run_id)
                                  .order_by(RunStop.seq))).scalars().all()


async def any_active(session: AsyncSession, now: datetime) -> bool:
    run = (await session.execute(select(Run.id).where(
        Run.status == "scheduled", Run.departs_at > now).limit(1))).first()
    if run is not None:
        return True
    return (await session.execute(select(Outlet.id).where(Outlet.pickup.is_(True)).limit(1))
            ).first() is not None
