"""Demo data: a rural co-operative's catalogue, residents and leaders around one county town."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import db.catalog
from db.session import Database
from gateway.orders.catalog import read_csv
from gateway.orders.people import read_people_csv, save_leader, save_resident

HERE = Path(__file__).parent


def demo_file(kind: str, locale: str) -> Path:
    path = HERE / f"{kind}-{locale}.csv"
    return path if path.exists() else HERE / f"{kind}-zh-CN.csv"


async def load_demo(database: Database, locale: str = "zh-CN") -> dict[str, int]:
    """Load (or refresh) the demo catalogue, residents and leaders; safe to run again."""
    async with database.session() as s:
        counts = await _load_locale(s, locale, read_csv(demo_file("catalog", locale)))
        from gateway.orders.demo.supply import load_demo_supply

        supply = await load_demo_supply(s, locale)
    return {**counts, **supply}


async def _load_locale(s: Any, locale: str, products: list[Any]) -> dict[str, int]:
    """One locale's products, residents and leaders, in the caller's session."""
    cat = await db.catalog.import_items(s, products)
    residents = read_people_csv(demo_file("residents", locale))
    for r in residents:
        await save_resident(s, r, registered_by="demo")
    leaders = read_people_csv(demo_file("leaders", locale), leaders=True)
    for ld in leaders:
        await save_leader(s, ld)
    return {"products": cat.created + cat.updated + cat.unchanged, "residents": len(residents),
            "leaders": len(leaders)}


# The other locales' demo products share sku names ("rice") with the primary catalogue, which is
# one table for every locale: they are loaded under a prefix ("ko-rice") next to it.
def _prefix(locale: str) -> str:
    return locale.split("-")[0].lower() + "-"


def _prefixed(items: list[Any], locale: str) -> list[Any]:
    return [replace(i, sku=_prefix(locale) + i.sku) for i in items]


async def load_demo_locales(database: Database, primary: str = "zh-CN",
                            others: Iterable[str] = ()) -> dict[str, int]:
    """The demo of `primary` as `load_demo` loads it, plus each of `others` (its products
    under a locale prefix, its villages, residents and leaders), so that residents of every
    locale can order from the first minute. Safe to run again."""
    counts = await load_demo(database, primary)
    for locale in others:
        if locale == primary or not (HERE / f"catalog-{locale}.csv").exists():
            continue
        async with database.session() as s:
            from gateway.orders.demo.supply import load_demo_outlet, load_demo_support

            products = _prefixed(read_csv(demo_file("catalog", locale)), locale)
            more = await _load_locale(s, locale, products)
            more["outlets"] = await load_demo_outlet(s, locale, _prefix(locale))
            more["supported"] = await load_demo_support(s, locale)
        for key, n in more.items():
            counts[key] += n
    return counts


async def join_demo_leaders(database: Database, telegram_id_base: int) -> list[Any]:
    """Join every leader who has no Telegram account yet to a simulated one
    (`telegram_id_base + leader id`), through the same invite-code check the bot's /start uses,
    so the dispatcher offers them orders at once. Returns the leaders joined now."""
    import db.leaders
    import db.people

    joined = []
    async with database.session() as s:
        for leader in await db.people.list_leaders(s):
            if leader.telegram_user_id is not None:
                continue
            fake = telegram_id_base + leader.id
            outcome, linked = await db.leaders.link_telegram(s, leader.invite_code, fake, fake)
            if linked is not None:
                joined.append(linked)
    return joined
