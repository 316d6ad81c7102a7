"""The compiled order language per locale, rebuilt only when the catalogue changes.

The cache reads the catalogue through two functions it is given (its version, and its active
items), so the language package itself knows no tables.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.language.catalog import CatalogItem

log = logging.getLogger(__name__)

# How long a catalogue version read from the database is trusted. Changes made in this process
# (console, CLI in-process) invalidate at once; another process's within this many seconds.
RECHECK_SECONDS = 1.0


class LanguageCache:
    """Compiles `gateway.language` once per (locale, catalogue version)."""

    def __init__(self, version: Callable[[AsyncSession], Awaitable[Any]],
                 items: Callable[[AsyncSession], Awaitable[Sequence[CatalogItem]]],
                 recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._read_catalog_version = version
        self._read_items = items
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._lock = asyncio.Lock()
        self.recheck_seconds = recheck_seconds
        self._version: Any = None
        self._checked_at = float("-inf")
        self._recheck: asyncio.Task[None] | None = None

    async def _current_version(self, session: AsyncSession) -> Any:
        now = time.monotonic()
        if self._version is None or now - self._checked_at >= self.recheck_seconds:
            self._version = await self._read_catalog_version(session)
            self._checked_at = now
        return self._version

    async def get(self, session: AsyncSession, locale: str) -> Any:
        from gateway.language import compile_language
        from gateway.language.locales import normalize_locale

        locale = normalize_locale(locale)
        version = await self._current_version(session)
        hit = self._cache.get(locale)
        if hit is not None and hit[0] == version:
            return hit[1]
        async with self._lock:
            hit = self._cache.get(locale)
            if hit is not None and hit[0] == version:
                return hit[1]
            items = await self._read_items(session)
            lang = await asyncio.to_thread(compile_language, locale, items)
            self._cache[locale] = (version, lang)
            return lang

    def cached(self, locale: str, database: Any) -> Any | None:
        """The compiled language without waiting for the database: None if it was never
        compiled or the catalogue changed (use `get` then). When the version is due to be read
        again, it is read in the background (from `database`, a db.session.Database) and this
        call still answers with the language of the version read last."""
        from gateway.language.locales import normalize_locale

        hit = self._cache.get(normalize_locale(locale))
        if hit is None or self._version is None or hit[0] != self._version:
            return None
        if time.monotonic() - self._checked_at >= self.recheck_seconds and (
                self._recheck is None or self._recheck.done()):
            self._recheck = database.spawn(self._read_version(database), "catalogue-version")
        return hit[1]

    async def _read_version(self, database: Any) -> None:
        try:
            async with database.session() as s:
                await self._current_version(s)
        except Exception:  # the database is away: the next text reads it again
            log.warning("could not read the catalogue version", exc_info=True)

    def invalidate(self) -> None:
        self._cache.clear()
        self._version = None
