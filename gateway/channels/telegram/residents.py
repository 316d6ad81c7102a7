"""Leaders register residents of their area (/newresident): phone, name, address, location,
then, if they like, family members or carers (phone, name, what they call the resident).

The resident then is recognised when calling or texting, and prefers this leader; a family
member can order for them by text (给妈妈订：大米一袋, gateway.orders.proxies).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, StateFilter, or_f
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

import db.people
from db.models import Leader
from gateway.channels.telegram.middleware import Reply
from gateway.orders.people import PeopleError, PersonRow, normalize_phone, save_resident
from gateway.orders.proxies import ProxyError, add_proxy


class NewResident(StatesGroup):
    phone = State()
    name = State()
    address = State()
    location = State()
    proxy_phone = State()  # optional, after the resident is saved: family members or carers
    proxy_name = State()
    proxy_relation = State()


async def begin(message: Message, leader: Leader | None, reply: Reply,
                state: FSMContext) -> None:
    if leader is None:
        await reply("not_linked")
        return
    await state.set_state(NewResident.phone)
    await reply("newresident_phone")


async def cancel(message: Message, reply: Reply, state: FSMContext) -> None:
    await state.clear()
    await reply("cancelled")


async def phone(message: Message, session: AsyncSession, leader: Leader, reply: Reply,
                state: FSMContext) -> None:
    try:
        number = normalize_phone(message.text or "")
    except PeopleError:
        await reply("newresident_bad_phone")
        return
    existing = await db.people.resident_by_phone(session, number)
    if existing is not None and existing.registered_by != f"leader:{leader.id}":
        await state.clear()
        await reply("newresident_taken")
        return
    await state.update_data(phone=number)
    await state.set_state(NewResident.name)
    await reply("newresident_name")


async def _take(message: Message, reply: Reply, state: FSMContext, key: str, limit: int,
                then: State, ask: str) -> None:
    """A step that keeps the text as it is (trimmed, at most `limit` characters) under `key`
    and asks the next question."""
    await state.update_data({key: (message.text or "").strip()[:limit]})
    await state.set_state(then)
    await reply(ask)


async def name(message: Message, reply: Reply, state: FSMContext) -> None:
    await _take(message, reply, state, "name", 100, NewResident.address, "newresident_address")


async def address(message: Message, reply: Reply, state: FSMContext) -> None:
    await _take(message, reply, state, "address", 300, NewResident.location,
                "newresident_location")


async def location(message: Message, session: AsyncSession, leader: Leader, reply: Reply,
                   state: FSMContext) -> None:
    data = await state.get_data()
    lat, lon = (message.location.latitude, message.location.longitude) if message.location \
        else (leader.lat, leader.lon)
    row = PersonRow(phone=data["phone"], name=data["name"], address=data["address"], lat=lat,
                    lon=lon, locale=leader.locale)
    resident, _ = await save_resident(session, row, registered_by=f"leader:{leader.id}",
                                      preferred_leader_id=leader.id)
    await state.set_data({"resident": resident.phone})
    await state.set_state(NewResident.proxy_phone)
    await reply("newresident_done", resident=resident)
    await reply("newresident_proxy_phone", resident=resident)


async def proxy_phone(message: Message, reply: Reply, state: FSMContext) -> None:
    try:
        number = normalize_phone(message.text or "")
    except PeopleError:
        if sum(c.isdigit() for c in message.text or "") < 5:  # not a number: the step is over
            await state.clear()
            raise SkipHandler() from None
        await reply("newresident_bad_phone")
        return
    if number == (await state.get_data()).get("resident"):
        await reply("newresident_proxy_same")
        return
    await state.update_data(proxy=number)
    await state.set_state(NewResident.proxy_name)
    await reply("newresident_proxy_name")


async def proxy_name(message: Message, reply: Reply, state: FSMContext) -> None:
    await _take(message, reply, state, "proxy_name", 100, NewResident.proxy_relation,
                "newresident_proxy_relation")


async def proxy_relation(message: Message, session: AsyncSession, leader: Leader, reply: Reply,
                         state: FSMContext) -> None:
    data = await state.get_data()
    text = (message.text or "").strip()
    relation = "" if text.startswith("/") else text[:32]
    p, failed = None, ""
    try:
        p, _ = await add_proxy(session, resident_phone=data["resident"], phone=data["proxy"],
                               name=data["proxy_name"], relation=relation,
                               created_by=f"leader:{leader.id}")
    except ProxyError as exc:
        failed = exc.code
    # Added or not, the next family member may follow (or the step ends).
    await state.set_data({"resident": data["resident"]})
    await state.set_state(NewResident.proxy_phone)
    if p is None:
        await reply("newresident_proxy_failed", code=failed)
    else:
        await reply("newresident_proxy_done", proxy=p, resident=p.resident)


async def proxy_skip(message: Message, reply: Reply, state: FSMContext) -> None:
    await state.clear()
    await reply("newresident_finished")


async def leave(message: Message, state: FSMContext) -> None:
    """Another command (or, for a phone number, a text with no digits) while the optional
    family step waits: the step ends and the message is handled as if it had not begun."""
    await state.clear()
    raise SkipHandler()


async def again(message: Message, reply: Reply, state: FSMContext) -> None:
    step = (await state.get_state() or "").rsplit(":", 1)[-1]
    await reply(f"newresident_{step}")


def router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several apps)."""
    r = Router(name="leader-residents")
    r.message.filter(F.chat.type == "private")
    r.message.register(begin, Command("newresident"))
    r.message.register(cancel, StateFilter(NewResident), Command("cancel"))
    r.message.register(phone, NewResident.phone, F.text)
    r.message.register(name, NewResident.name, F.text)
    r.message.register(address, NewResident.address, F.text)
    r.message.register(location, NewResident.location, or_f(F.location, Command("skip")))
    r.message.register(proxy_skip, NewResident.proxy_phone, Command("skip"))
    r.message.register(proxy_relation, NewResident.proxy_relation, Command("skip"))
    family = StateFilter(NewResident.proxy_phone, NewResident.proxy_name,
                         NewResident.proxy_relation)
    # (SkipHandler goes on to this router's later handlers: none of them may take a command)
    r.message.register(leave, family, F.text.startswith("/"))
    plain = F.text & ~F.text.startswith("/")
    r.message.register(proxy_phone, NewResident.proxy_phone, plain)
    r.message.register(proxy_name, NewResident.proxy_name, plain)
    r.message.register(proxy_relation, NewResident.proxy_relation, plain)
    r.message.register(again, StateFilter(NewResident.phone, NewResident.name,
                                          NewResident.address, NewResident.location))
    return r
