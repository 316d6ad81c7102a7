"""The keypad menu of a phone call: the goods most ordered in a resident's village.

Counts the orders (not drafts, orders kept for review or cancelled ones) that hold each sku,
among the residents of one village, or among everyone while the village has few orders; the
active catalogue fills what is left. Imports db.models and SQLAlchemy only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Order, OrderItem, Product, Resident

NOT_COUNTED = ("draft", "needs_review", "cancelled")


async def popular_items(session: AsyncSession, village: str, *, limit: int = 4,
                        min_village_orders: int = 5) -> list[dict[str, Any]]:
    """Up to `limit` active products as {sku, name, unit}, the most ordered first."""
    counted = Order.status.notin_(NOT_COUNTED)
    in_village = (select(func.count(Order.id)).join(Resident, Order.resident_id == Resident.id)
                  .where(counted, Resident.village == village))
    local = bool(village) and (await session.execute(in_village)).scalar_one() >= min_village_orders
    orders = func.count(func.distinct(Order.id))
    query = (select(Product.sku, Product.name, Product.unit)
             .join(OrderItem, OrderItem.sku == Product.sku)
             .join(Order, Order.id == OrderItem.order_id)
             .where(counted, Product.active.is_(True))
             .group_by(Product.sku, Product.name, Product.unit)
             .order_by(orders.desc(), Product.sku).limit(limit))
    if local:
        query = query.join(Resident, Order.resident_id == Resident.id).where(
            Resident.village == village)
    rows = list((await session.execute(query)).all())
    if len(rows) < limit:
        seen = {r.sku for r in rows}
        fill = (select(Product.sku, Product.name, Product.unit)
                .where(Product.active.is_(True)).order_by(Product.id).limit(limit + len(seen)))
        rows += [r for r in (await session.execute(fill)).all() if r.sku not in seen]
    return [{"sku": r.sku, "name": r.name, "unit": r.unit} for r in rows[:limit]]
