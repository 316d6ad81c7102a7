"""Plain data the order language gives out: parse results, items and the Vosk word list."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

INTENTS = ("order", "confirm", "cancel", "status", "repeat", "help", "unknown")


def format_quantity(q: Decimal) -> str:
    """A quantity as people write it: 2 -> "2", 1.5 -> "1.5", 0.50 -> "0.5"."""
    if q == q.to_integral_value():
        return str(q.quantize(Decimal(1)))
    text = format(q.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def quantity_json(q: Decimal) -> int | float:
    """The JSON number for a quantity: int when integral, else float."""
    if q == q.to_integral_value():
        return int(q)
    return float(q)


@dataclass(slots=True)
class ParsedItem:
    """One product line of an order: what, how much, in which unit, and the words it came from."""

    sku: str
    name: str
    quantity: Decimal
    unit: str
    source: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"sku": self.sku, "name": self.name, "quantity": quantity_json(self.quantity),
                "unit": self.unit}


@dataclass(slots=True)
class ParseResult:
    """What a text means: an intent, the items ordered, and goods-like words matching nothing."""

    intent: str = "unknown"
    items: list[ParsedItem] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Exactly the JSON of `doorstep parse` (see docs/design.md)."""
        return {"intent": self.intent, "items": [i.to_dict() for i in self.items],
                "unmatched": list(self.unmatched)}


@dataclass(slots=True)
class VoskWordList:
    """Words for a Vosk grammar; `missing` are words the model lacks and that could not be split."""

    words: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
