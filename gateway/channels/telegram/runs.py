"""Village runs and pickup points on Telegram (gateway.orders.fulfilment).

`TelegramRuns` is the channel's `RunNotifier`: the run's leader gets a note when a run is
scheduled, moved or cancelled, and at the cut-off the picking list (per product: quantity and
households; the totals) followed by the stop lists, a message per stop or part of one, with
two buttons per household: delivered / not home. Operators get the call for a run. Everything
is queued in the outbox in the caller's transaction.

The router: a leader's `/run` shows the lists again (the runs whose picking list went out, else
the runs ahead); a household button applies `delivered_at_stop` or `not_home` and edits that
message in place. Pickup points' staff (outlet staff of an outlet that is a pickup point) send
`/slots` (or `/slots YYYY-MM-DD`) for the day's slot lists with pickup numbers and a collected
button per household.

A list button carries the first and last order id of its message, so the edit after a press
lists the same households as the message pressed, however the list was cut.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

import db.orders
import db.runs
from db.models import Leader, Order, Outlet, OutletStaff, Run, utcnow
from gateway.channels.telegram import limits
from gateway.channels.telegram.messages import Buttons, TelegramMessages
from gateway.channels.telegram.middleware import Reply
from gateway.channels.telegram.outlets import is_staff
from gateway.orders import sheets
from gateway.orders.fulfilment import Fulfilment
from gateway.orders.sheets import Bag, RunSheet, SlotList, StopBags
from gateway.orders.pricing import money
from gateway.settings import Settings

log = logging.getLogger(__name__)

PER_MESSAGE = 15  # households per list message (two buttons each: 30 of Telegram's 100)
ROOM = limits.TEXT_LIMIT - 600  # a list message is cut before this; its edits may grow a little
OPEN = ("assigned", "accepted", "purchased")  # a household still to be handed its bag

Rows = list[tuple[int, Bag]]  # (number on the list, household)


class RunPress(CallbackData, prefix="u"):
    """A household's button on a stop list: `u:<order id>:<d|n>:<first>:<last>` (delivered,
    not home; the first and last order id of the message)."""

    order_id: int
    action: str
    first: int
    last: int


class PickupPress(CallbackData, prefix="k"):
    """A household's collected button on a slot list: `k:<order id>:<first>:<last>`."""

    order_id: int
    first: int
    last: int


def cut(rows: Rows, render: Callable[[Rows], str]) -> list[Rows]:
    """The rows in messages of at most PER_MESSAGE households and ROOM units, in order; one
    empty message for no rows (it says so)."""
    out: list[Rows] = []
    current: Rows = []
    for row in rows:
        if current and (len(current) >= PER_MESSAGE
                        or limits.units(render([*current, row])) > ROOM):
            out.append(current)
            current = []
        current.append(row)
    out.append(current)
    return out


def between(rows: Rows, first: int, last: int) -> Rows:
    return [(n, b) for n, b in rows if first <= b.order.id <= last]


def numbered(bags: Sequence[Bag]) -> Rows:
    return list(enumerate(bags, start=1))


def totals(sheet: RunSheet) -> dict[str, Any]:
    """What the leader loads and collects: households still on the run, the amount to collect
    (None when no price is known), households with no amount yet, supported households."""
    bags = [b for st in sheet.stops for b in st.bags if b.status not in ("unassigned", "cancelled")]
    free = {b.phone for b in bags if b.supported}
    known = [Decimal(b.amount) for b in bags if not b.supported and b.amount is not None]
    return {"households": len({b.phone for b in bags}), "free": len(free),
            "unknown": len({b.phone for b in bags if not b.supported and b.amount is None}),
            "collect": money(sum(known, Decimal(0))) if known else None}


class TelegramRuns:
    """The `RunNotifier` of the Telegram channel, and the lists its router shows."""

    def __init__(self, messages: TelegramMessages, settings: Settings) -> None:
        self.messages = messages
        self.settings = settings
        self.tz = ZoneInfo(settings.console_timezone)

    # -- a run's lists -----------------------------------------------------------------------------

    def stop_text(self, locale: str, run: Run, stop: StopBags, rows: Rows) -> str:
        return self.messages.text(locale, "run_stop", run=run, stop=stop, rows=rows,
                                  total=len(stop.bags))

    def stop_buttons(self, locale: str, rows: Rows) -> Buttons:
        if not rows:
            return []
        first, last = rows[0][1].order.id, rows[-1][1].order.id
        return [[(self.messages.text(locale, f"label_run_{action}", n=n, bag=bag),
                  RunPress(order_id=bag.order.id, action=action[0], first=first,
                           last=last).pack())
                 for action in ("delivered", "not_home")]
                for n, bag in rows if bag.status in OPEN]

    def stop_messages(self, locale: str, run: Run, stop: StopBags) -> list[tuple[str, Buttons]]:
        def render(rows: Rows) -> str:
            return self.stop_text(locale, run, stop, rows)

        return [(render(rows), self.stop_buttons(locale, rows))
                for rows in cut(numbered(stop.bags), render)]

    async def sheet_messages(self, session: AsyncSession, chat_id: int, locale: str,
                             sheet: RunSheet, *, key: str) -> None:
        """The picking list, then the stop lists with their buttons."""
        run = sheet.run
        await self.messages.queue(session, chat_id, self.messages.text(
            locale, "run_picking", run=run, sheet=sheet, t=totals(sheet),
            when=sheets.clock(run.departs_at, self.tz)), key=key)
        for s_n, stop in enumerate(sheet.stops, start=1):
            for p_n, (text, buttons) in enumerate(self.stop_messages(locale, run, stop),
                                                  start=1):
                await self.messages.queue(session, chat_id, text, buttons=buttons,
                                          key=f"{key}:stop:{s_n}:{p_n}")

    def notice(self, locale: str, run: Run, sheet: RunSheet, change: str) -> str:
        return self.messages.text(
            locale, "run_notice", run=run, change=change, t=totals(sheet),
            when=sheets.clock(run.departs_at, self.tz),
            cutoff=sheets.clock(run.cutoff_at, self.tz),
            stops=[(st.name, sheets.clock(st.arrives_at, self.tz)) for st in run.stops])

    # -- RunNotifier -------------------------------------------------------------------------------

    async def run_scheduled(self, session: AsyncSession, run: Run, sheet: RunSheet,
                            change: str) -> None:
        leader = run.leader
        if leader is None or leader.telegram_chat_id is None:
            return
        await self.messages.queue(
            session, leader.telegram_chat_id, self.notice(leader.locale, run, sheet, change),
            key=f"run:{run.id}:{change}:{int(run.departs_at.timestamp())}")

    async def picking(self, session: AsyncSession, run: Run, sheet: RunSheet, *,
                      key: str) -> None:
        leader = run.leader
        if leader is None or leader.telegram_chat_id is None:
            return
        await self.sheet_messages(session, leader.telegram_chat_id, leader.locale, sheet,
                                  key=key)

    async def run_call(self, session: AsyncSession, village: str, households: int,
                       oldest: datetime, *, key: str) -> None:
        hours = max(0.0, (utcnow() - oldest).total_seconds() / 3600) if oldest else 0.0
        await self.messages.operator_alert(session, "run_call", key=key, village=village,
                                           households=households, hours=f"{hours:.0f}")

    async def pickup_booked(self, session: AsyncSession, point: Outlet, order: Order) -> None:
        """Nothing per booking: a busy point would get a message per order all day. Staff ask
        for a day's lists with /slots, which are always current."""

    # -- slot lists --------------------------------------------------------------------------------

    def slot_text(self, locale: str, point: Outlet, day: date, slot: SlotList,
                  rows: Rows) -> str:
        return self.messages.text(locale, "pickup_slot_list", outlet=point, day=day, slot=slot,
                                  rows=rows, total=len(slot.bags))

    def slot_buttons(self, locale: str, rows: Rows) -> Buttons:
        if not rows:
            return []
        first, last = rows[0][1].order.id, rows[-1][1].order.id
        return [[(self.messages.text(locale, "label_collected", bag=bag),
                  PickupPress(order_id=bag.order.id, first=first, last=last).pack())]
                for _, bag in rows if bag.status in OPEN]

    def slot_messages(self, locale: str, point: Outlet, day: date,
                      slot: SlotList) -> list[tuple[str, Buttons]]:
        def render(rows: Rows) -> str:
            return self.slot_text(locale, point, day, slot, rows)

        return [(render(rows), self.slot_buttons(locale, rows))
                for rows in cut(numbered(slot.bags), render)]


# --- the router ----------------------------------------------------------------------------------


def _runs(services: Any, messages: TelegramMessages) -> TelegramRuns:
    notifier = services.run_notifier
    return notifier if isinstance(notifier, TelegramRuns) else \
        TelegramRuns(messages, services.settings)


async def is_leader(event: TelegramObject, leader: Leader | None = None) -> bool:
    """Filter: the sender is a linked team leader (anyone else falls through)."""
    return leader is not None


async def run_command(message: Message, session: AsyncSession, leader: Leader,
                      messages: TelegramMessages, reply: Reply, services: Any) -> None:
    notifier = _runs(services, messages)
    mine = [r for r in await db.runs.runs_between(session, statuses=("scheduled",))
            if r.leader_id == leader.id]
    sent = [r for r in mine if r.picking_sent_at is not None]
    if not mine:
        await reply("run_none")
        return
    for run in sent or mine:
        sheet = await sheets.run_sheet(session, run, notifier.tz)
        if run.picking_sent_at is not None:
            await notifier.sheet_messages(session, message.chat.id, leader.locale, sheet,
                                          key=f"tg:update:{reply.update_id}:run:{run.id}")
        else:
            await reply.text(notifier.notice(leader.locale, run, sheet, "ahead"))


async def _answer(query: CallbackQuery, messages: TelegramMessages, locale: str,
                  outcome: str, *, pickup: bool = False) -> None:
    try:  # the little notice on the button; the list itself is edited through the outbox
        await query.answer(messages.text(locale, "run_press", outcome=outcome, pickup=pickup),
                           show_alert=outcome in ("not_yours", "gone"))
    except Exception as exc:  # noqa: BLE001 - Telegram unreachable: the press is saved
        log.warning("could not answer callback query: %r", exc)


def _where(query: CallbackQuery) -> tuple[int, int] | None:
    msg = query.message
    if msg is None or not isinstance(msg, Message):
        return None
    return msg.chat.id, msg.message_id


async def run_pressed(query: CallbackQuery, callback_data: RunPress, leader: Leader | None,
                      messages: TelegramMessages, services: Any, reply: Reply,
                      locale: str) -> None:
    if leader is None:
        await _answer(query, messages, locale, "not_yours")
        return
    notifier, f = _runs(services, messages), Fulfilment.of(services)
    order_id = callback_data.order_id
    # In a transaction of its own, committed before the answer: "recorded" means recorded.
    async with services.db.session() as s:
        if callback_data.action == "d":
            outcome = await f.delivered_at_stop(s, order_id, leader_id=leader.id)
        elif callback_data.action == "n":
            outcome = await f.not_home(s, order_id, leader_id=leader.id,
                                       actor=f"leader:{leader.id}")
        else:
            outcome = "gone"
        where = _where(query)
        if outcome in ("ok", "already") and where is not None:
            await _edit_stop(s, notifier, leader.locale, where, callback_data, reply.update_id)
    services.outbox.wake()
    await _answer(query, messages, leader.locale, outcome)


async def _edit_stop(session: AsyncSession, notifier: TelegramRuns, locale: str,
                     where: tuple[int, int], press: RunPress, update_id: int) -> None:
    """The pressed message again: the same households, their states now, buttons for those
    still waiting."""
    order = await db.orders.get(session, press.order_id)
    run = await db.runs.get(session, order.run_id) if order and order.run_id else None
    if run is None:
        return
    for stop in (await sheets.run_sheet(session, run, notifier.tz)).stops:
        rows = between(numbered(stop.bags), press.first, press.last)
        if any(b.order.id == press.order_id for _, b in rows):
            await notifier.messages.queue(
                session, where[0], notifier.stop_text(locale, run, stop, rows), op="edit",
                key=f"tg:update:{update_id}:edit", message_id=where[1],
                buttons=notifier.stop_buttons(locale, rows))
            return


async def slots_command(message: Message, command: CommandObject, session: AsyncSession,
                        staff: OutletStaff, outlet: Outlet, messages: TelegramMessages,
                        reply: Reply, services: Any) -> None:
    reply.locale = staff.locale
    if not outlet.pickup:
        await reply("pickup_not_point", outlet=outlet)
        return
    notifier = _runs(services, messages)
    arg = (command.args or "").strip()
    try:
        day = date.fromisoformat(arg) if arg else utcnow().astimezone(notifier.tz).date()
    except ValueError:
        await reply("pickup_bad_date", given=arg)
        return
    slots = await sheets.slot_lists(session, outlet, day, notifier.tz)
    if not slots:
        await reply("pickup_none", outlet=outlet, day=day)
        return
    for s_n, slot in enumerate(slots, start=1):
        for p_n, (text, buttons) in enumerate(
                notifier.slot_messages(staff.locale, outlet, day, slot), start=1):
            await messages.queue(session, message.chat.id, text, buttons=buttons,
                                 key=f"tg:update:{reply.update_id}:slot:{s_n}:{p_n}")


async def pickup_pressed(query: CallbackQuery, callback_data: PickupPress,
                         staff: OutletStaff, outlet: Outlet, messages: TelegramMessages,
                         services: Any, reply: Reply) -> None:
    notifier = _runs(services, messages)
    async with services.db.session() as s:
        outcome = await Fulfilment.of(services).collected(
            s, callback_data.order_id, actor=f"outlet:{staff.id}", outlet_id=outlet.id)
        where = _where(query)
        if outcome in ("ok", "already") and where is not None:
            await _edit_slot(s, notifier, staff.locale, outlet.id, where, callback_data,
                             reply.update_id)
    services.outbox.wake()
    await _answer(query, messages, staff.locale, outcome, pickup=True)


async def pickup_not_staff(query: CallbackQuery, messages: TelegramMessages,
                           locale: str) -> None:
    await _answer(query, messages, locale, "not_yours", pickup=True)


async def _edit_slot(session: AsyncSession, notifier: TelegramRuns, locale: str,
                     outlet_id: int, where: tuple[int, int], press: PickupPress,
                     update_id: int) -> None:
    order = await db.orders.get(session, press.order_id)
    point = await session.get(Outlet, outlet_id)
    if order is None or order.slot_start is None or point is None:
        return
    day = order.slot_start.astimezone(notifier.tz).date()
    for slot in await sheets.slot_lists(session, point, day, notifier.tz):
        rows = between(numbered(slot.bags), press.first, press.last)
        if any(b.order.id == press.order_id for _, b in rows):
            await notifier.messages.queue(
                session, where[0], notifier.slot_text(locale, point, day, slot, rows),
                op="edit", key=f"tg:update:{update_id}:edit", message_id=where[1],
                buttons=notifier.slot_buttons(locale, rows))
            return


def router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several apps)."""
    r = Router(name="runs")
    r.message.filter(F.chat.type == "private")
    r.message.register(slots_command, Command("slots"), is_staff)
    r.callback_query.register(pickup_pressed, PickupPress.filter(), is_staff)
    r.callback_query.register(pickup_not_staff, PickupPress.filter())
    r.message.register(run_command, Command("run"), is_leader)
    r.callback_query.register(run_pressed, RunPress.filter())
    return r
