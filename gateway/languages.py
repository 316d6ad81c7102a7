"""The compiled order language per locale, rebuilt only when the catalogue changes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import db.catalog

# How long a catalogue version read from the database is trusted. Changes made in this process
# (console, CLI in-process) invalidate at once; another process's within this many seconds.
RECHECK_SECONDS = 1.0


class LanguageCache:
    """Compiles `gateway.language` once per (locale, catalogue version)."""

    def __init__(self, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._lock = asyncio.Lock()
        self.recheck_seconds = recheck_seconds
        self._version: Any = None
        self._checked_at = float("-inf")

    async def _current_version(self, session: AsyncSession) -> Any:
        now = time.monotonic()
        if self._version is None or now - self._checked_at >= self.recheck_seconds:
            self._version = await db.catalog.version(session)
            self._checked_at = now
        return self._version

    async def get(self, session: AsyncSession, locale: str) -> Any:
        from gateway.language import compile_language
        from gateway.locales import normalize_locale

        locale = normalize_locale(locale)
        version = await self._current_version(session)
        hit = self._cache.get(locale)
        if hit is not None and hit[0] == version:
            return hit[1]
        async with self._lock:
            hit = self._cache.get(locale)
            if hit is not None and hit[0] == version:
                return hit[1]
            items = await db.catalog.catalog_items(session)
            lang = await asyncio.to_thread(compile_language, locale, items)
            self._cache[locale] = (version, lang)
            return lang

    def invalidate(self) -> None:
        self._cache.clear()
        self._version = None
