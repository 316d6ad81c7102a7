"""The catalogue's CSV format (`doorstep catalog import`), and products read from the database
as the order language's `CatalogItem`."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

import db.catalog
from db.models import Product
from gateway.language.catalog import CatalogItem
from gateway.orders import csvsafe

CSV_COLUMNS = ("sku", "name", "aliases", "unit", "units", "price", "category")


class CatalogError(ValueError):
    """A catalogue file or row that cannot be used; the message names the row."""


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split("|") if p.strip())


def parse_row(row: dict[str, str], line: int = 0) -> CatalogItem:
    """Turn one CSV row (a dict by column name) into a CatalogItem."""
    sku = (row.get("sku") or "").strip()
    name = (row.get("name") or "").strip()
    if not sku:
        raise CatalogError(f"line {line}: the sku is empty")
    if not name:
        raise CatalogError(f"line {line}: product {sku!r} has no name")
    units = _split(row.get("units"))
    unit = (row.get("unit") or "").strip() or (units[0] if units else "")
    price_text = (row.get("price") or "").strip()
    price: Decimal | None = None
    if price_text:
        try:
            price = Decimal(price_text)
        except InvalidOperation:
            raise CatalogError(f"line {line}: price {price_text!r} of {sku!r} is not a number")
        if price < 0:
            raise CatalogError(f"line {line}: price of {sku!r} is negative")
    active_text = (row.get("active") or "").strip().lower()
    active = active_text not in ("0", "false", "no", "n")
    # The optional supplier column: absent leaves a stored product's supplier as it is.
    extra = {"supplier": (row.get("supplier") or "").strip()} if "supplier" in row else {}
    return CatalogItem(
        sku=sku,
        name=name,
        aliases=_split(row.get("aliases")),
        unit=unit,
        units=units if unit in units or not unit else (unit, *units),
        price=price,
        category=(row.get("category") or "").strip(),
        active=active,
        extra=extra,
    )


def read_csv_text(text: str) -> list[CatalogItem]:
    """Parse catalogue CSV text; the header row names the columns (order free)."""
    text = text.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return []
    missing = {"sku", "name"} - {f.strip() for f in reader.fieldnames}
    if missing:
        raise CatalogError(f"the header lacks the column(s): {', '.join(sorted(missing))}")
    items: list[CatalogItem] = []
    seen: set[str] = set()
    for i, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "") for k, v in row.items() if k is not None}
        if not any(v.strip() for v in row.values()):
            continue
        item = parse_row(row, i)
        if item.sku in seen:
            raise CatalogError(f"line {i}: sku {item.sku!r} appears twice")
        seen.add(item.sku)
        items.append(item)
    return items


def read_csv(path: str | Path) -> list[CatalogItem]:
    """Read a catalogue CSV file (UTF-8, optional BOM)."""
    return read_csv_text(Path(path).read_text(encoding="utf-8-sig"))


def write_csv(items: Iterable[CatalogItem]) -> str:
    """The CSV text that read_csv_text reads back to the same items."""
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow([*CSV_COLUMNS, "active", "supplier"])
    for it in items:
        w.writerow([
            it.sku, it.name, "|".join(it.aliases), it.unit, "|".join(it.units),
            "" if it.price is None else str(it.price), it.category, "1" if it.active else "0",
            it.extra.get("supplier", ""),
        ])
    return out.getvalue()


def from_product(p: Product) -> CatalogItem:
    """A stored product as the order language sees it."""
    return CatalogItem(sku=p.sku, name=p.name, aliases=tuple(p.aliases or ()), unit=p.unit,
                       units=tuple(p.units or ()), price=p.price, category=p.category,
                       active=p.active, extra={"supplier": p.supplier or ""})


async def active_items(session: AsyncSession) -> list[CatalogItem]:
    """The products on sale now, for compiling the order language."""
    return [from_product(p) for p in await db.catalog.list_products(session, active_only=True)]
