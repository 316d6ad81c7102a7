"""Catalogue queries: import by sku, list, and a version that changes whenever the catalogue does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Product, utcnow
from gateway.orders.catalog import CatalogItem


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def to_item(p: Product) -> CatalogItem:
    return CatalogItem(sku=p.sku, name=p.name, aliases=tuple(p.aliases or ()), unit=p.unit,
                       units=tuple(p.units or ()), price=p.price, category=p.category,
                       active=p.active)


def _fields(item: CatalogItem) -> dict[str, object]:
    return {"name": item.name, "aliases": list(item.aliases), "unit": item.unit,
            "units": list(item.all_units), "price": item.price, "category": item.category,
            "active": item.active}


async def import_items(session: AsyncSession, items: Iterable[CatalogItem]) -> ImportResult:
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
    return result


async def list_products(session: AsyncSession, *, active_only: bool = False) -> Sequence[Product]:
    q = select(Product).order_by(Product.category, Product.sku)
    if active_only:
        q = q.where(Product.active.is_(True))
    return (await session.execute(q)).scalars().all()


async def catalog_items(session: AsyncSession) -> list[CatalogItem]:
    return [to_item(p) for p in await list_products(session, active_only=True)]


async def version(session: AsyncSession) -> tuple[int, str]:
    """(count, newest update) of the catalogue: changes whenever a product is added or edited."""
    row = (await session.execute(select(func.count(Product.id), func.max(Product.updated_at)))).one()
    return int(row[0]), str(row[1])


async def get_by_sku(session: AsyncSession, sku: str) -> Product | None:
    return (await session.execute(select(Product).where(Product.sku == sku))).scalar_one_or_none()
