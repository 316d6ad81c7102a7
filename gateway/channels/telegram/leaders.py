"""Team leaders' router: joining by invite, base location, duty, tasks, shopping list, presses.

Handlers stay thin: they call `db.leaders`, `db.tasks` or the dispatcher, and answer through
`reply`, which queues in the outbox (see `middleware.Reply`).
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

import db.leaders
import db.supply
import db.tasks
from db.models import Leader
from gateway.channels.telegram import cash, shopping
from gateway.channels.telegram.messages import TaskPress, TelegramMessages
from gateway.channels.telegram.middleware import Reply

log = logging.getLogger(__name__)



async def start(message: Message, command: CommandObject, session: AsyncSession,
                leader: Leader | None, reply: Reply, dispatch: Any) -> None:
    if leader is not None:
        await reply("start_again", leader=leader)
        return
    code = (command.args or "").strip()
    if not code:
        await reply("start_needs_code")
        return
    assert message.from_user is not None
    result, linked = await db.leaders.link_telegram(session, code, message.from_user.id,
                                                    message.chat.id)
    if linked is None:
        await reply(f"start_{result.value}")
        return
    dispatch.leader_moved(linked)  # routable from now on: in the index before the next order
    reply.locale = linked.locale
    await reply("start_linked", leader=linked)


async def press(query: CallbackQuery, callback_data: TaskPress, leader: Leader | None,
                messages: TelegramMessages, locale: str, dispatch: Any) -> None:
    if leader is None:
        outcome = "not_yours"
    else:
        outcome = await dispatch.press(leader.id, callback_data.task_id, callback_data.action)
    try:  # the little notice on the button; the card itself is edited through the outbox
        await query.answer(messages.text(locale, "press", outcome=outcome),
                           show_alert=outcome in ("not_yours", "gone"))
    except Exception as exc:  # noqa: BLE001 - Telegram unreachable: the press is saved
        log.warning("could not answer callback query: %r", exc)


async def location(message: Message, session: AsyncSession, leader: Leader | None,
                   reply: Reply, dispatch: Any) -> None:
    if leader is None:
        await reply("not_linked")
        return
    assert message.location is not None
    await db.leaders.set_base(session, leader, message.location.latitude,
                              message.location.longitude)
    dispatch.leader_moved(leader)
    await reply("location_set", leader=leader)


async def duty(message: Message, session: AsyncSession, leader: Leader | None, reply: Reply,
               dispatch: Any) -> None:
    if leader is None:
        await reply("not_linked")
        return
    if await db.leaders.toggle_duty(session, leader):
        dispatch.wake()
    await reply("duty", leader=leader)


async def tasks(message: Message, session: AsyncSession, leader: Leader | None,
                reply: Reply) -> None:
    if leader is None:
        await reply("not_linked")
        return
    await reply("tasks", rows=await db.tasks.open_for_leader(session, leader.id))


async def shopping_list(message: Message, session: AsyncSession, leader: Leader | None,
                        reply: Reply) -> None:
    if leader is None:
        await reply("not_linked")
        return
    rows = await db.tasks.open_for_leader(session, leader.id, statuses=("accepted",))
    orders = [o for _, o in rows if o.status == "accepted"]
    skus = [it.sku for o in orders for it in o.items]
    cats = await db.tasks.categories(session, skus)
    # Grouped by the shop or supplier to buy from; the category where none is set.
    sups = await db.supply.suppliers_of(session, skus)
    groups, households = shopping.combine(orders, {k: sups.get(k) or c for k, c in cats.items()})
    await reply("shopping", groups=groups, households=households)


async def help_(message: Message, leader: Leader | None, reply: Reply) -> None:
    await reply("help" if leader is not None else "not_linked")


async def anything_else(message: Message, leader: Leader | None, reply: Reply) -> None:
    await reply("help" if leader is not None else "not_linked")


def router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several apps)."""
    r = Router(name="leaders")
    r.message.filter(F.chat.type == "private")
    r.message.register(start, CommandStart())
    r.callback_query.register(press, TaskPress.filter())
    r.message.register(location, F.location)
    r.message.register(duty, Command("duty"))
    r.message.register(tasks, Command("tasks"))
    r.message.register(shopping_list, Command("shopping"))
    r.message.register(cash.paid, Command("paid"))
    r.message.register(help_, Command("help"))
    r.message.register(anything_else)
    return r
