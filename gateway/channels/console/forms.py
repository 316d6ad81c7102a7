"""Reading console forms: item rows, numbers and dates, with errors as translation keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from db.models import Product

MAX_QUANTITY = Decimal(10000)


class FormError(ValueError):
    """A form value that cannot be used: `key` is the UI string, `params` fill it in."""

    def __init__(self, key: str, **args: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = args


@dataclass(frozen=True)
class ItemRow:
    sku: str
    name: str
    quantity: Decimal
    unit: str

    def as_dict(self) -> dict[str, Any]:
        return {"sku": self.sku, "name": self.name, "quantity": self.quantity, "unit": self.unit}


def _getall(form: Any, name: str) -> list[str]:
    return [v for v in form.getall(name, []) if isinstance(v, str)]


def item_rows(form: Any, products: Sequence[Product]) -> list[ItemRow]:
    """The item editor's rows (`sku`, `quantity`, `unit` repeated); blank rows are skipped."""
    by_sku = {p.sku: p for p in products}
    skus, qtys, units = _getall(form, "sku"), _getall(form, "quantity"), _getall(form, "unit")
    rows: list[ItemRow] = []
    for i, sku in enumerate(skus):
        sku = sku.strip()
        raw_q = (qtys[i] if i < len(qtys) else "").strip()
        unit = (units[i] if i < len(units) else "").strip()
        if not sku:
            continue
        product = by_sku.get(sku)
        if product is None:
            raise FormError("error.unknown_sku", sku=sku)
        try:
            q = Decimal(raw_q or "1")
        except InvalidOperation:
            raise FormError("error.bad_quantity", value=raw_q) from None
        if not q.is_finite() or q <= 0 or q > MAX_QUANTITY:
            raise FormError("error.bad_quantity", value=raw_q)
        allowed = [u for u in [product.unit, *(product.units or [])] if u]
        unit = unit or product.unit
        if allowed and unit not in allowed:
            raise FormError("error.bad_unit", unit=unit, name=product.name)
        rows.append(ItemRow(sku=product.sku, name=product.name, quantity=q, unit=unit))
    return rows


def raw_rows(form: Any) -> list[dict[str, str]]:
    """The item editor's rows as typed, to show them again next to an error."""
    skus, qtys, units = _getall(form, "sku"), _getall(form, "quantity"), _getall(form, "unit")
    return [{"sku": sku, "quantity": qtys[i] if i < len(qtys) else "",
             "unit": units[i] if i < len(units) else ""} for i, sku in enumerate(skus) if sku]


def text(form: Mapping[str, Any], name: str, max_len: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:max_len] if isinstance(value, str) else ""


def optional_int(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        return None


def parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def period(query: Mapping[str, str], today: date, *, default_days: int = 7,
           max_days: int = 92) -> tuple[date, int]:
    """(first day, number of days) from `from` and `days` in a query: by default the
    `default_days` ending today; `days` is kept within 1..`max_days`."""
    days = min(max(optional_int(query.get("days")) or default_days, 1), max_days)
    return parse_day(query.get("from")) or today - timedelta(days=days - 1), days


def day_bounds(day: date, tz: ZoneInfo, days: int = 1) -> tuple[datetime, datetime]:
    """The UTC instants where a local day (or run of days) starts and ends."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=days), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)
