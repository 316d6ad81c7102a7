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
class Correction:
    """Something the resident took back or changed in the same text, with their words, so a
    read-back can say it: removed (萝卜不要了 -> 已去掉萝卜) or changed (黄瓜改成三根 -> 3 根)."""

    kind: str          # "removed" or "changed"
    sku: str
    name: str
    said: str = ""     # the resident's words for it: "萝卜不要了", "아니 한 모"
    quantity: Decimal | None = None  # changed: the count now
    unit: str = ""
    word: str = ""     # the product as the resident named it (萝卜, 콩나물): for "已去掉萝卜"

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.kind, "sku": self.sku, "name": self.name,
                                "word": self.word or self.name, "said": self.said}
        if self.quantity is not None:
            d["quantity"] = quantity_json(self.quantity)
            d["unit"] = self.unit
        return d


@dataclass(slots=True)
class ParseResult:
    """What a text means: an intent, the items ordered, and goods-like words matching nothing;
    `corrections`: products the text itself took back or re-counted."""

    intent: str = "unknown"
    items: list[ParsedItem] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)

    def to_dict(self, corrections: bool = False) -> dict[str, object]:
        """Exactly the JSON of `doorstep parse` (see docs/design.md); other scripts depend on
        its three keys. With `corrections=True` a fourth key lists what the text took back or
        changed, for a read-back in the resident's words."""
        d: dict[str, object] = {"intent": self.intent, "items": [i.to_dict() for i in self.items],
                                "unmatched": list(self.unmatched)}
        if corrections:
            d["corrections"] = [c.to_dict() for c in self.corrections]
        return d


@dataclass(slots=True)
class VoskWordList:
    """Words for a Vosk grammar; `missing` are words the model lacks and that could not be split."""

    words: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
