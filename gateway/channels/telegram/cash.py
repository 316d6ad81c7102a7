"""`/paid ORDER AMOUNT REASON`: a leader records the cash received for a delivered order when
it differs from the amount to collect (which is recorded by itself at 已送达)."""

from __future__ import annotations

from aiogram.filters import CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

import db.orders
from db.models import Leader
from gateway.channels.telegram.middleware import Reply
from gateway.orders.ledger import LedgerError, amount_to_collect, parse_amount, record_received
from gateway.orders.pricing import money


async def paid(message: Message, command: CommandObject, session: AsyncSession,
               leader: Leader | None, reply: Reply) -> None:
    if leader is None:
        await reply("not_linked")
        return
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 2 or not parts[0].isdigit():
        await reply("paid_usage")
        return
    order = await db.orders.get(session, int(parts[0]))
    if order is None:
        await reply("paid_error", code="not_yours", order_id=parts[0])
        return
    try:
        amount = parse_amount(parts[1])
        await record_received(session, order, leader.id, amount,
                              reason=parts[2] if len(parts) > 2 else "",
                              actor=f"leader:{leader.id}")
    except LedgerError as exc:
        await reply("paid_error", code=exc.code, order_id=order.id,
                    expected=money(amount_to_collect(order)))
        return
    await reply("paid_ok", order_id=order.id, amount=money(amount),
                expected=money(amount_to_collect(order)))
