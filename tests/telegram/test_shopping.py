"""The combined shopping list counts households by phone number, not by order."""

from __future__ import annotations

from decimal import Decimal

from db.models import Order, OrderItem
from gateway.channels.telegram.shopping import combine


def order(oid: int, phone: str, *items: tuple[str, str, str, str]) -> Order:
    return Order(id=oid, phone=phone, items=[OrderItem(sku=sku, name=name, quantity=Decimal(q),
                                                       unit=unit) for sku, name, q, unit in items])


def test_two_orders_of_one_household_count_once() -> None:
    rice = ("rice", "大米", "2", "袋")
    orders = [order(1, "+8613800000001", rice), order(2, "+8613800000001", rice,
                                                          ("pork", "猪肉", "1.5", "斤")),
              order(3, "+8613800000002", rice)]
    groups, households = combine(orders, {"rice": "粮油", "pork": "肉类"})
    assert households == 2
    lines = {line.name: line for _, ls in groups for line in ls}
    assert lines["大米"].quantity == 6 and lines["大米"].households == 2
    assert lines["猪肉"].quantity == Decimal("1.5") and lines["猪肉"].households == 1
    assert [cat for cat, _ in groups] == ["粮油", "肉类"]
