"""Village runs and pickup points on Telegram (gateway.orders.fulfilment).

`TelegramRuns` is the channel's `RunNotifier`: the run's leader gets a note when a run is
scheduled, moved or cancelled, and at the cut-off the picking list (per product: quantity and
households) followed by one message per stop (at most STOP_CHUNK households each) with two
buttons per household: delivered / not home. Operators get the call for a run. Everything is
queued in the outbox in the caller's transaction.

The router: a leader's `/run` shows the lists again (the runs whose picking list went out, else
the runs ahead); a household button applies `delivered_at_stop` or `not_home` and edits that
message in place. Pickup points' staff (outlet staff of an outlet that is a pickup point) send
`/slots` (or `/slots YYYY-MM-DD`) for the day's slot lists with pickup numbers and a collected
button per household.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

import db.runs
from db.models import Leader, Order, Outlet, OutletStaff, Run, utcnow
from gateway.channels.telegram.messages import Buttons, TelegramMessages
from gateway.channels.telegram.middleware import Reply
from gateway.channels.telegram.outlets import is_staff
from gateway.orders import fulfilment
from gateway.orders.fulfilment import Fulfilment, RunSheet, StopBags
from gateway.settings import Settings

log = logging.getLogger(__name__)

STOP_CHUNK = 15  # households per stop message (buttons: two each; texts stay well in 4,096)


class RunPress(CallbackData, prefix="u"):
    """A household's button on a run's stop list: `u:<order id>:<d|n>` (delivered, not home)."""

    order_id: int
    action: str


class PickupPress(CallbackData, prefix="k"):
    """A household's collected button on a pickup slot list: `k:<order id>`."""

    order_id: int


def _chunks(bags: list[Any], n: int = STOP_CHUNK) -> list[list[Any]]:
    return [bags[i:i + n] for i in range(0, len(bags), n)] or [[]]


class TelegramRuns:
    """The `RunNotifier` of the Telegram channel."""

    def __init__(self, messages: TelegramMessages, settings: Settings) -> None:
        self.messages = messages
        self.settings = settings
        self.tz = ZoneInfo(settings.console_timezone)

    def stop_buttons(self, locale: str, stop: StopBags) -> Buttons:
        rows: Buttons = []
        for bag in stop.bags:
            if bag.status in ("delivered", "unassigned", "cancelled"):
                continue
            rows.append([
                (self.messages.text(locale, "label_run_delivered", bag=bag),
                 RunPress(order_id=bag.order.id, action="d").pack()),
                (self.messages.text(locale, "label_run_not_home", bag=bag),
                 RunPress(order_id=bag.order.id, action="n").pack())])
        return rows

    def stop_texts(self, locale: str, run: Run, stop: StopBags) -> list[tuple[str, Buttons]]:
        out = []
        for n, bags in enumerate(_chunks(stop.bags), start=1):
            part = StopBags(stop.name, stop.at, stop.stop_id, bags)
            out.append((self.messages.text(locale, "run_stop", run=run, stop=part, part=n,
                                           parts=len(_chunks(stop.bags))),
                        self.stop_buttons(locale, part)))
        return out

    async def _sheet_messages(self, session: AsyncSession, chat_id: int, locale: str,
                              sheet: RunSheet, key: str) -> None:
        run = sheet.run
        await self.messages.queue(session, chat_id, self.messages.text(
            locale, "run_picking", run=run, sheet=sheet,
            when=fulfilment.clock(run.departs_at, self.tz)), key=key)
        for s_n, stop in enumerate(sheet.stops, start=1):
            for c_n, (text, buttons) in enumerate(self.stop_texts(locale, run, stop), start=1):
                await self.messages.queue(session, chat_id, text, buttons=buttons,
                                          key=f"{key}:stop:{s_n}:{c_n}")

    async def run_scheduled(self, session: AsyncSession, run: Run, sheet: RunSheet,
                            change: str) -> None:
        leader = run.leader or (await session.get(Leader, run.leader_id)
                                if run.leader_id else None)
        if leader is None or leader.telegram_chat_id is None:
            return
        text = self.messages.text(
            leader.locale, "run_notice", run=run, change=change, sheet=sheet,
            when=fulfilment.clock(run.departs_at, self.tz),
            cutoff=fulfilment.clock(run.cutoff_at, self.tz),
            stops=[(st.name, fulfilment.clock(st.arrives_at, self.tz)) for st in run.stops])
        await self.messages.queue(
            session, leader.telegram_chat_id, text,
            key=f"run:{run.id}:{change}:{int(run.departs_at.timestamp())}")

    async def picking(self, session: AsyncSession, run: Run, sheet: RunSheet, *,
                      key: str) -> None:
        leader = run.leader or (await session.get(Leader, run.leader_id)
                                if run.leader_id else None)
        if leader is None or leader.telegram_chat_id is None:
            return
        await self._sheet_messages(session, leader.telegram_chat_id, leader.locale, sheet, key)

    async def run_call(self, session: AsyncSession, village: str, households: int,
                       oldest: datetime, *, key: str) -> None:
        hours = max(0.0, (utcnow() - oldest).total_seconds() / 3600) if oldest else 0.0
        await self.messages.operator_alert(session, "run_call", key=key, village=village,
                                           households=households, hours=f"{hours:.0f}")

    async def pickup_booked(self, session: AsyncSession, point: Outlet, order: Order) -> None:
        """Nothing per booking: staff ask for the day's lists with /slots (a message per
        booking would bury them in a busy town)."""


# --- the router --------------------------------------------------------------------------------


def _runs(services: Any) -> tuple[Fulfilment, TelegramRuns]:
    f = Fulfilment.of(services)
    notifier = services.run_notifier
    assert isinstance(notifier, TelegramRuns)
    return f, notifier


async def run_command(message: Message, session: AsyncSession, leader: Leader | None,
                      reply: Reply, services: Any) -> None:
    if leader is None or message.chat is None:
        await reply("not_linked")
        return
    f, notifier = _runs(services)
    now = utcnow()
    mine = [r for r in await db.runs.runs_between(session, since=now - timedelta(days=1),
                                                  statuses=("scheduled",))
            if r.leader_id == leader.id]
    if not mine:
        await reply("run_none")
        return
    for run in mine:
        sheet = await fulfilment.run_sheet(session, run, f.tz, now)
        if run.picking_sent_at is not None:
            await notifier._sheet_messages(session, message.chat.id, leader.locale, sheet,
                                           key=f"tg:update:{reply.update_id}:run:{run.id}")
        else:
            await reply("run_notice", run=run, change="ahead", sheet=sheet,
                        when=fulfilment.clock(run.departs_at, f.tz, now),
                        cutoff=fulfilment.clock(run.cutoff_at, f.tz, now),
                        stops=[(st.name, fulfilment.clock(st.arrives_at, f.tz, now))
                               for st in run.stops])


async def _answer(query: CallbackQuery, messages: TelegramMessages, locale: str,
                  outcome: str) -> None:
    try:
        await query.answer(messages.text(locale, "run_press", outcome=outcome),
                           show_alert=outcome in ("not_yours", "gone"))
    except Exception as exc:  # noqa: BLE001 - Telegram unreachable: the press is saved
        log.warning("could not answer callback query: %r", exc)


async def run_pressed(query: CallbackQuery, callback_data: RunPress, session: AsyncSession,
                      leader: Leader | None, messages: TelegramMessages, services: Any,
                      reply: Reply) -> None:
    locale = leader.locale if leader else services.settings.default_locale
    if leader is None:
        await _answer(query, messages, locale, "not_yours")
        return
    f, notifier = _runs(services)
    if callback_data.action == "d":
        outcome = await f.delivered_at_stop(session, callback_data.order_id,
                                            leader_id=leader.id)
    elif callback_data.action == "n":
        outcome = await f.not_home(session, callback_data.order_id, leader_id=leader.id,
                                   actor=f"leader:{leader.id}")
    else:
        outcome = "gone"
    if outcome == "ok" and query.message is not None:
        await _edit_stop(session, query, notifier, leader, callback_data.order_id,
                         reply.update_id)
    await _answer(query, messages, locale, outcome)
    services.wake_dispatcher()


def _shown(query: CallbackQuery, prefix: str, unpack: Any) -> set[int]:
    """The order ids whose buttons the pressed message still has."""
    markup = getattr(query.message, "reply_markup", None)
    rows = markup.inline_keyboard if markup is not None else []
    return {int(unpack(b.callback_data).order_id) for row in rows for b in row
            if b.callback_data and b.callback_data.startswith(prefix + ":")}


def _same_message(bags: list[Any], shown: set[int], order_id: int) -> list[Any]:
    """The households the pressed message lists: all of them when they fit one message,
    else the ones it still has buttons for and the one pressed."""
    if len(bags) <= STOP_CHUNK:
        return bags
    return [b for b in bags if b.order.id in shown | {order_id}]


async def _edit_stop(session: AsyncSession, query: CallbackQuery, notifier: TelegramRuns,
                     leader: Leader, order_id: int, update_id: int) -> None:
    """The pressed message again, with the household's new state and no buttons for it."""
    import db.orders

    order = await db.orders.get(session, order_id)
    if order is None or order.run_id is None or query.message is None:
        return
    run = await db.runs.get(session, order.run_id)
    if run is None:
        return
    sheet = await fulfilment.run_sheet(session, run, notifier.tz)
    shown = _shown(query, "u", RunPress.unpack)
    for stop in sheet.stops:
        if any(b.order.id == order_id for b in stop.bags):
            part = StopBags(stop.name, stop.at, stop.stop_id,
                            _same_message(stop.bags, shown, order_id))
            text = notifier.messages.text(leader.locale, "run_stop", run=run, stop=part,
                                          part=1, parts=1)
            await notifier.messages.queue(
                session, query.message.chat.id, text, op="edit",
                key=f"tg:update:{update_id}:run-edit",
                buttons=notifier.stop_buttons(leader.locale, part),
                message_id=query.message.message_id)
            return


def _slot_buttons(messages: TelegramMessages, locale: str, bags: list[Any]) -> Buttons:
    return [[(messages.text(locale, "label_collected", bag=b),
              PickupPress(order_id=b.order.id).pack())]
            for b in bags if b.status not in ("delivered", "cancelled")]


async def slots_command(message: Message, command: CommandObject, session: AsyncSession,
                        staff: OutletStaff, outlet: Outlet, messages: TelegramMessages,
                        reply: Reply, services: Any) -> None:
    reply.locale = staff.locale
    if not outlet.pickup:
        await reply("pickup_not_point", outlet=outlet)
        return
    tz = ZoneInfo(services.settings.console_timezone)
    arg = (command.args or "").strip()
    try:
        day = date.fromisoformat(arg) if arg else utcnow().astimezone(tz).date()
    except ValueError:
        await reply("pickup_bad_date", given=arg)
        return
    slots = await fulfilment.slot_lists(session, outlet, day, tz)
    if not slots:
        await reply("pickup_none", outlet=outlet, day=day)
        return
    for n, slot in enumerate(slots, start=1):
        for c, bags in enumerate(_chunks(slot.bags), start=1):
            part = fulfilment.SlotList(slot.start, slot.end, bags)
            buttons = _slot_buttons(messages, staff.locale, bags)
            await messages.queue(session, message.chat.id, messages.text(
                staff.locale, "pickup_slot_list", outlet=outlet, slot=part, day=day),
                buttons=buttons, key=f"tg:update:{reply.update_id}:slot:{n}:{c}")


async def pickup_pressed(query: CallbackQuery, callback_data: PickupPress,
                         session: AsyncSession, staff: OutletStaff, outlet: Outlet,
                         messages: TelegramMessages, services: Any, reply: Reply) -> None:
    outcome = await Fulfilment.of(services).collected(
        session, callback_data.order_id, actor=f"outlet:{staff.id}", outlet_id=outlet.id)
    if outcome == "ok" and query.message is not None:
        await _edit_slot(session, query, messages, staff, outlet, callback_data.order_id,
                         reply.update_id, ZoneInfo(services.settings.console_timezone))
    try:
        await query.answer(messages.text(staff.locale, "run_press", outcome=outcome),
                           show_alert=outcome in ("not_yours", "gone"))
    except Exception as exc:  # noqa: BLE001
        log.warning("could not answer callback query: %r", exc)


async def _edit_slot(session: AsyncSession, query: CallbackQuery, messages: TelegramMessages,
                     staff: OutletStaff, outlet: Outlet, order_id: int, update_id: int,
                     tz: ZoneInfo) -> None:
    import db.orders

    order = await db.orders.get(session, order_id)
    if order is None or order.slot_start is None or query.message is None:
        return
    day = order.slot_start.astimezone(tz).date()
    shown = _shown(query, "k", PickupPress.unpack)
    for slot in await fulfilment.slot_lists(session, outlet, day, tz):
        if any(b.order.id == order_id for b in slot.bags):
            part = fulfilment.SlotList(slot.start, slot.end,
                                       _same_message(slot.bags, shown, order_id))
            await messages.queue(
                session, query.message.chat.id,
                messages.text(staff.locale, "pickup_slot_list", outlet=outlet, slot=part,
                              day=day),
                op="edit", key=f"tg:update:{update_id}:collected",
                message_id=query.message.message_id,
                buttons=_slot_buttons(messages, staff.locale, part.bags))
            return


def router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several apps)."""
    r = Router(name="runs")
    r.message.filter(F.chat.type == "private")
    r.message.register(slots_command, Command("slots"), is_staff)
    r.callback_query.register(pickup_pressed, PickupPress.filter(), is_staff)
    r.message.register(run_command, Command("run"))
    r.callback_query.register(run_pressed, RunPress.filter())
    return r
