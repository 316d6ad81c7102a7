"""How an order reaches its resident: a nearest **leader** (door delivery), a village **run**
(the mobile supermarket to the village entrance), or a **pickup** point in a time slot.

One rule (`plan_for`) chooses, from the resident and when the order was confirmed:
1. the resident's own pickup point, else their village's: **pickup**;
2. else the earliest scheduled run to their village whose cut-off is after the confirmation:
   **run** (at the stop serving their village, else the nearest, else the first);
3. else **leader**: the dispatcher offers it to the nearest available leader, as always.
The read-backs and confirmations use the same rule to tell the resident what will happen; the
dispatcher (`Fulfilment.route`) applies it. Each choice is an order event (confirmed ->
assigned, with the run or slot in the reason) and the order's `fulfil_kind`, `run_id`,
`run_stop_id`, `pickup_outlet_id`, `slot_start`, `pickup_no` say where it stands.

A run's life: scheduled (orders join until the cut-off; orders already waiting in its villages
join at once) -> at the cut-off its orders become `accepted` and the leader gets the picking
list -> at each stop the leader marks every household delivered or not home (not home: back to
the operators, `unassigned`, with the reason). Moving a run tells its residents the new time;
cancelling it sends its orders back to the dispatcher, which puts them on the next run or
gives them to a leader, and tells the residents.

Pickup: a slot's capacity and a day's pickup numbers are unique keys (`pickup_seats`), so two
gateways on one database never overfill a slot or hand out one number twice.

This module imports no web, Telegram or Twilio code: what leaders and operators are told goes
through `RunNotifier`, which the Telegram channel implements.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

import db.orders
import db.outbox
import db.runs
from db.models import Leader, Order, OrderEvent, Outlet, PickupSeat, Resident, Run, RunStop, \
    RunVillage, utcnow
from gateway.orders import lifecycle, reasons
from gateway.orders.geo import distance_km
from gateway.orders.events import OrderListener, change_status
from gateway.orders.ledger import amount_to_collect
from gateway.orders.pricing import money
from gateway.orders.recheck import Rechecked
from gateway.orders.sheets import RunSheet, clock, run_sheet, slot_starts

if TYPE_CHECKING:
    from gateway.templates import Templates

log = logging.getLogger(__name__)
S = lifecycle.Status

DAYS_AHEAD = 14  # how far ahead a pickup slot is looked for
# The texts (sms/<name>.j2) that are key steps, and the kind of spoken notice each is for
# residents who take calls (voice/notice_says.xml.j2).
SPOKEN = {"run_on": "run", "run_moved": "run_moved", "run_cancelled": "run_cancelled",
          "run_missed": "run_missed", "run_departed": "run_departed", "pickup_slot": "pickup"}
# A run's "on the way" text goes out from its departure until this long after.
DEPARTURE_TELL_WINDOW = timedelta(hours=2)


class FulfilmentError(ValueError):
    """A run or pickup change that cannot be made; `code` names it for the console's words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- the rule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    kind: str  # leader | run | pickup
    run: Run | None = None
    stop: RunStop | None = None
    point: Outlet | None = None

    @property
    def key(self) -> str:
        if self.kind == "run" and self.run is not None:
            return f"run:{self.run.id}"
        if self.kind == "pickup" and self.point is not None:
            return f"pickup:{self.point.id}"
        return "leader"

    @property
    def at(self) -> datetime | None:
        if self.stop is not None:
            return self.stop.arrives_at
        return self.run.departs_at if self.run is not None else None

    @property
    def place(self) -> str:
        if self.stop is not None:
            return self.stop.name
        if self.point is not None:
            return self.point.name
        return ""


LEADER = Plan("leader")


def stop_for(run: Run, resident: Resident | None) -> RunStop | None:
    """The stop serving the resident: one named for their village, else the nearest with a
    place, else the first; None for a run without stops (it waits at the village entrance)."""
    stops = list(run.stops)
    if not stops:
        return None
    village = resident.village if resident is not None else ""
    same = [st for st in stops if village and st.village == village]
    candidates = same or stops
    if resident is not None and resident.lat is not None and resident.lon is not None:
        placed = [st for st in candidates if st.lat is not None and st.lon is not None]
        if placed:
            return min(placed, key=lambda st: (distance_km(resident.lat, resident.lon,  # type: ignore[arg-type]
                                                           st.lat, st.lon), st.seq))
    return candidates[0]


async def plan_for(session: AsyncSession, resident: Resident | None,
                   confirmed_at: datetime, now: datetime | None = None) -> Plan:
    """The one rule (see the module's docstring); `now` (default: `confirmed_at`) leaves out
    runs already gone."""
    if resident is None:
        return LEADER
    point = await db.runs.pickup_point_of(session, resident)
    if point is not None:
        return Plan("pickup", point=point)
    run = await db.runs.next_run(session, resident.village, confirmed_at,
                                 now or confirmed_at)
    if run is not None:
        return Plan("run", run=run, stop=stop_for(run, resident))
    return LEADER


async def promised_plan(session: AsyncSession, order: Order) -> Plan:
    """What the resident was told at confirmation (from `order.promised`)."""
    kind, _, ident = (order.promised or "leader").partition(":")
    if kind == "run" and ident.isdigit():
        run = await db.runs.get(session, int(ident))
        if run is not None:
            return Plan("run", run=run, stop=stop_for(run, order.resident))
    if kind == "pickup" and ident.isdigit():
        point = await session.get(Outlet, int(ident))
        if point is not None:
            return Plan("pickup", point=point)
    return LEADER


# --- a plan as residents are told it --------------------------------------------------------


def telling(plan: Plan, tz: ZoneInfo, now: datetime | None = None,
            order: Order | None = None) -> dict[str, Any]:
    """What the templates need to say a plan: kind, when, place, point, slot, number."""
    out: dict[str, Any] = {"kind": plan.kind, "when": clock(plan.at, tz, now),
                           "place": plan.place, "run_id": plan.run.id if plan.run else None}
    if plan.point is not None:
        out["point"] = {"name": plan.point.name, "place": plan.point.place}
    if order is not None and order.slot_start is not None and plan.point is not None:
        out["slot"] = clock(order.slot_start, tz, now)
        out["slot_end"] = clock(order.slot_start + timedelta(minutes=plan.point.slot_minutes),
                                tz, now)
        out["number"] = order.pickup_no
    return out


def order_telling(order: Order, tz: ZoneInfo, now: datetime | None = None) -> dict[str, Any]:
    """`telling` for an order as it now stands (its run and stop, or its point and slot)."""
    if order.fulfil_kind == "run" and order.run is not None:
        return telling(Plan("run", run=order.run, stop=order.run_stop), tz, now, order)
    if order.fulfil_kind == "pickup" and order.pickup_outlet is not None:
        return telling(Plan("pickup", point=order.pickup_outlet), tz, now, order)
    return {"kind": order.fulfil_kind or "leader", "when": {}, "place": ""}


def fulfilment_json(order: Order) -> dict[str, Any] | None:
    """The API's `fulfilment` field."""
    kind = order.fulfil_kind
    if kind is None:
        return None
    if kind == "run":
        stop, run = order.run_stop, order.run
        at = stop.arrives_at if stop is not None else run.departs_at if run is not None else None
        return {"kind": "run", "run": order.run_id,
                "stop": stop.name if stop is not None else None,
                "time": at.isoformat() if at is not None else None}
    if kind == "pickup":
        point = order.pickup_outlet
        return {"kind": "pickup", "point": point.name if point is not None else None,
                "point_id": order.pickup_outlet_id,
                "slot": order.slot_start.isoformat() if order.slot_start else None,
                "slot_end": (order.slot_start + timedelta(minutes=point.slot_minutes)).isoformat()
                if order.slot_start and point is not None else None,
                "pickup_number": order.pickup_no}
    return {"kind": "leader", "leader": order.leader_id}


# --- who else is told ---------------------------------------------------------------------


class RunNotifier(Protocol):
    """What leaders, outlet staff and operators are told about runs and pickups; the Telegram
    channel implements it. Every method queues in the caller's transaction."""

    async def run_scheduled(self, session: AsyncSession, run: Run, sheet: RunSheet,
                            change: str) -> None:
        """The run's leader: a run is new (`change` = scheduled), moved or cancelled."""

    async def picking(self, session: AsyncSession, run: Run, sheet: RunSheet, *,
                      key: str) -> None:
        """The run's leader: the picking list and, per stop, the households with buttons."""

    async def run_call(self, session: AsyncSession, village: str, households: int,
                       oldest: datetime, *, key: str) -> None:
        """The operators: households are waiting in a village with no run ahead."""

    async def pickup_booked(self, session: AsyncSession, point: Outlet, order: Order) -> None:
        """The point's staff: an order was booked into a slot (for today's lists)."""


# --- applying the rule ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunRequest:
    villages: list[str]
    departs_at: datetime
    cutoff_at: datetime
    leader_id: int | None
    stops: list[tuple[str, float | None, float | None, datetime, str]] = field(
        default_factory=list)  # (name, lat, lon, arrives_at, village)
    vehicle: str = ""


class Fulfilment:
    """Applies the rule and runs' and pickup points' changes, each inside the caller's
    transaction; what the resident is told is queued in the outbox in that transaction."""

    def __init__(self, templates: Templates, tz: ZoneInfo, listeners: Sequence[OrderListener],
                 *, notifier: RunNotifier | None = None, pickup_lead_minutes: float = 120,
                 run_call_households: int = 10, run_call_hours: float = 24) -> None:
        self.templates = templates
        self.tz = tz
        self.listeners = listeners
        self._notifier = notifier
        self._services: Any = None
        self.lead = timedelta(minutes=pickup_lead_minutes)
        self.call_households = run_call_households
        self.call_hours = run_call_hours

    @classmethod
    def of(cls, services: Any) -> Fulfilment:
        st = services.settings
        made = cls(services.templates, ZoneInfo(st.console_timezone), services.listeners,
                   pickup_lead_minutes=st.pickup_lead_minutes,
                   run_call_households=st.run_call_households, run_call_hours=st.run_call_hours)
        made._services = services  # its run_notifier is set when the Telegram part starts
        return made

    @property
    def notifier(self) -> RunNotifier | None:
        if self._notifier is None and self._services is not None:
            return self._services.run_notifier
        return self._notifier

    # -- texts ---------------------------------------------------------------------------------

    async def _text(self, session: AsyncSession, order: Order, name: str, *, key: str,
                    now: datetime | None = None, **ctx: Any) -> bool:
        """Tell the resident (and their proxies) `sms/<name>.j2`, once per `key`; spoken too or
        instead for those who take calls (gateway.notify.residents), where a notice says it."""
        resident = order.resident
        if resident is not None and resident.opted_out:
            return False
        f = order_telling(order, self.tz, now)
        body = self.templates.render(order.locale, f"sms/{name}.j2", order=order, f=f,
                                     amount=money(amount_to_collect(order)),
                                     supported=bool(order.supported), **ctx).strip()
        return await self._teller().tell(session, order, body, key=key, spoken=SPOKEN.get(name),
                                         payload={"order_id": order.id, "kind": name}, f=f,
                                         **ctx)

    def _teller(self) -> Any:
        """The gateway's resident notifier (texts, and calls for those who take them), or one
        that texts only where the gateway has none (the command line)."""
        teller = self._services.resident_sms if self._services is not None else None
        if teller is None:
            from gateway.notify.residents import ResidentSms

            teller = ResidentSms(self.templates)
        return teller

    # -- routing ---------------------------------------------------------------------------------

    async def route(self, session: AsyncSession, order: Order, at: datetime,
                    now: datetime) -> str | None:
        """Put a confirmed (or unassigned) order on a run or at a pickup point if the rule says
        so for an order confirmed `at`; returns the kind, or None for the dispatcher's
        nearest-leader offer."""
        plan = await plan_for(session, order.resident, at, now)
        if plan.kind == "run":
            await self.put_on_run(session, order, plan.run, plan.stop, now)  # type: ignore[arg-type]
            return "run"
        if plan.kind == "pickup":
            booked = await self.book_pickup(session, order, plan.point, now)  # type: ignore[arg-type]
            return "pickup" if booked else None
        return None

    async def put_on_run(self, session: AsyncSession, order: Order, run: Run,
                         stop: RunStop | None, now: datetime, *, reason: str = "") -> OrderEvent:
        order.fulfil_kind, order.run_id, order.run_stop_id = "run", run.id, \
            stop.id if stop is not None else None
        order.run, order.run_stop = run, stop
        order.pickup_outlet_id, order.slot_start, order.pickup_no = None, None, None
        order.leader_id = run.leader_id
        order.leader = run.leader
        why = reasons.reason("on_run_at", run=run.id, stop=stop.name) if stop is not None \
            else reasons.reason("on_run", run=run.id)
        event = await change_status(session, order, S.ASSIGNED, actor="dispatcher",
                                    reason=why + (f" ({reason})" if reason else ""),
                                    listeners=self.listeners)
        if order.promised != f"run:{run.id}":
            await self._text(session, order, "run_on", now=now,
                             key=db.outbox.event_sms_key(order.id, event.id))
        if run.picking_sent_at is not None:  # joined after the list went out: send it again
            await change_status(session, order, S.ACCEPTED, actor=f"run:{run.id}",
                                reason=reasons.reason("run_added"),
                                listeners=self.listeners)
            if self.notifier is not None:
                await self.notifier.picking(session, run, await run_sheet(session, run, self.tz),
                                            key=f"run:{run.id}:picking:+{order.id}")
        return event

    async def book_pickup(self, session: AsyncSession, order: Order, point: Outlet,
                          now: datetime) -> bool:
        """A seat in the point's first slot with room, from `pickup_lead_minutes` on; False
        when none is free in the next DAYS_AHEAD days (the order goes to a leader then)."""
        point = await db.runs.lock_point(session, point.id) or point
        earliest = now + self.lead
        step = timedelta(minutes=point.slot_minutes)
        today = now.astimezone(self.tz).date()
        for d in range(DAYS_AHEAD):
            day = today + timedelta(days=d)
            starts = [st for st in slot_starts(point, day, self.tz) if st >= earliest]
            taken = await db.runs.seats_taken(session, point.id, starts)
            for start in starts:
                free = [n for n in range(1, point.slot_capacity + 1)
                        if n not in taken.get(start, set())]
                if not free:
                    continue
                number = await db.runs.last_number(session, point.id, day) + 1
                await db.runs.drop_seat(session, order.id)  # booked again: a new seat
                session.add(PickupSeat(outlet_id=point.id, slot_start=start, seat=free[0],
                                       day=day, number=number, order_id=order.id))
                await session.flush()
                order.fulfil_kind, order.pickup_outlet_id, order.pickup_outlet = \
                    "pickup", point.id, point
                order.slot_start, order.pickup_no = start, f"{point.prefix}-{number}"
                order.run_id = order.run_stop_id = None
                order.run = order.run_stop = None
                order.leader_id, order.leader = None, None
                local = clock(start, self.tz, now)
                event = await change_status(
                    session, order, S.ASSIGNED, actor="dispatcher", listeners=self.listeners,
                    reason=reasons.reason("pickup_slot", point=point.name, day=local["date"],
                                          start=local["hm"],
                                          end=clock(start + step, self.tz, now)["hm"],
                                          number=order.pickup_no))
                await self._text(session, order, "pickup_slot", now=now,
                                 key=db.outbox.event_sms_key(order.id, event.id))
                if self.notifier is not None:
                    await self.notifier.pickup_booked(session, point, order)
                return True
        log.warning("pickup point %s has no free slot in %d days; order %s goes to a leader",
                    point.id, DAYS_AHEAD, order.id)
        return False

    # -- a run's life ----------------------------------------------------------------------------

    async def create_run(self, session: AsyncSession, req: RunRequest, *, actor: str,
                         now: datetime | None = None) -> tuple[Run, int]:
        """A new run; orders already waiting in its villages join it. Returns (run, joined)."""
        now = now or utcnow()
        villages = list(dict.fromkeys(v.strip() for v in req.villages if v.strip()))
        if not villages:
            raise FulfilmentError("no_village", "a run needs at least one village")
        if req.cutoff_at > req.departs_at:
            raise FulfilmentError("cutoff_after_departure",
                                  "the cut-off must not be after the departure")
        leader = None
        if req.leader_id is not None:
            leader = await session.get(Leader, req.leader_id)
            if leader is None:
                raise FulfilmentError("no_leader", "no such leader")
        run = Run(vehicle=req.vehicle, leader_id=req.leader_id, departs_at=req.departs_at,
                  cutoff_at=req.cutoff_at, status="scheduled", created_by=actor)
        run.villages = [RunVillage(village=v) for v in villages]
        run.stops = [RunStop(seq=n, name=name, lat=lat, lon=lon, arrives_at=at, village=village)
                     for n, (name, lat, lon, at, village) in enumerate(req.stops, start=1)]
        session.add(run)
        await session.flush()
        joined = 0
        for order_id in await db.runs.waiting_in_villages(session, villages, req.cutoff_at):
            order = await db.orders.get(session, order_id, for_update=True)
            if order is None or order.status not in (S.CONFIRMED, S.UNASSIGNED):
                continue
            from gateway.orders.stock import dispatchable

            if not dispatchable(order):
                continue
            await self.put_on_run(session, order, run, stop_for(run, order.resident), now,
                                  reason=reasons.reason("run_scheduled"))
            joined += 1
        if self.notifier is not None and run.leader_id is not None:
            await self.notifier.run_scheduled(session, run, await run_sheet(session, run, self.tz,
                                                                            now), "scheduled")
        return run, joined

    async def move_run(self, session: AsyncSession, run_id: int, departs_at: datetime,
                       cutoff_at: datetime | None = None, *, actor: str,
                       now: datetime | None = None) -> tuple[Run, int]:
        """Reschedule a run (its stops shift by as much); its residents are told the new time.
        Returns (run, residents told)."""
        now = now or utcnow()
        run = await db.runs.get(session, run_id, for_update=True)
        if run is None:
            raise FulfilmentError("no_run", f"no run {run_id}")
        if run.status != "scheduled":
            raise FulfilmentError("not_scheduled", f"run {run_id} is {run.status}")
        delta = departs_at - run.departs_at
        cutoff = cutoff_at or run.cutoff_at + delta
        if cutoff > departs_at:
            raise FulfilmentError("cutoff_after_departure",
                                  "the cut-off must not be after the departure")
        run.departs_at, run.cutoff_at = departs_at, cutoff
        for st in run.stops:
            st.arrives_at = st.arrives_at + delta
        if cutoff > now and run.picking_sent_at is not None:
            run.picking_sent_at = None  # the list goes out again at the new cut-off
        if departs_at > now:
            run.departure_told_at = None  # "on the way" is told at the new departure
        await session.flush()
        told = 0
        stamp = int(departs_at.timestamp())
        for order in await db.runs.orders_on_run(session, run.id, db.runs.OPEN_ON_RUN):
            await db.orders.add_event(session, order, order.status, actor=actor,
                                      reason=reasons.reason("run_moved", run=run.id))
            told += bool(await self._text(session, order, "run_moved", now=now,
                                          key=f"run:{run.id}:moved:{stamp}:{order.id}"))
        if self.notifier is not None and run.leader_id is not None:
            await self.notifier.run_scheduled(session, run, await run_sheet(session, run, self.tz,
                                                                            now), "moved")
        return run, told

    async def cancel_run(self, session: AsyncSession, run_id: int, *, actor: str,
                         now: datetime | None = None) -> tuple[Run, int]:
        """Cancel a run: its open orders go back to the dispatcher (which puts them on the next
        run or offers them to a leader) and their residents are told. Returns (run, moved)."""
        now = now or utcnow()
        run = await db.runs.get(session, run_id, for_update=True)
        if run is None:
            raise FulfilmentError("no_run", f"no run {run_id}")
        if run.status == "cancelled":
            return run, 0
        if run.status != "scheduled":
            raise FulfilmentError("not_scheduled", f"run {run_id} is {run.status}")
        sheet = await run_sheet(session, run, self.tz, now)
        told = {"when": clock(run.departs_at, self.tz, now)}
        run.status = "cancelled"
        moved = 0
        for order in await db.runs.orders_on_run(session, run.id, db.runs.OPEN_ON_RUN):
            order = await db.orders.get(session, order.id, for_update=True) or order
            await self._text(session, order, "run_cancelled", now=now,
                             key=f"run:{run.id}:cancelled:{order.id}", told=told)
            order.fulfil_kind = None
            order.run_id = order.run_stop_id = None
            order.run = order.run_stop = None
            order.leader_id, order.leader = None, None
            order.promised = None  # the next choice is texted in full
            await change_status(session, order, S.CONFIRMED, actor=actor,
                                reason=reasons.reason("run_cancelled", run=run.id),
                                listeners=self.listeners)
            moved += 1
        if self.notifier is not None and run.leader_id is not None:
            await self.notifier.run_scheduled(session, run, sheet, "cancelled")
        return run, moved

    async def send_picking(self, session: AsyncSession, run_id: int, now: datetime) -> bool:
        """At the cut-off: the run's orders become accepted and its leader gets the list."""
        run = await db.runs.get(session, run_id, for_update=True)
        if run is None or run.status != "scheduled" or run.picking_sent_at is not None \
                or run.cutoff_at > now:
            return False
        run.picking_sent_at = now
        for order in await db.runs.orders_on_run(session, run.id, (S.ASSIGNED,)):
            await change_status(session, order, S.ACCEPTED, actor=f"run:{run.id}",
                                reason=reasons.reason("picking_sent"),
                                listeners=self.listeners)
        if self.notifier is not None and run.leader_id is not None:
            await self.notifier.picking(session, run, await run_sheet(session, run, self.tz, now),
                                        key=f"run:{run.id}:picking:{int(now.timestamp())}")
        return True

    async def tell_departure(self, session: AsyncSession, run_id: int, now: datetime) -> int:
        """At the departure: the residents still waiting for the run are told it is on the way
        and when it reaches their stop (spoken to those who take calls). Returns how many."""
        run = await db.runs.get(session, run_id, for_update=True)
        if run is None or run.status != "scheduled" or run.departure_told_at is not None \
                or run.departs_at > now:
            return 0
        run.departure_told_at = now
        told = 0
        for order in await db.runs.orders_on_run(session, run.id, db.runs.OPEN_ON_RUN):
            told += bool(await self._text(session, order, "run_departed", now=now,
                                          key=f"run:{run.id}:departed:{order.id}"))
        return told

    async def finish_runs(self, session: AsyncSession, now: datetime) -> int:
        """Runs a day past their departure with nothing left open are done."""
        done = 0
        for run in await db.runs.runs_between(session, until=now - timedelta(days=1),
                                              statuses=("scheduled",)):
            if run.picking_sent_at is not None and not await db.runs.orders_on_run(
                    session, run.id, db.runs.OPEN_ON_RUN):
                run.status = "done"
                done += 1
        return done

    # -- at the stop and at the point --------------------------------------------------------------

    async def _order_for(self, session: AsyncSession, order_id: int, kind: str) -> Order | None:
        order = await db.orders.get(session, order_id, for_update=True)
        return order if order is not None and order.fulfil_kind == kind else None

    async def _at_stop(self, session: AsyncSession, order_id: int, leader_id: int | None,
                       to: str) -> tuple[Order | None, Run | None, str]:
        """The order on its run, locked, or why not: gone | not_yours | already (in `to`)."""
        order = await self._order_for(session, order_id, "run")
        if order is None:
            return None, None, "gone"
        run = order.run
        if run is None or (leader_id is not None and run.leader_id != leader_id):
            return order, run, "not_yours"
        if order.status == to:
            return order, run, "already"
        if order.status not in (S.ASSIGNED, S.ACCEPTED, S.PURCHASED):
            return order, run, "gone"
        return order, run, ""

    async def delivered_at_stop(self, session: AsyncSession, order_id: int, *,
                                leader_id: int | None, actor: str = "") -> str:
        """The run's leader handed the bag over (`actor`: who recorded it, the leader by
        default; an operator records it for the run's leader): ok | already | not_yours |
        gone. `leader_id` None: not checked (an operator)."""
        order, run, refused = await self._at_stop(session, order_id, leader_id, S.DELIVERED)
        if refused:
            return refused
        assert order is not None and run is not None
        await change_status(session, order, S.DELIVERED,
                            actor=actor or f"leader:{leader_id or run.leader_id}",
                            reason=reasons.reason("handed_over_run", run=run.id),
                            listeners=self.listeners)
        return "ok"

    async def not_home(self, session: AsyncSession, order_id: int, *, leader_id: int | None,
                       actor: str, why: str = "") -> str:
        """Nobody came to the stop: the order goes back to the operators (`unassigned`) with
        the reason, and the resident is told. ok | already | not_yours | gone."""
        order, run, refused = await self._at_stop(session, order_id, leader_id, S.UNASSIGNED)
        if refused:
            return refused
        assert order is not None and run is not None
        stop = order.run_stop.name if order.run_stop is not None else ""
        order.leader_id, order.leader = None, None
        event = await change_status(
            session, order, S.UNASSIGNED, actor=actor, listeners=self.listeners,
            reason=reasons.reason("not_home_why", run=run.id, why=why) if why
            else reasons.reason("not_home", run=run.id))
        # under the event's own text key, so the dispatcher's late "no leader yet" text is not
        # sent on top of this one
        await self._text(session, order, "run_missed", key=db.outbox.event_sms_key(
            order.id, event.id), stop=stop)
        order.promised = None  # the next choice (another run, a leader) is texted in full
        return "ok"

    async def collected(self, session: AsyncSession, order_id: int, *, actor: str,
                        outlet_id: int | None = None) -> str:
        """Collected at the pickup point: ok | already | not_yours | gone."""
        order = await self._order_for(session, order_id, "pickup")
        if order is None:
            return "gone"
        if outlet_id is not None and order.pickup_outlet_id != outlet_id:
            return "not_yours"
        if order.status == S.DELIVERED:
            return "already"
        if order.status not in (S.ASSIGNED, S.ACCEPTED, S.PURCHASED):
            return "gone"
        await change_status(session, order, S.DELIVERED, actor=actor,
                            reason=reasons.reason("collected", number=order.pickup_no),
                            listeners=self.listeners)
        return "ok"

    # -- the call for a run ----------------------------------------------------------------------

    async def waiting_villages(self, session: AsyncSession, now: datetime
                               ) -> list[dict[str, Any]]:
        """Villages with no run ahead where households wait: village, households, oldest,
        hours, due (past the co-operative's threshold)."""
        ahead = await db.runs.villages_with_runs_ahead(session, now)
        out = []
        for village, households, oldest in await db.runs.waiting_by_village(session):
            if village in ahead:
                continue
            hours = (now - oldest).total_seconds() / 3600 if oldest else 0.0
            due = households >= self.call_households or (
                self.call_hours > 0 and hours >= self.call_hours)
            out.append({"village": village, "households": households, "oldest": oldest,
                        "hours": hours, "due": due})
        return out

    async def call_for_runs(self, session: AsyncSession, now: datetime) -> int:
        """Alert the operators once per wave (keyed by the oldest waiting order)."""
        if self.notifier is None:
            return 0
        sent = 0
        for v in await self.waiting_villages(session, now):
            if not v["due"]:
                continue
            oldest_id = await db.runs.oldest_waiting_order(session, v["village"])
            await self.notifier.run_call(session, v["village"], v["households"], v["oldest"],
                                         key=f"run-call:{v['village']}:{oldest_id}")
            sent += 1
        return sent


async def leave(session: AsyncSession, order: Order, kind: str | None) -> None:
    """Take an order off its run or pickup slot (an operator hands it to a leader, `kind`
    "leader", or back to the dispatcher, None): its pickup seat is given back."""
    if order.fulfil_kind == "pickup":
        await db.runs.release_seat(session, order.id)
    order.fulfil_kind = kind
    order.run_id = order.run_stop_id = order.pickup_outlet_id = None
    order.run = order.run_stop = order.pickup_outlet = None
    order.slot_start = order.pickup_no = None
    order.promised = None


class FulfilmentListener:
    """Order listener. At an order's first confirmation, what the rule says now is kept as
    `order.promised` (the confirmation text says it: `promised_plan`). A cancelled pickup
    order gives its seat in the slot back."""

    FROM = (None, "draft", "needs_review")

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        if event.to_status == S.CANCELLED and order.fulfil_kind == "pickup":
            await db.runs.release_seat(session, order.id)
            return
        if event.to_status != S.CONFIRMED or event.from_status not in self.FROM \
                or order.promised is not None:
            return
        at = event.at or utcnow()
        plan = await plan_for(session, order.resident, at, at)
        order.promised = plan.key


class ActiveCache(Rechecked[bool]):
    """Whether any run is ahead or any pickup point is open, re-read at most every
    `recheck_seconds`: while neither exists (most of the time for most co-operatives), read-backs
    skip the rule and its queries (`active`; False when the database cannot say)."""

    what = "runs and pickup points"

    async def load(self, session: AsyncSession) -> bool:
        return await db.runs.any_active(session, utcnow())

    async def active(self, database: Any) -> bool:
        return bool(await self.read(database))


async def tell_for(session: AsyncSession, tz: ZoneInfo, *, resident: Resident | None,
                   order: Order | None, now: datetime) -> dict[str, Any] | None:
    """What a read-back (no order yet) or a confirmation (its order) says about fulfilment;
    None for a nearest leader, which the templates say as before."""
    if order is not None and order.status != "draft":
        plan = await promised_plan(session, order)
    else:
        plan = await plan_for(session, resident, now, now)
    return None if plan.kind == "leader" else telling(plan, tz, now, order)
