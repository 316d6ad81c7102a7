"""The dispatcher: offers each confirmed order to the nearest available leader, one at a time.

A background worker picks up `confirmed` orders (on start too, so a restart loses nothing),
creates a Task for the best candidate (`gateway.dispatch.routing`) and queues the task card in the
outbox, all in one transaction. A decline, or no answer within `accept_timeout_minutes`, hands
the order to the next candidate; leaders who already had the order are not asked again. With
nobody left the order becomes `unassigned`, which alerts the operators. Leaders' presses come
in through `press()`, whatever the adapter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

import db.orders
import db.people
import db.runs
import db.tasks
from db.models import Leader, Order, OrderEvent, Task, utcnow
from gateway.orders import lifecycle, reasons
from gateway.orders.events import change_status
from gateway.orders.fulfilment import DEPARTURE_TELL_WINDOW, Fulfilment
from gateway.orders.stock import dispatchable
from gateway.dispatch.routing import LeaderIndex, LeaderSpot, rank, why_none
from gateway.dispatch.notifier import LeaderNotifier

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger(__name__)

S = lifecycle.Status
INDEX_REFRESH_SECONDS = 300.0


def _spot(ld: Leader) -> LeaderSpot:
    return LeaderSpot(ld.id, ld.lat, ld.lon, ld.radius_km, ld.capacity, ld.on_duty)


class OrderDispatcher:
    """Routes orders and applies leaders' answers; every method commits its own transaction."""

    def __init__(self, services: Services, messages: LeaderNotifier,
                 poll_seconds: float = 5.0) -> None:
        self.services = services
        self.db = services.db
        self.messages = messages
        self.poll_seconds = poll_seconds
        self.index = LeaderIndex()
        self._signature: tuple[int, int] | None = None
        self._loaded_at = 0.0
        self._checked_at = 0.0  # when leaders_signature was last read
        self._next_expiry: datetime | None = None
        self._wake = asyncio.Event()
        # One pass or press at a time in this process (SQLite has no row locks; PG also locks rows).
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._availability: tuple[object, ...] | None = None  # see _reoffer_unassigned
        # runs and pickup points: the other two ways an order reaches a resident
        self.fulfil = Fulfilment.of(services)

    # -- worker ----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name="dispatcher")

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the current pass finish its transaction, then end (cancel only if it hangs)."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def run(self) -> None:
        """Route on every wake; housekeeping (expired offers, the leader index, hiding old
        details) when the poll interval or the next offer's expiry is due. A burst of
        confirmations then costs one routing pass each, not a full pass each."""
        housekeeping_at = 0.0
        while not self._stopping:
            self._wake.clear()
            due = time.monotonic() >= housekeeping_at or (
                self._next_expiry is not None and self._next_expiry <= utcnow())
            try:
                await self.run_once(routing_only=not due)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be restarting: keep going
                log.exception("dispatch pass failed; trying again")
            if due:
                housekeeping_at = time.monotonic() + self.poll_seconds
            if self._stopping:
                break
            timeout = max(0.05, housekeeping_at - time.monotonic())
            if self._next_expiry is not None:
                timeout = min(timeout, max(0.05, (self._next_expiry - utcnow()).total_seconds()))
            with suppress(TimeoutError):  # not wait_for: see OutboxWorker.run
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def run_once(self, now: datetime | None = None, *, routing_only: bool = False) -> int:
        """Expire unanswered offers, route confirmed orders, hide old details; returns changes.
        `routing_only` routes confirmed orders and nothing else."""
        now = now or utcnow()
        changed = 0
        async with self._lock:
            if not routing_only:
                await self._refresh_index()
                async with self.db.session() as s:
                    expired = [t.id for t in await db.tasks.expired_offers(s, now)]
                for task_id in expired:
                    changed += await self._guarded(self._expire, task_id, now)
            async with self.db.session() as s:
                confirmed = list(await db.tasks.routable_confirmed(s))
            if routing_only and confirmed:  # leaders may have joined since the last pass
                # (those who join through the bot or the console are put in the index at once,
                # by leader_moved; this catches other processes, at most once a second)
                await self._refresh_index(min_interval=1.0)
            for order_id in confirmed:
                changed += await self._guarded(self._route_confirmed, order_id, now)
            changed += await self._reoffer_unassigned(now)
            if not routing_only:
                async with self.db.session() as s:
                    due_runs = list(await db.runs.due_picking(s, now))
                for run_id in due_runs:
                    changed += await self._guarded(self._send_picking, run_id, now)
                async with self.db.session() as s:
                    leaving = list(await db.runs.due_departure(s, now, DEPARTURE_TELL_WINDOW))
                for run_id in leaving:
                    changed += await self._guarded(self._tell_departure, run_id, now)
                changed += await self._guarded(self._runs_housekeeping, 0, now)
                changed += await self._guarded(self._redact_old, 0, now)
                changed += await self._guarded(self._text_long_unassigned, 0, now)
                async with self.db.session() as s:
                    self._next_expiry = await db.tasks.next_expiry(s)
        if changed:
            self.services.outbox.wake()
        return changed

    async def _guarded(self, fn, arg: int, now: datetime) -> int:  # type: ignore[no-untyped-def]
        try:
            async with self.db.session() as s:
                return int(await fn(s, arg, now))
        except Exception:  # one broken order must not stop the others
            log.exception("dispatch step %s(%s) failed", fn.__name__, arg)
            return 0

    async def _refresh_index(self, min_interval: float = 0.0) -> None:
        if min_interval and time.monotonic() - self._checked_at < min_interval:
            return
        self._checked_at = time.monotonic()
        async with self.db.session() as s:
            sig = await db.tasks.leaders_signature(s)
            if sig == self._signature and time.monotonic() - self._loaded_at < INDEX_REFRESH_SECONDS:
                return
            rows = await db.tasks.all_leader_positions(s)
        index = LeaderIndex()
        for lid, lat, lon, radius in rows:
            index.upsert(LeaderSpot(lid, lat, lon, radius, capacity=0))
        self.index, self._signature, self._loaded_at = index, sig, time.monotonic()

    def leader_moved(self, leader: Leader) -> None:
        """Keep the index current when a leader's base or radius changes in this process."""
        self.index.upsert(_spot(leader))
        self.wake()  # unassigned orders near them may be offered now

    # -- steps, each inside the caller's transaction -----------------------------------------

    async def _route_confirmed(self, s: AsyncSession, order_id: int, now: datetime) -> bool:
        order = await db.orders.get(s, order_id, for_update=True, history=False)
        if order is None or order.status != S.CONFIRMED or not dispatchable(order):
            return False  # (every line back-ordered: it waits for the goods, not a leader)
        at = await db.runs.confirmed_at(s, order.id) or now
        if await self.fulfil.route(s, order, at, now) is None:  # a run, a pickup point, or:
            await self._offer_next(s, order, now, reason=reasons.reason("confirmed"))
        return True

    async def _send_picking(self, s: AsyncSession, run_id: int, now: datetime) -> bool:
        return await self.fulfil.send_picking(s, run_id, now)

    async def _tell_departure(self, s: AsyncSession, run_id: int, now: datetime) -> int:
        return await self.fulfil.tell_departure(s, run_id, now)

    async def _runs_housekeeping(self, s: AsyncSession, _: int, now: datetime) -> int:
        """Alert operators about villages waiting for a run; close finished runs."""
        return await self.fulfil.call_for_runs(s, now) + await self.fulfil.finish_runs(s, now)

    async def _expire(self, s: AsyncSession, task_id: int, now: datetime) -> bool:
        task = await db.tasks.get(s, task_id, for_update=True)
        if task is None or task.status != "offered" or task.expires_at is None \
                or task.expires_at > now:
            return False
        order = await db.orders.get(s, task.order_id, for_update=True)
        db.tasks.close(task, "expired", now)
        leader = await s.get(Leader, task.leader_id)
        if order is None or leader is None:
            return True
        await self.messages.update_card(s, leader, task, order, "expired", hidden=True,
                                        key=f"task:{task.id}:expired")
        if order.status == S.ASSIGNED and order.leader_id == task.leader_id:
            await self._offer_next(s, order, now, reason=reasons.reason("no_answer", leader=leader.id))
        return True

    async def _redact_old(self, s: AsyncSession, _: int, now: datetime) -> int:
        days = self.services.settings.hide_resident_after_days
        tasks = await db.tasks.to_redact(s, now - timedelta(days=days))
        for task in tasks:
            order = await db.orders.get(s, task.order_id)
            leader = await s.get(Leader, task.leader_id)
            if order is not None and leader is not None:
                await self.messages.redact(s, leader, task, order, order.status)
            task.redacted_at = now
        return len(tasks)

    async def _text_long_unassigned(self, s: AsyncSession, _: int, now: datetime) -> int:
        """Text residents whose order has found no leader for `unassigned_sms_minutes`."""
        minutes = self.services.settings.unassigned_sms_minutes
        sms = self.services.resident_sms
        if not minutes or sms is None:
            return 0
        sent = 0
        for order, event in await db.tasks.long_unassigned(s, now - timedelta(minutes=minutes)):
            sent += bool(await sms.send(s, order, event))
        return sent

    async def _offer_next(self, s: AsyncSession, order: Order, now: datetime, *,
                          reason: str) -> Task | None:
        """Offer the order to the best leader who has not had it yet, or make it unassigned."""
        tried = await db.tasks.tried_leaders(s, order.id)
        resident = order.resident or await db.people.resident_by_phone(s, order.phone)
        why = reasons.reason("no_leader")
        best = None
        if resident is None or resident.lat is None or resident.lon is None:
            why = reasons.reason("location_unknown")
        else:
            ids = {spot.id for spot in self.index.near(resident.lat, resident.lon)}
            if resident.preferred_leader_id is not None:
                ids.add(resident.preferred_leader_id)
            leaders = {ld.id: ld for ld in await db.tasks.leaders_by_ids(s, ids - tried)
                       if ld.telegram_chat_id is not None}
            counts = await db.tasks.open_task_counts(s, leaders)
            ranked = rank(resident.lat, resident.lon, [_spot(ld) for ld in leaders.values()],
                          counts, preferred_id=resident.preferred_leader_id, exclude=tried)
            if ranked:
                best = ranked[0]
            else:
                why = await self._why_none(s, resident.lat, resident.lon, tried)
        listeners = self.services.listeners
        if best is None:
            order.leader_id = None
            order.leader = None
            await change_status(s, order, S.UNASSIGNED, actor="dispatcher",
                                reason=f"{why} ({reason})", listeners=listeners)
            return None
        leader = leaders[best.leader_id]
        order.fulfil_kind, order.run_id, order.run_stop_id = "leader", None, None
        expires = now + timedelta(minutes=self.services.settings.accept_timeout_minutes)
        task = await db.tasks.create(s, order, leader.id, expires_at=expires)
        if self._next_expiry is None or expires < self._next_expiry:
            self._next_expiry = expires  # until the next housekeeping pass reads it again
        order.leader_id = leader.id
        order.leader = leader
        await change_status(s, order, S.ASSIGNED, actor="dispatcher", listeners=listeners,
                            reason=reasons.reason(
                                "offered_preferred" if best.preferred else "offered",
                                leader=leader.id, km=f"{best.distance_km:.1f}") + f" ({reason})")
        await self.messages.offer(s, leader, task, order, distance_km=best.distance_km)
        return task

    async def _why_none(self, s: AsyncSession, lat: float, lon: float, tried: set[int]) -> str:
        """The real cause, in words of `gateway.orders.reasons`: the nearest leader and what
        kept them from the order (not joined, off duty, full, too far), with the distance."""
        everyone = await db.tasks.all_leaders(s)
        if not everyone:
            return reasons.reason("no_leaders")
        counts = await db.tasks.open_task_counts(s, [ld.id for ld in everyone])
        blocker = why_none(lat, lon, [(_spot(ld), ld.telegram_chat_id is not None)
                                      for ld in everyone], counts, exclude=tried)
        if blocker is None:
            return reasons.reason("no_leader")
        km = f"{blocker.distance_km:.1f}"
        if blocker.cause == "too_far":
            return reasons.reason("too_far", leader=blocker.leader_id, km=km,
                                  radius=f"{blocker.radius_km:g}")
        if blocker.cause == "tried":
            return reasons.reason("all_tried", leader=blocker.leader_id, km=km)
        return reasons.reason(blocker.cause, leader=blocker.leader_id, km=km)

    async def _reoffer_unassigned(self, now: datetime) -> int:
        """When leaders' availability changed (one joined, came on duty, got room, moved):
        offer the unassigned orders again, oldest first. Orders still without a leader stay
        as they are (no new event, no text)."""
        async with self.db.session() as s:
            sig = await db.tasks.availability_signature(s)
            if sig == self._availability:
                return 0
            waiting = list(await db.tasks.orders_with_status(s, S.UNASSIGNED))
        if waiting:
            await self._refresh_index(min_interval=1.0)
        changed = 0
        for order_id in waiting:
            changed += await self._guarded(self._reoffer, order_id, now)
        self._availability = sig
        return changed

    async def _reoffer(self, s: AsyncSession, order_id: int, now: datetime) -> bool:
        order = await db.orders.get(s, order_id, for_update=True, history=False)
        if order is None or order.status != S.UNASSIGNED:
            return False
        if order.fulfil_kind == "run":
            return False  # not home at a run's stop: the operators decide (or a new run takes it)
        if order.resident is not None and await self.fulfil.route(s, order, now, now):
            return True  # a run ahead now, or a pickup point
        resident = order.resident or await db.people.resident_by_phone(s, order.phone)
        if resident is None or resident.lat is None or resident.lon is None:
            return False
        tried = await db.tasks.tried_leaders(s, order.id)
        ids = {spot.id for spot in self.index.near(resident.lat, resident.lon)}
        if resident.preferred_leader_id is not None:
            ids.add(resident.preferred_leader_id)
        leaders = [ld for ld in await db.tasks.leaders_by_ids(s, ids - tried)
                   if ld.telegram_chat_id is not None]
        counts = await db.tasks.open_task_counts(s, [ld.id for ld in leaders])
        if not rank(resident.lat, resident.lon, [_spot(ld) for ld in leaders], counts,
                    preferred_id=resident.preferred_leader_id, exclude=tried):
            return False  # nobody new: no event, no text
        return await self._offer_next(s, order, now,
                                      reason=reasons.reason("leader_available")) is not None

    # -- leaders' answers ------------------------------------------------------------------

    async def press(self, leader_id: int, task_id: int, action: str,
                    now: datetime | None = None) -> str:
        """Apply a button press; returns ok | already | not_yours | gone | illegal."""
        now = now or utcnow()
        async with self._lock, self.db.session() as s:
            outcome = await self._press(s, leader_id, task_id, action, now)
        self.services.outbox.wake()
        return outcome

    async def _press(self, s: AsyncSession, leader_id: int, task_id: int, action: str,
                     now: datetime) -> str:
        task = await db.tasks.get(s, task_id, for_update=True)
        if task is None or task.leader_id != leader_id:
            return "not_yours"
        order = await db.orders.get(s, task.order_id, for_update=True)
        leader = await s.get(Leader, leader_id)
        if order is None or leader is None:
            return "gone"
        actor, listeners = f"leader:{leader.id}", self.services.listeners
        mine = order.leader_id == leader.id
        if action == "accept":
            if task.status == "accepted":
                return "already"
            if task.status != "offered" or order.status != S.ASSIGNED or not mine:
                return "gone"
            task.status, task.responded_at, task.expires_at = "accepted", now, None
            order.leader = leader
            await change_status(s, order, S.ACCEPTED, actor=actor, listeners=listeners)
            await self.messages.update_card(s, leader, task, order, "accepted",
                                            key=f"task:{task.id}:accepted")
            return "ok"
        if action == "decline":
            if task.status == "declined":
                return "already"
            if task.status not in db.tasks.OPEN or not mine \
                    or order.status not in lifecycle.OPEN_FOR_LEADER:
                return "gone"
            db.tasks.close(task, "declined", now)
            await self.messages.update_card(s, leader, task, order, "declined", hidden=True,
                                            key=f"task:{task.id}:declined")
            await self._offer_next(s, order, now, reason=reasons.reason("declined", leader=leader.id))
            return "ok"
        if action in ("bought", "delivered"):
            if task.status == "done" or (action == "bought" and order.status == S.PURCHASED
                                         and task.status == "accepted"):
                return "already"
            if task.status != "accepted" or not mine:
                return "illegal" if task.status == "offered" else "gone"
            if action == "bought":
                if order.status != S.ACCEPTED:
                    return "illegal"
                await change_status(s, order, S.PURCHASED, actor=actor, listeners=listeners)
                await self.messages.update_card(s, leader, task, order, "purchased",
                                                key=f"task:{task.id}:purchased")
                return "ok"
            if order.status not in (S.ACCEPTED, S.PURCHASED):
                return "illegal"
            db.tasks.close(task, "done", now)
            await change_status(s, order, S.DELIVERED, actor=actor, listeners=listeners)
            await self.messages.update_card(s, leader, task, order, "delivered",
                                            key=f"task:{task.id}:delivered")
            self.wake()  # the leader has room again
            return "ok"
        return "illegal"


class TaskSync:
    """Keeps tasks in step with status changes made elsewhere (operator, resident, console)."""

    def __init__(self, dispatcher: OrderDispatcher) -> None:
        self.dispatcher = dispatcher

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        to = event.to_status
        if event.from_status is None:  # a new order has no tasks yet
            return
        if to not in (S.CANCELLED, S.CONFIRMED, S.UNASSIGNED, S.DELIVERED, S.ASSIGNED):
            return
        open_tasks = await db.tasks.open_tasks_of_order(session, order.id)
        if to == S.ASSIGNED:
            if order.fulfil_kind in ("run", "pickup"):
                return  # on a run (its leader gets the run's lists) or at a pickup point
            # An operator's manual assignment: offer it to that leader like any other.
            if order.leader_id is not None and not any(
                    t.leader_id == order.leader_id for t in open_tasks):
                leader = await session.get(Leader, order.leader_id)
                if leader is not None:
                    expires = utcnow() + timedelta(
                        minutes=self.dispatcher.services.settings.accept_timeout_minutes)
                    task = await db.tasks.create(session, order, leader.id, expires_at=expires)
                    await self.dispatcher.messages.offer(session, leader, task, order,
                                                         distance_km=None)
            return
        for task in open_tasks:
            leader = await session.get(Leader, task.leader_id)
            state = "delivered" if to == S.DELIVERED else \
                "cancelled" if to == S.CANCELLED else "withdrawn"
            db.tasks.close(task, "done" if to == S.DELIVERED else "withdrawn")
            if leader is not None:
                await self.dispatcher.messages.update_card(
                    session, leader, task, order, state, hidden=to != S.DELIVERED,
                    key=f"task:{task.id}:{state}:{event.id}")
