"""Prices and totals: what an order costs from catalogue prices, and the confirmed price kept.

A product's price is per its default unit; an item in another weight unit is converted (斤,
公斤, 克, kg, g, 근 is not: its weight differs by product). An item whose price cannot be known
(no price, or a unit that does not convert) makes the total unknown (None): a total is never
shown for only part of an order.

The price rule: when an order is confirmed, each item's price per its unit is kept on the item
(`PriceSnapshot`), and the order's total is computed from those kept prices from then on. A
catalogue price change after confirmation therefore never changes a confirmed order's total.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import db.catalog
from db.models import Order, OrderEvent, Product

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
UNIT_PRICE_PLACES = Decimal("0.0001")
# Grams per weight unit, for items ordered in another weight unit than the price's.
WEIGHT_GRAMS: Mapping[str, int] = {
    "斤": 500, "公斤": 1000, "千克": 1000, "克": 1, "两": 50,
    "kg": 1000, "g": 1, "킬로그램": 1000, "킬로": 1000, "그램": 1,
}
PRICED_STATUSES = frozenset({"confirmed"})


@dataclass(frozen=True)
class Price:
    amount: Decimal  # per `unit`
    unit: str


def unit_price(price: Price | None, unit: str) -> Decimal | None:
    """The price per `unit` of a product priced `price`; None when it cannot be known."""
    if price is None:
        return None
    if not unit or unit == price.unit:
        return price.amount
    a, b = WEIGHT_GRAMS.get(unit), WEIGHT_GRAMS.get(price.unit)
    if a and b:
        return (price.amount * Decimal(a) / Decimal(b)).quantize(UNIT_PRICE_PLACES,
                                                                  ROUND_HALF_UP)
    return None


def total_of(lines: Iterable[tuple[Decimal, Decimal | None]]) -> Decimal | None:
    """The sum of quantity × price per unit, to the cent; None if empty or any price unknown."""
    total, n = Decimal(0), 0
    for quantity, price in lines:
        if price is None:
            return None
        total += Decimal(quantity) * price
        n += 1
    return total.quantize(CENT, ROUND_HALF_UP) if n else None


def _get(item: Any, key: str, default: Any = None) -> Any:
    return item.get(key, default) if isinstance(item, Mapping) else getattr(item, key, default)


@dataclass
class PriceBook:
    """sku -> Price of the catalogue at one moment."""

    prices: dict[str, Price] = field(default_factory=dict)

    def unit_price(self, sku: str, unit: str) -> Decimal | None:
        return unit_price(self.prices.get(sku), unit)

    def total(self, items: Iterable[Any]) -> Decimal | None:
        """The total of items (objects or dicts with sku, quantity, unit) at these prices."""
        return total_of((Decimal(str(_get(i, "quantity", 1))),
                         self.unit_price(_get(i, "sku"), _get(i, "unit") or ""))
                        for i in items)


def book_of(products: Iterable[Product]) -> PriceBook:
    return PriceBook({p.sku: Price(Decimal(p.price), p.unit) for p in products
                      if p.price is not None})


async def load_book(session: AsyncSession, skus: Iterable[str] | None = None) -> PriceBook:
    q = select(Product)
    if skus is not None:
        q = q.where(Product.sku.in_(list(set(skus))))
    return book_of((await session.execute(q)).scalars().all())


def order_total(order: Order) -> Decimal | None:
    """The order's total from the prices kept at confirmation (None before, or if unknown).
    Back-ordered lines are not part of it: they are charged when they come (a follow-up)."""
    return total_of((Decimal(it.quantity), it.unit_price) for it in order.items
                    if getattr(it, "backorder", None) is None)


def money(amount: Decimal | None) -> str | None:
    """An amount as people read it: "90", "12.50" (whole amounts without cents); None stays
    None."""
    if amount is None:
        return None
    cents = Decimal(amount).quantize(CENT, ROUND_HALF_UP)
    return str(cents.quantize(Decimal(1))) if cents == cents.to_integral_value() else str(cents)


async def keep_prices(session: AsyncSession, order: Order) -> None:
    """Keep today's catalogue price on each item of `order` that has none yet."""
    todo = [it for it in order.items if it.unit_price is None]
    if not todo:
        return
    book = await load_book(session, (it.sku for it in todo))
    for it in todo:
        it.unit_price = book.unit_price(it.sku, it.unit or "")
    await session.flush()


class PriceSnapshot:
    """Order listener: keeps the prices of an order's items when it is confirmed."""

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        if event.to_status in PRICED_STATUSES:
            await keep_prices(session, order)


class PriceCache:
    """The catalogue's prices for read-backs, re-read when the catalogue version changes
    (checked at most every `recheck_seconds`)."""

    def __init__(self, recheck_seconds: float = 2.0) -> None:
        self.recheck_seconds = recheck_seconds
        self._book: PriceBook | None = None
        self._version: Any = None
        self._checked_at = float("-inf")
        self._refresh: asyncio.Task[None] | None = None

    async def get(self, database: Any) -> PriceBook:
        """The current book (reads the database only when due)."""
        if self._book is None or time.monotonic() - self._checked_at >= self.recheck_seconds:
            async with database.session() as s:
                await self._read(s)
        assert self._book is not None
        return self._book

    async def _read(self, session: AsyncSession) -> None:
        version = await db.catalog.version(session)
        if self._book is None or version != self._version:
            self._book = await load_book(session)
            self._version = version
        self._checked_at = time.monotonic()

    def cached(self, database: Any) -> PriceBook | None:
        """The book read last without waiting (None if never read); a due re-read runs in the
        background."""
        due = time.monotonic() - self._checked_at >= self.recheck_seconds
        if due and database is not None and (self._refresh is None or self._refresh.done()):
            self._refresh = database.spawn(self._background(database), "price-refresh")
        return self._book

    async def _background(self, database: Any) -> None:
        try:
            await self.get(database)
        except Exception:  # the database is away: the next read-back tries again
            log.warning("could not read the catalogue's prices", exc_info=True)

    def invalidate(self) -> None:
        self._checked_at = float("-inf")
