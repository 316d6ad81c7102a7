"""Supply-side queries: suppliers, and what confirmed orders still need bought, per supplier."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Order, OrderItem, Product, Resident, Supplier

# Confirmed and not yet bought: what the co-operative still has to buy for.
TO_BUY_STATUSES = ("confirmed", "assigned", "accepted", "unassigned")


async def ensure_suppliers(session: AsyncSession, names: Iterable[str]) -> int:
    """Create the named suppliers that do not exist yet (blank names ignored); how many new."""
    wanted = {n.strip() for n in names if n and n.strip()}
    if not wanted:
        return 0
    have = set((await session.execute(
        select(Supplier.name).where(Supplier.name.in_(wanted)))).scalars())
    for name in sorted(wanted - have):
        session.add(Supplier(name=name))
    await session.flush()
    return len(wanted - have)


async def save_supplier(session: AsyncSession, name: str, *, phone: str = "",
                        note: str = "") -> tuple[Supplier, bool]:
    """Add a supplier, or update its phone and note; (supplier, created)."""
    name = name.strip()
    if not name:
        raise ValueError("a supplier needs a name")
    found = (await session.execute(select(Supplier).where(Supplier.name == name))
             ).scalar_one_or_none()
    if found is None:
        found = Supplier(name=name, phone=phone.strip(), note=note.strip())
        session.add(found)
        await session.flush()
        return found, True
    found.phone, found.note = phone.strip() or found.phone, note.strip() or found.note
    await session.flush()
    return found, False


async def list_suppliers(session: AsyncSession) -> list[tuple[Supplier, int]]:
    """Every supplier with how many products it supplies, by name."""
    counts = dict((await session.execute(
        select(Product.supplier, func.count(Product.id)).group_by(Product.supplier))).all())
    suppliers = (await session.execute(select(Supplier).order_by(Supplier.name))).scalars().all()
    return [(s, int(counts.get(s.name, 0))) for s in suppliers]


async def suppliers_of(session: AsyncSession, skus: Iterable[str]) -> dict[str, str]:
    """sku -> supplier name ("" where none is set)."""
    skus = list(set(skus))
    if not skus:
        return {}
    rows = await session.execute(select(Product.sku, Product.supplier)
                                 .where(Product.sku.in_(skus)))
    return {s: sup or "" for s, sup in rows.all()}


@dataclass(frozen=True)
class ToBuyRow:
    """One ordered item still to buy, with its product's supplier and the household."""

    supplier: str
    sku: str
    name: str
    unit: str
    quantity: Decimal
    phone: str
    village: str


async def to_buy_rows(session: AsyncSession, *, since: datetime, until: datetime,
                      statuses: Sequence[str] = TO_BUY_STATUSES) -> list[ToBuyRow]:
    """Items of orders created in [since, until) that are confirmed and not yet bought."""
    q = (select(Product.supplier, OrderItem.sku, OrderItem.name, OrderItem.unit,
                OrderItem.quantity, Order.phone, Resident.village)
         .join(OrderItem, OrderItem.order_id == Order.id)
         .outerjoin(Product, Product.sku == OrderItem.sku)
         .outerjoin(Resident, Resident.id == Order.resident_id)
         .where(Order.status.in_(tuple(statuses)), OrderItem.backorder.is_(None),
                Order.created_at >= since,
                Order.created_at < until)
         .order_by(Order.id, OrderItem.id))
    return [ToBuyRow(sup or "", sku, name, unit or "", Decimal(qty), phone, village or "")
            for sup, sku, name, unit, qty, phone, village in (await session.execute(q)).all()]


async def set_supplier(session: AsyncSession, skus: Iterable[str], supplier: str) -> int:
    """Set the supplier of these products (unknown skus ignored); how many changed."""
    products = (await session.execute(select(Product).where(Product.sku.in_(list(skus))))
                ).scalars().all()
    changed = [p for p in products if p.supplier != supplier]
    for p in changed:
        p.supplier = supplier
    await session.flush()
    return len(changed)
