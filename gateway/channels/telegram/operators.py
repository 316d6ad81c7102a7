"""Operators' router: the configured operator chat can list what waits for a human."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

import db.orders
from gateway.services import Services
from gateway.channels.telegram.middleware import Reply


def in_operator_chat(message: Message, services: Services) -> bool:
    return services.settings.operator_chat_id is not None \
        and message.chat.id == services.settings.operator_chat_id


async def waiting(message: Message, session: AsyncSession, reply: Reply) -> None:
    orders, _ = await db.orders.list_orders(session, status="unassigned,needs_review", limit=30)
    await reply("operator_list", orders=orders)


def router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several apps)."""
    r = Router(name="operators")
    r.message.filter(in_operator_chat)
    r.message.register(waiting, Command("orders", "unassigned"))
    return r
