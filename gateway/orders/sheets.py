"""What a run's leader and a pickup point's staff work from: a run's combined picking list and
its stops' bags, a point's slot lists; and `clock`, a time's parts as residents read and hear
them (templates' `_when.j2`), which these sheets and the residents' texts share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

import db.runs
from db.models import Order, Outlet, Run, utcnow
from gateway.orders import lifecycle
from gateway.orders.ledger import amount_to_collect
from gateway.orders.pricing import money

S = lifecycle.Status


def clock(at: datetime | None, tz: ZoneInfo, now: datetime | None = None) -> dict[str, Any]:
    """A time's parts in the co-operative's zone, for the templates' `when` macros:
    rel (today | tomorrow | ""), month, day, hour, minute, hm ("09:00")."""
    if at is None:
        return {}
    local = at.astimezone(tz)
    today = (now or utcnow()).astimezone(tz).date()
    rel = "today" if local.date() == today else \
        "tomorrow" if local.date() == today + timedelta(days=1) else ""
    return {"rel": rel, "month": local.month, "day": local.day, "hour": local.hour,
            "minute": local.minute, "hm": local.strftime("%H:%M"),
            "date": local.date().isoformat()}


@dataclass
class PickLine:
    sku: str
    name: str
    unit: str
    quantity: Decimal
    households: int


@dataclass
class Bag:
    order: Order
    name: str
    phone: str
    items: list[Any]
    amount: str | None
    supported: bool
    status: str
    number: str | None = None


@dataclass
class StopBags:
    name: str
    at: dict[str, Any]
    stop_id: int | None
    bags: list[Bag] = field(default_factory=list)


@dataclass
class RunSheet:
    run: Run
    lines: list[PickLine]
    stops: list[StopBags]

    @property
    def households(self) -> int:
        """Households with an order on the run (one may have several orders); not-home ones
        are left out, as from the picking lines."""
        return len({b.phone for st in self.stops for b in st.bags if b.status != "unassigned"})


@dataclass
class SlotList:
    start: dict[str, Any]
    end: dict[str, Any]
    bags: list[Bag]


def _bag(order: Order) -> Bag:
    return Bag(order=order, name=order.resident.name if order.resident else order.phone,
               phone=order.phone, items=[it for it in order.items if it.backorder is None],
               amount=money(amount_to_collect(order)), supported=bool(order.supported),
               status=order.status, number=order.pickup_no)


def pick_lines(orders: Sequence[Order]) -> list[PickLine]:
    lines: dict[tuple[str, str], PickLine] = {}
    homes: dict[tuple[str, str], set[str]] = {}
    for order in orders:
        for it in order.items:
            if it.backorder is not None:
                continue
            k = (it.sku, it.unit)
            line = lines.setdefault(k, PickLine(it.sku, it.name, it.unit, Decimal(0), 0))
            line.quantity += Decimal(it.quantity)
            homes.setdefault(k, set()).add(order.phone)
    for k, line in lines.items():
        line.households = len(homes[k])
    return sorted(lines.values(), key=lambda ln: (ln.name, ln.unit))


async def run_sheet(session: AsyncSession, run: Run, tz: ZoneInfo,
                    now: datetime | None = None) -> RunSheet:
    """The combined picking list of a run and, per stop, its households and their bags."""
    # every order the run has had but cancelled ones; not-home ones stay listed as such
    live = [o for o in await db.runs.orders_on_run(session, run.id) if o.status != S.CANCELLED]
    stops = [StopBags(st.name, clock(st.arrives_at, tz, now), st.id) for st in run.stops]
    by_id = {st.stop_id: st for st in stops}
    entrance = None
    for order in live:
        target = by_id.get(order.run_stop_id)
        if target is None:
            if entrance is None:
                entrance = StopBags("", clock(run.departs_at, tz, now), None)
                stops.insert(0, entrance)
            target = entrance
        target.bags.append(_bag(order))
    return RunSheet(run, pick_lines([o for o in live if o.status != S.UNASSIGNED]), stops)


def slot_starts(point: Outlet, day: date, tz: ZoneInfo) -> list[datetime]:
    """The point's slot starts on a day (UTC), from its opening hours."""
    try:
        oh, om = (int(x) for x in point.opens.split(":"))
        ch, cm = (int(x) for x in point.closes.split(":"))
    except ValueError:
        return []
    step = timedelta(minutes=max(5, point.slot_minutes))
    t = datetime.combine(day, time(oh, om), tz)
    end = datetime.combine(day, time(ch, cm), tz)
    out = []
    while t + step <= end:
        out.append(t.astimezone(ZoneInfo("UTC")))
        t += step
    return out


async def slot_lists(session: AsyncSession, point: Outlet, day: date, tz: ZoneInfo,
                     now: datetime | None = None) -> list[SlotList]:
    """A pickup point's slots on a day with their households and pickup numbers."""
    starts = slot_starts(point, day, tz)
    if not starts:
        return []
    step = timedelta(minutes=point.slot_minutes)
    orders = await db.runs.orders_at_point(session, point.id, starts[0], starts[-1] + step)
    by_start: dict[datetime, list[Bag]] = {}
    for o in orders:
        if o.slot_start is not None:
            by_start.setdefault(o.slot_start, []).append(_bag(o))
    return [SlotList(clock(st, tz, now), clock(st + step, tz, now), by_start[st])
            for st in starts if st in by_start]
