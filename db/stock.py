"""Stock changes, outlets, shortage reports and supported households: queries (rows are only
ever added; the latest row of a key is its state)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Order, OrderItem, Outlet, OutletStaff, Resident, ShortageReport, StockChange, SupportGrant,
)

# --- stock --------------------------------------------------------------------------------


async def latest_changes(session: AsyncSession) -> Sequence[StockChange]:
    """The latest change of every (sku, village) ever marked."""
    last = (select(func.max(StockChange.id).label("id"))
            .group_by(StockChange.sku, StockChange.village).subquery())
    return (await session.execute(select(StockChange).join(last, last.c.id == StockChange.id)
                                  .order_by(StockChange.sku, StockChange.village))).scalars().all()


async def add_change(session: AsyncSession, *, sku: str, village: str, kind: str, actor: str,
                     reason: str = "") -> StockChange:
    row = StockChange(sku=sku, village=village, kind=kind, actor=actor, reason=reason)
    session.add(row)
    await session.flush()
    return row


async def history(session: AsyncSession, limit: int = 200) -> Sequence[StockChange]:
    return (await session.execute(select(StockChange).order_by(StockChange.id.desc())
                                  .limit(limit))).scalars().all()


async def waiting_items(session: AsyncSession, sku: str) -> Sequence[tuple[OrderItem, str]]:
    """Back-ordered lines of `sku` still waiting, with their resident's village, oldest first;
    orders cancelled since are left out."""
    q = (select(OrderItem, func.coalesce(Resident.village, ""))
         .join(Order, Order.id == OrderItem.order_id)
         .outerjoin(Resident, Resident.id == Order.resident_id)
         .where(OrderItem.sku == sku, OrderItem.backorder == "waiting",
                Order.status != "cancelled")
         .order_by(OrderItem.order_id, OrderItem.id))
    return [(item, village) for item, village in (await session.execute(q)).all()]


async def claim_items(session: AsyncSession, ids: Sequence[int], to: str | None) -> list[int]:
    """Move waiting lines to `to` (None: back onto their order, "sent": onto a follow-up);
    returns the ids this call moved: a line another gateway moved first is not returned, so
    it is never fulfilled twice."""
    if not ids:
        return []
    res = await session.execute(update(OrderItem)
                                .where(OrderItem.id.in_(list(ids)),
                                       OrderItem.backorder == "waiting")
                                .values(backorder=to).returning(OrderItem.id))
    return [int(i) for i in res.scalars().all()]


# --- outlets and shortage reports -----------------------------------------------------------


async def add_outlet(session: AsyncSession, *, name: str, village: str, lat: float | None,
                     lon: float | None) -> tuple[Outlet, bool]:
    """(outlet, created); an existing name is updated and keeps its invite code."""
    outlet = (await session.execute(select(Outlet).where(Outlet.name == name))).scalar_one_or_none()
    if outlet is None:
        outlet = Outlet(name=name, village=village, lat=lat, lon=lon,
                        invite_code="o" + secrets.token_urlsafe(9))
        session.add(outlet)
        await session.flush()
        return outlet, True
    outlet.village, outlet.lat, outlet.lon = village, lat, lon
    return outlet, False


async def outlets(session: AsyncSession) -> Sequence[Outlet]:
    return (await session.execute(select(Outlet).order_by(Outlet.name))).scalars().all()


async def outlet_by_code(session: AsyncSession, code: str) -> Outlet | None:
    return (await session.execute(select(Outlet).where(Outlet.invite_code == code))
            ).scalar_one_or_none()


async def staff_by_user(session: AsyncSession, user_id: int) -> OutletStaff | None:
    return (await session.execute(select(OutletStaff).where(
        OutletStaff.telegram_user_id == user_id))).scalar_one_or_none()


async def staff_counts(session: AsyncSession) -> dict[int, int]:
    """Outlet id -> how many staff joined on Telegram (outlets with none are absent)."""
    rows = await session.execute(select(OutletStaff.outlet_id, func.count())
                                 .group_by(OutletStaff.outlet_id))
    return {int(o): int(n) for o, n in rows.all()}


async def village_locale(session: AsyncSession, village: str) -> str | None:
    """The locale most of a village's residents speak (None: no residents there)."""
    q = (select(Resident.locale, func.count()).where(Resident.village == village)
         .group_by(Resident.locale).order_by(func.count().desc(), Resident.locale).limit(1))
    row = (await session.execute(q)).first()
    return str(row[0]) if row else None


async def add_report(session: AsyncSession, *, outlet_id: int, sku: str, kind: str,
                     actor: str) -> ShortageReport:
    row = ShortageReport(outlet_id=outlet_id, sku=sku, kind=kind, actor=actor)
    session.add(row)
    await session.flush()
    return row


async def reports_between(session: AsyncSession, since: datetime, until: datetime
                          ) -> Sequence[tuple[ShortageReport, Outlet]]:
    q = (select(ShortageReport, Outlet).join(Outlet, Outlet.id == ShortageReport.outlet_id)
         .where(ShortageReport.at >= since, ShortageReport.at < until)
         .order_by(ShortageReport.at))
    return [(r, o) for r, o in (await session.execute(q)).all()]


# --- supported households -------------------------------------------------------------------


async def add_grant(session: AsyncSession, **fields: object) -> SupportGrant:
    row = SupportGrant(**fields)
    session.add(row)
    await session.flush()
    return row


async def latest_grant(session: AsyncSession, resident_id: int) -> SupportGrant | None:
    return (await session.execute(select(SupportGrant)
                                  .where(SupportGrant.resident_id == resident_id)
                                  .order_by(SupportGrant.id.desc()).limit(1))).scalar_one_or_none()


async def current_grants(session: AsyncSession, today: date
                         ) -> Sequence[tuple[SupportGrant, Resident]]:
    """Residents whose latest support row is a grant valid on `today`."""
    last = (select(func.max(SupportGrant.id).label("id"))
            .group_by(SupportGrant.resident_id).subquery())
    q = (select(SupportGrant, Resident).join(last, last.c.id == SupportGrant.id)
         .join(Resident, Resident.id == SupportGrant.resident_id)
         .where(SupportGrant.kind == "grant",
                (SupportGrant.until.is_(None)) | (SupportGrant.until >= today))
         .order_by(Resident.village, Resident.name))
    return [(g, r) for g, r in (await session.execute(q)).all()]


async def supported_orders(session: AsyncSession, since: datetime, until: datetime
                           ) -> Sequence[Order]:
    """Delivered orders of supported households, created in [since, until)."""
    q = (select(Order).where(and_(Order.supported.is_(True), Order.status == "delivered",
                                  Order.created_at >= since, Order.created_at < until))
         .order_by(Order.id))
    return (await session.execute(q)).scalars().all()
