"""Leaders register residents of their area (/newresident): phone, name, address, location.

The resident then is recognised when calling or texting, and prefers this leader.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter, or_f
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

import db.people
from db.models import Leader
from gateway.channels.telegram.middleware import Reply
from gateway.orders.people import PeopleError, PersonRow, normalize_phone, save_resident


class NewResident(StatesGroup):
    phone = State()
    name = State()
    address = State()
    location = State()


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


async def name(message: Message, reply: Reply, state: FSMContext) -> None:
    await state.update_data(name=(message.text or "").strip()[:100])
    await state.set_state(NewResident.address)
    await reply("newresident_address")


async def address(message: Message, reply: Reply, state: FSMContext) -> None:
    await state.update_data(address=(message.text or "").strip()[:300])
    await state.set_state(NewResident.location)
    await reply("newresident_location")


async def location(message: Message, session: AsyncSession, leader: Leader, reply: Reply,
                   state: FSMContext) -> None:
    data = await state.get_data()
    lat, lon = (message.location.latitude, message.location.longitude) if message.location \
        else (leader.lat, leader.lon)
    row = PersonRow(phone=data["phone"], name=data["name"], address=data["address"], lat=lat,
                    lon=lon, locale=leader.locale)
    resident, _ = await save_resident(session, row, registered_by=f"leader:{leader.id}",
                                      preferred_leader_id=leader.id)
    await state.clear()
    await reply("newresident_done", resident=resident)


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
    r.message.register(again, StateFilter(NewResident))
    return r
