"""Catalogue queries: import by sku, list, and a version that changes whenever the catalogue does."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Protocol, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Product, utcnow
from db.supply import ensure_suppliers


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class ItemFields(Protocol):
    """What an imported item must carry (the order language's CatalogItem does)."""

    sku: str
    name: str
    aliases: tuple[str, ...]
    unit: str
    price: Decimal | None
    category: str
    active: bool

    @property
    def all_units(self) -> tuple[str, ...]: ...


def _fields(item: ItemFields) -> dict[str, object]:
    fields: dict[str, object] = {
        "name": item.name, "aliases": list(item.aliases), "unit": item.unit,
        "units": list(item.all_units), "price": item.price, "category": item.category,
        "active": item.active}
    extra = getattr(item, "extra", None) or {}
    if "supplier" in extra:  # only when the file has the column (see db.supply)
        fields["supplier"] = extra["supplier"]
    return fields


async def import_items(session: AsyncSession, items: Iterable[ItemFields]) -> ImportResult:
    """Create new products and update existing ones by sku."""
    items = list(items)
    existing = {p.sku: p for p in (await session.execute(
        select(Product).where(Product.sku.in_([i.sku for i in items])))).scalars()}
    result = ImportResult()
    for item in items:
        fields = _fields(item)
        p = existing.get(item.sku)
        if p is None:
            session.add(Product(sku=item.sku, **fields))
            result.created += 1
        elif any(getattr(p, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(p, k, v)
            p.updated_at = utcnow()
            result.updated += 1
        else:
            result.unchanged += 1
    await session.flush()
    await ensure_suppliers(session, (str(_fields(i).get("supplier", "")) for i in items))
    return result


async def list_products(session: AsyncSession, *, active_only: bool = False) -> Sequence[Product]:
    q = select(Product).order_by(Product.category, Product.sku)
    if active_only:
        q = q.where(Product.active.is_(True))
    return (await session.execute(q)).scalars().all()


async def version(session: AsyncSession) -> tuple[int, str]:
    """(count, newest update) of the catalogue: changes whenever a product is added or edited."""
    row = (await session.execute(select(func.count(Product.id), func.max(Product.updated_at)))).one()
    return int(row[0]), str(row[1])


async def get_by_sku(session: AsyncSession, sku: str) -> Product | None:
    return (await session.execute(select(Product).where(Product.sku == sku))).scalar_one_or_none()
