"""The keypad menu of a phone call: the goods most ordered in a resident's village.

Counts the orders (not drafts, orders kept for review or cancelled ones) that hold each sku,
among the residents of one village, or among everyone while the village has few orders; the
active catalogue fills what is left. Imports db.models and SQLAlchemy only.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Order, OrderItem, Product, Resident

NOT_COUNTED = ("draft", "needs_review", "cancelled")


async def popular_items(session: AsyncSession, village: str, *, limit: int = 4,
                        min_village_orders: int = 5, locale: str | None = None,
                        fits: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
    """Up to `limit` active products as {sku, name, unit}, the most ordered first; with
    `locale`, only orders in that locale count, and only products whose name `fits` are
    offered (one catalogue may hold both locales' goods)."""
    fits = fits or (lambda _name: True)
    counted = Order.status.notin_(NOT_COUNTED)
    if locale:
        counted = counted & (Order.locale == locale)
    in_village = (select(func.count(Order.id)).join(Resident, Order.resident_id == Resident.id)
                  .where(counted, Resident.village == village))
    local = bool(village) and (await session.execute(in_village)).scalar_one() >= min_village_orders
    orders = func.count(func.distinct(Order.id))
    query = (select(Product.sku, Product.name, Product.unit)
             .join(OrderItem, OrderItem.sku == Product.sku)
             .join(Order, Order.id == OrderItem.order_id)
             .where(counted, Product.active.is_(True))
             .group_by(Product.sku, Product.name, Product.unit)
             .order_by(orders.desc(), Product.sku))
    if local:
        query = query.join(Resident, Order.resident_id == Resident.id).where(
            Resident.village == village)
    rows = [r for r in (await session.execute(query)).all() if fits(r.name)][:limit]
    if len(rows) < limit:
        seen = {r.sku for r in rows}
        fill = (select(Product.sku, Product.name, Product.unit)
                .where(Product.active.is_(True)).order_by(Product.id))
        rows += [r for r in (await session.execute(fill)).all()
                 if r.sku not in seen and fits(r.name)]
    return [{"sku": r.sku, "name": r.name, "unit": r.unit} for r in rows[:limit]]
