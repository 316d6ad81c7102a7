"""Everything Doorstep says on Telegram, rendered from templates and queued in the outbox.

Nothing here calls Telegram: rows are queued in the caller's transaction, so a message is sent
exactly when the change it reports is committed, and a Telegram outage only delays it. The
outbox sender (`gateway.channels.telegram.sender`) turns each row's payload into one Bot API call.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters.callback_data import CallbackData
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

import db.outbox
from db.models import Leader, Order, Task
from gateway.channels.telegram import limits
from gateway.orders.ledger import amount_to_collect
from gateway.orders.pricing import money
from gateway.settings import Settings
from gateway.templates import Templates

Buttons = list[list[tuple[str, str]]]  # rows of (label, callback data)


class TaskPress(CallbackData, prefix="t"):
    """A button on a task card: `t:<task id>:<action>`."""

    task_id: int
    action: str  # accept | decline | bought | delivered


ACTIONS = ("accept", "decline", "bought", "delivered")
# Buttons by the card's state; labels come from telegram/label_<action>.j2 of the leader's locale.
BUTTONS: dict[str, list[list[str]]] = {
    "offered": [["accept", "decline"]],
    "accepted": [["bought", "delivered"], ["decline"]],
    "purchased": [["delivered"], ["decline"]],
}


async def loaded(session: AsyncSession, order: Order) -> Order:
    """Load what the templates read, so rendering never does I/O (orders come from any caller)."""
    missing = [a for a in ("resident", "items", "recordings", "proxy")
               if a in inspect(order).unloaded]
    if missing:
        await session.refresh(order, missing)
    return order


class TelegramMessages:
    """Renders and queues messages to leaders and operators."""

    def __init__(self, templates: Templates, settings: Settings) -> None:
        self.templates = templates
        self.settings = settings

    def text(self, locale: str, name: str, **ctx: Any) -> str:
        return self.templates.render(locale, f"telegram/{name}.j2", **ctx)

    def buttons(self, locale: str, task_id: int, state: str) -> Buttons:
        return [[(self.text(locale, f"label_{a}"), TaskPress(task_id=task_id, action=a).pack())
                 for a in row] for row in BUTTONS.get(state, [])]

    def card(self, leader: Leader, task: Task, order: Order, state: str, *,
             hidden: bool = False, distance_km: float | None = None) -> tuple[str, Buttons]:
        text = self.text(leader.locale, "task_card", order=order, resident=order.resident,
                         task=task, state=state, hidden=hidden, distance_km=distance_km,
                         amount=money(amount_to_collect(order)),
                         supported=bool(order.supported),
                         waiting=[it for it in order.items if it.backorder == "waiting"],
                         expires_at=task.expires_at,
                         minutes=f"{self.settings.accept_timeout_minutes:g}")
        return text, self.buttons(leader.locale, task.id, state)

    async def queue(self, session: AsyncSession, chat_id: int | str, text: str, *, key: str,
                    op: str = "send", buttons: Buttons | None = None, **payload: Any) -> bool:
        """One outbox row per Telegram message. A text over Telegram's 4,096 becomes several
        rows (`key`, `key#2`, ...; the buttons and the card reference go with the last part),
        each sent once like any row, so a retry never repeats a part already out. Edits and
        captions can't be split: they are shortened to their limits."""
        body: dict[str, Any] = {"op": op, **payload}
        if buttons is not None:
            body["buttons"] = [[list(b) for b in row] for row in buttons]
        if op == "voice":
            text = limits.shorten(text, limits.CAPTION_LIMIT)
        elif op == "edit":
            text = limits.shorten(text)
        parts = limits.split(text) if op == "send" else [text]
        queued = []
        for n, part in enumerate(parts, start=1):
            queued.append(await db.outbox.enqueue(
                session, channel="telegram", recipient=str(chat_id), body=part,
                idempotency_key=key if n == 1 else f"{key}#{n}",
                payload=body if n == len(parts) else {"op": op}))
        return queued[0]

    async def offer(self, session: AsyncSession, leader: Leader, task: Task, order: Order, *,
                    distance_km: float | None) -> None:
        """The new-task card with its buttons, and the call's recording as a voice message."""
        if leader.telegram_chat_id is None:
            return
        await loaded(session, order)
        text, buttons = self.card(leader, task, order, "offered", distance_km=distance_km)
        await self.queue(session, leader.telegram_chat_id, text, key=f"task:{task.id}:offer",
                         buttons=buttons, task_id=task.id, ref="card")
        for rec in order.recordings:
            if rec.deleted_at is None and rec.path:
                await self.queue(session, leader.telegram_chat_id,
                                 self.text(leader.locale, "recording", order=order),
                                 op="voice", key=f"task:{task.id}:voice:{rec.id}",
                                 task_id=task.id, path=self.recording_path(rec.path),
                                 duration=int(rec.duration_s or 0))
                break

    def recording_path(self, stored: str) -> str:
        return str(self.settings.recording_file(stored))

    async def update_card(self, session: AsyncSession, leader: Leader, task: Task, order: Order,
                          state: str, *, hidden: bool = False, key: str) -> None:
        """Edit the task card in place (new state, new buttons or none)."""
        if leader.telegram_chat_id is None:
            return
        await loaded(session, order)
        text, buttons = self.card(leader, task, order, state, hidden=hidden)
        await self.queue(session, leader.telegram_chat_id, text, op="edit", key=key,
                         buttons=buttons, task_id=task.id)

    async def redact(self, session: AsyncSession, leader: Leader, task: Task, order: Order,
                     state: str) -> None:
        """Remove the resident's details from the leader's chat: card text, recording."""
        await self.update_card(session, leader, task, order, state, hidden=True,
                               key=f"task:{task.id}:redact")
        if leader.telegram_chat_id is not None and task.voice_message_id is not None:
            await self.queue(session, leader.telegram_chat_id, "", op="delete",
                             key=f"task:{task.id}:redact-voice",
                             message_id=task.voice_message_id)

    async def reply(self, session: AsyncSession, chat_id: int, locale: str, name: str, *,
                    key: str, **ctx: Any) -> None:
        await self.queue(session, chat_id, self.text(locale, name, **ctx), key=key)

    async def operator_alert(self, session: AsyncSession, kind: str, *, key: str,
                             order: Order | None = None, **ctx: Any) -> bool:
        """An alert in the operators' chat; False when no chat is configured."""
        chat = self.settings.operator_chat_id
        if chat is None:
            return False
        if order is not None:
            await loaded(session, order)
        ctx.setdefault("reason", "")
        ctx.setdefault("text", "")
        ctx.setdefault("phone", order.phone if order else "")
        ctx.setdefault("channel", order.channel if order else "")
        text = self.text(self.settings.default_locale, "operator_alert", kind=kind, order=order,
                         **ctx)
        return await self.queue(session, chat, text, key=key)
