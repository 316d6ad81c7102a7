"""The compiled order language per locale, rebuilt only when the catalogue changes."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import db.catalog


class LanguageCache:
    """Compiles `gateway.language` once per (locale, catalogue version)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession, locale: str) -> Any:
        from gateway.language import compile_language
        from gateway.locales import normalize_locale

        locale = normalize_locale(locale)
        version = await db.catalog.version(session)
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
