"""Demo data: a rural co-operative's catalogue, residents and leaders around one county town."""

from __future__ import annotations

from pathlib import Path

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
        cat = await db.catalog.import_items(s, read_csv(demo_file("catalog", locale)))
        residents = read_people_csv(demo_file("residents", locale))
        for r in residents:
            await save_resident(s, r, registered_by="demo")
        leaders = read_people_csv(demo_file("leaders", locale), leaders=True)
        for ld in leaders:
            await save_leader(s, ld)
        from gateway.orders.demo.supply import load_demo_supply

        supply = await load_demo_supply(s, locale)
    return {"products": cat.created + cat.updated + cat.unchanged, "residents": len(residents),
            "leaders": len(leaders), **supply}
