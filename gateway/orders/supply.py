"""The purchasing sheet: per supplier, per product and unit, what to buy for confirmed orders
not yet bought, with how many households and which villages it is for."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

import db.supply
from db.supply import ToBuyRow
from gateway.orders import csvsafe
from gateway.templates import qty

PURCHASING_CSV_COLUMNS = ("supplier", "sku", "name", "unit", "quantity", "households",
                          "villages")


@dataclass
class PurchaseLine:
    supplier: str
    sku: str
    name: str
    unit: str
    quantity: Decimal = Decimal(0)
    phones: set[str] = field(default_factory=set)  # a household is a phone number
    village_set: set[str] = field(default_factory=set)

    @property
    def households(self) -> int:
        return len(self.phones)

    @property
    def villages(self) -> list[str]:
        return sorted(self.village_set)


@dataclass
class PurchasingSheet:
    start: date
    days: int
    groups: list[tuple[str, list[PurchaseLine]]]  # (supplier or "", lines by name)
    households: int

    @property
    def lines(self) -> list[PurchaseLine]:
        return [line for _, lines in self.groups for line in lines]


def day_bounds(day: date, tz: ZoneInfo, days: int = 1) -> tuple[datetime, datetime]:
    """The UTC-comparable moments starting `day` and ending `days` later, in the co-op's zone."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=days), time.min, tzinfo=tz)


def combine(rows: Iterable[ToBuyRow]) -> tuple[list[tuple[str, list[PurchaseLine]]], int]:
    """Group rows per supplier (named ones first, by name; unnamed last), then per product and
    unit; ([(supplier, lines)], households over all)."""
    lines: dict[tuple[str, str, str], PurchaseLine] = {}
    phones: set[str] = set()
    for r in rows:
        phones.add(r.phone)
        line = lines.setdefault((r.supplier, r.sku, r.unit),
                                PurchaseLine(r.supplier, r.sku, r.name, r.unit))
        line.quantity += r.quantity
        line.phones.add(r.phone)
        if r.village:
            line.village_set.add(r.village)
    groups: dict[str, list[PurchaseLine]] = {}
    for line in sorted(lines.values(), key=lambda x: (x.supplier == "", x.supplier, x.sku,
                                                      x.unit)):
        groups.setdefault(line.supplier, []).append(line)
    return list(groups.items()), len(phones)


async def purchasing_sheet(session: AsyncSession, day: date, tz: ZoneInfo,
                           days: int = 1) -> PurchasingSheet:
    """The sheet for orders created on `days` local days from `day`."""
    since, until = day_bounds(day, tz, days)
    groups, households = combine(await db.supply.to_buy_rows(session, since=since, until=until))
    return PurchasingSheet(day, days, groups, households)


def sheet_csv(sheet: PurchasingSheet) -> str:
    """CSV with the columns PURCHASING_CSV_COLUMNS; villages joined with "|"."""
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(PURCHASING_CSV_COLUMNS)
    for line in sheet.lines:
        w.writerow([line.supplier, line.sku, line.name, line.unit, qty(line.quantity),
                    line.households, "|".join(line.villages)])
    return out.getvalue()


def read_suppliers_csv(path: str | Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """A suppliers file (name,phone,note,skus with skus joined by "|"), as
    (name, phone, note, skus) rows."""
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = []
    for i, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        name = (row.get("name") or "").strip()
        if not name:
            raise ValueError(f"line {i}: the supplier has no name")
        skus = tuple(s.strip() for s in (row.get("skus") or "").split("|") if s.strip())
        rows.append((name, (row.get("phone") or "").strip(), (row.get("note") or "").strip(),
                     skus))
    return rows


async def load_suppliers(session: AsyncSession, path: str | Path) -> int:
    """Save the suppliers of a suppliers file and set them on their products; how many."""
    rows = read_suppliers_csv(path)
    for name, phone, note, skus in rows:
        await db.supply.save_supplier(session, name, phone=phone, note=note)
        await db.supply.set_supplier(session, skus, name)
    return len(rows)
