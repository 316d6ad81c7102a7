"""Background passes that repeat until cancelled: a failed pass is logged and the next one runs
on time (the database may be restarting), and stopping waits for the task to end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


async def repeat(step: Callable[[], Awaitable[Any]], seconds: float, what: str, *,
                 wait_first: bool = True) -> None:
    """Run `step()` every `seconds` (first after one wait, or at once) until cancelled."""
    if wait_first:
        await asyncio.sleep(seconds)
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; trying again later", what)
        await asyncio.sleep(seconds)


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` (if any) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
