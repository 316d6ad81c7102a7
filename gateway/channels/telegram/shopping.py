"""One combined shopping list over a leader's accepted orders: per category, per product and unit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from db.models import Order


@dataclass
class Line:
    name: str
    unit: str
    quantity: Decimal = Decimal(0)
    phones: set[str] = field(default_factory=set)  # a household is a phone number

    @property
    def households(self) -> int:
        return len(self.phones)


def combine(orders: Iterable[Order], categories: Mapping[str, str]
            ) -> tuple[list[tuple[str, list[Line]]], int]:
    """([(category, lines sorted by name)], households); a household is one order's phone."""
    lines: dict[tuple[str, str, str], Line] = {}
    phones: set[str] = set()
    for order in orders:
        phones.add(order.phone)
        for it in order.items:
            if getattr(it, "backorder", None) is not None:
                continue  # back-ordered: not bought now
            key = (categories.get(it.sku, ""), it.name, it.unit)
            line = lines.setdefault(key, Line(it.name, it.unit))
            line.quantity += Decimal(it.quantity)
            line.phones.add(order.phone)
    groups: dict[str, list[Line]] = {}
    for (cat, _, _), line in sorted(lines.items(), key=lambda kv: (kv[0][0] == "", kv[0])):
        groups.setdefault(cat, []).append(line)
    return list(groups.items()), len(phones)
