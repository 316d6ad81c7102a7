"""The supply side of the demo: two suppliers, an outlet with a shortage reported today, and a
supported household (per locale; safe to load again)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import db.people
import db.stock
from db.models import ShortageReport
from gateway.orders.supply import load_suppliers

# locale -> (outlet name, village, sku reported short); (supported phone, category, approver)
OUTLETS = {"zh-CN": ("鲁家村便民服务站", "鲁家村", "eggs"),
           "ko-KR": ("평사리 농협 매장", "평사리", "eggs")}
SUPPORTED = {"zh-CN": ("+8613800000008", "低保", "高禹村村委会"),
             "ko-KR": ("+821000000003", "기초생활수급", "악양면 복지팀")}


async def load_demo_outlet(session: AsyncSession, locale: str, sku_prefix: str = "") -> int:
    """The locale's demo outlet, with one shortage report the first time it is made
    (`sku_prefix`: the locale's products are loaded under a prefix, as a second locale)."""
    if locale not in OUTLETS:
        return 0
    name, village, sku = OUTLETS[locale]
    outlet, created = await db.stock.add_outlet(session, name=name, village=village,
                                                lat=None, lon=None)
    reported = (await session.execute(select(ShortageReport.id).where(
        ShortageReport.outlet_id == outlet.id).limit(1))).first()
    if created or reported is None:
        await db.stock.add_report(session, outlet_id=outlet.id, sku=sku_prefix + sku,
                                  kind="short",
                                  actor="demo")
    return 1


async def load_demo_support(session: AsyncSession, locale: str) -> int:
    """The locale's demo supported household (granted once, with no end)."""
    if locale not in SUPPORTED:
        return 0
    phone, category, approver = SUPPORTED[locale]
    resident = await db.people.resident_by_phone(session, phone)
    if resident is None:
        return 0
    if await db.stock.latest_grant(session, resident.id) is None:
        await db.stock.add_grant(session, resident_id=resident.id, kind="grant",
                                 category=category, approved_by=approver, until=None,
                                 reason="", actor="demo")
    return 1


async def load_demo_supply(session: AsyncSession, locale: str) -> dict[str, int]:
    """Load the demo's supply data into the session; counts by kind."""
    from gateway.orders.demo import demo_file

    return {"suppliers": await load_suppliers(session, demo_file("suppliers", locale)),
            "outlets": await load_demo_outlet(session, locale),
            "supported": await load_demo_support(session, locale)}
