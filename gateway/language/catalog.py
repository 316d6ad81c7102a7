"""One product as the order language sees it: the input of the compiler.

Plain data; the catalogue's CSV format and its storage live in `gateway.orders.catalog` and
`db.catalog`, which both speak this type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class CatalogItem:
    """One product as the order language and the database see it."""

    sku: str
    name: str
    aliases: tuple[str, ...] = ()
    unit: str = ""
    units: tuple[str, ...] = ()
    price: Decimal | None = None
    category: str = ""
    active: bool = True
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def all_units(self) -> tuple[str, ...]:
        """The default unit first, then the others, without repeats."""
        seen: list[str] = []
        for u in (self.unit, *self.units):
            if u and u not in seen:
                seen.append(u)
        return tuple(seen)

    @property
    def all_names(self) -> tuple[str, ...]:
        """The name first, then the aliases, without repeats."""
        seen: list[str] = []
        for n in (self.name, *self.aliases):
            if n and n not in seen:
                seen.append(n)
        return tuple(seen)
