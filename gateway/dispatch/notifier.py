"""What the dispatcher needs from whoever tells leaders about their tasks.

The Telegram channel implements it (`gateway.channels.telegram.messages.TelegramMessages`);
every method queues its messages in the outbox within the caller's transaction.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Leader, Order, Task


class LeaderNotifier(Protocol):
    async def offer(self, session: AsyncSession, leader: Leader, task: Task, order: Order, *,
                    distance_km: float | None) -> None:
        """A new task for `leader`, with the buttons to answer it."""

    async def update_card(self, session: AsyncSession, leader: Leader, task: Task, order: Order,
                          state: str, *, hidden: bool = False, key: str) -> None:
        """The task's card shows `state` now (hidden: without the resident's details)."""

    async def redact(self, session: AsyncSession, leader: Leader, task: Task, order: Order,
                     state: str) -> None:
        """Remove the resident's details from the leader's chat."""
