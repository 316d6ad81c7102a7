"""The outbox sender for channel "telegram": one queued row, one Bot API call.

Telegram's errors are translated into `SendError`: 429 carries its retry_after, a blocked bot
or a bad request is permanent, everything else (outage, 5xx, network) is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import (
    BufferedInputFile,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlalchemy import update

import db.tasks
from db.models import Outbox, Task
from db.session import Database
from gateway.channels.telegram import limits
from gateway.errors import SendError

log = logging.getLogger(__name__)

VOICE_SUFFIXES = (".ogg", ".oga", ".opus", ".mp3", ".m4a")


async def _as_mp3(path: Path) -> bytes | None:
    """The recording encoded for a voice message, or None if it can't be (sent as a file)."""
    from voice.audio import WavError, wav_to_mp3

    try:
        return await asyncio.to_thread(wav_to_mp3, path)
    except (WavError, ImportError, OSError, RuntimeError) as exc:
        log.warning("recording %s goes as a file: %s", path.name, exc)
        return None


def keyboard(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    rows = payload.get("buttons")
    if not rows:  # an edit without a keyboard removes the old one
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
        for row in rows])


class TelegramSender:
    """Sends outbox rows through `bot`; remembers message ids on the task they belong to."""

    def __init__(self, bot: Bot, database: Database) -> None:
        self.bot = bot
        self.db = database

    async def __call__(self, row: Outbox) -> str | None:
        try:
            return await self._send(row)
        except TelegramRetryAfter as exc:
            raise SendError(f"telegram flood control: {exc.message}",
                            retry_after=float(exc.retry_after)) from exc
        except TelegramForbiddenError as exc:  # the user blocked the bot or left the chat
            raise SendError(f"telegram refused: {exc.message}", permanent=True) from exc
        except TelegramBadRequest as exc:
            text = exc.message.lower()
            if "message is not modified" in text:
                return None
            if row.payload.get("op") in ("edit", "delete") and (
                    "not found" in text or "can't be" in text):
                return None  # nothing left to change: the user deleted it, or too old
            raise SendError(f"telegram bad request: {exc.message}", permanent=True) from exc
        except TelegramNotFound as exc:
            raise SendError(f"telegram not found: {exc.message}", permanent=True) from exc

    async def _send(self, row: Outbox) -> str | None:
        p = row.payload or {}
        op = p.get("op", "send")
        chat_id = int(row.recipient)
        task_id = p.get("task_id")
        if op == "send":
            # Rows are split when queued; a row queued before that (or by hand) is shortened
            # rather than refused by Telegram and lost.
            msg = await self.bot.send_message(chat_id, limits.shorten(row.body),
                                              reply_markup=keyboard(p))
            if task_id is not None and p.get("ref") == "card":
                await self._remember(task_id, telegram_message_id=msg.message_id)
            return str(msg.message_id)
        if op == "voice":
            path = Path(p["path"])
            if not path.is_file():
                log.warning("recording %s is gone; the task card goes without it", path)
                return None
            if path.suffix.lower() in VOICE_SUFFIXES:
                msg = await self.bot.send_voice(chat_id, FSInputFile(path),
                                                caption=limits.shorten(row.body, limits.CAPTION_LIMIT) or None,
                                                duration=p.get("duration") or None)
            elif (mp3 := await _as_mp3(path)) is not None:
                # Telegram plays only OGG/Opus, MP3 and M4A as voice: call audio is WAV
                msg = await self.bot.send_voice(
                    chat_id, BufferedInputFile(mp3, filename=path.with_suffix(".mp3").name),
                    caption=limits.shorten(row.body, limits.CAPTION_LIMIT) or None, duration=p.get("duration") or None)
            else:  # not a WAV we can read: the leader still gets the file
                msg = await self.bot.send_document(chat_id, FSInputFile(path),
                                                   caption=limits.shorten(row.body, limits.CAPTION_LIMIT) or None)
            if task_id is not None:
                await self._remember(task_id, voice_message_id=msg.message_id)
            return str(msg.message_id)
        if op == "edit":
            if task_id is not None and await self._superseded(task_id, row.id):
                return None  # retried after a newer state of the card was shown: keep that
            message_id = p.get("message_id") or await self._card_id(task_id)
            if message_id is None:
                # The card itself is still waiting in the outbox: edit after it is out.
                raise SendError("task card not sent yet", retry_after=5)
            res = await self.bot.edit_message_text(text=limits.shorten(row.body), chat_id=chat_id,
                                                   message_id=int(message_id),
                                                   reply_markup=keyboard(p))
            return str(res.message_id) if isinstance(res, Message) else None
        if op == "delete":
            if p.get("message_id") is None:
                return None
            await self.bot.delete_message(chat_id, int(p["message_id"]))
            return None
        raise SendError(f"unknown telegram outbox op {op!r}", permanent=True)

    async def _card_id(self, task_id: int | None) -> int | None:
        if task_id is None:
            return None
        async with self.db.session() as s:
            task = await s.get(Task, task_id)
            return task.telegram_message_id if task else None

    async def _superseded(self, task_id: int, row_id: int) -> bool:
        async with self.db.session() as s:
            return await db.tasks.newer_card_edit_sent(s, task_id, row_id)

    async def _remember(self, task_id: int, **ids: int) -> None:
        async with self.db.session() as s:
            await s.execute(update(Task).where(Task.id == task_id).values(**ids))
