"""A value the read-backs need from the database, re-read at most every `recheck_seconds`
(so a change made by another gateway shows within that), at once after `invalidate()`."""

from __future__ import annotations

import logging
import time
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)
T = TypeVar("T")


class Rechecked(Generic[T]):
    """Subclasses say what they read (`load`) and how to name it in a log line (`what`)."""

    what = "a cached value"

    def __init__(self, recheck_seconds: float = 2.0) -> None:
        self.recheck_seconds = recheck_seconds
        self._value: T | None = None
        self._checked_at = float("-inf")

    async def load(self, session: AsyncSession) -> T:
        raise NotImplementedError

    async def get(self, database: Any) -> T:
        if self._value is None or time.monotonic() - self._checked_at >= self.recheck_seconds:
            async with database.session() as s:
                self._value = await self.load(s)
            self._checked_at = time.monotonic()
        return self._value

    async def read(self, database: Any) -> T | None:
        """`get`, or None (logged) when the database cannot be read: the conversation goes on
        without it."""
        try:
            return await self.get(database)
        except Exception:  # any failure: the conversation goes on
            log.warning("could not read %s", self.what, exc_info=True)
            return None

    def peek(self) -> T | None:
        """What was last read, without reading (None: never read yet)."""
        return self._value

    def invalidate(self) -> None:
        self._checked_at = float("-inf")
