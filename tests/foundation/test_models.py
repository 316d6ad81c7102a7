"""Model constraints hold on the real database (SQLite, or PostgreSQL in CI's second pass)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import db.inbound
import db.outbox
from db.models import (InboundMessage, Leader, Order, OrderItem, Outbox, Product, Resident,
                       utcnow)


async def _fails(database, *rows) -> None:  # noqa: ANN001
    with pytest.raises(IntegrityError):
        async with database.session() as s:
            s.add_all(rows)
            await s.flush()


async def test_resident_phone_unique(database) -> None:  # noqa: ANN001
    async with database.session() as s:
        s.add(Resident(phone="+8613800000001", name="A"))
    await _fails(database, Resident(phone="+8613800000001", name="B"))


async def test_coordinates_checked(database) -> None:  # noqa: ANN001
    await _fails(database, Resident(phone="+8613800000009", name="A", lat=91.0, lon=0.0))
    await _fails(database, Leader(phone="+8613900000009", name="L", lat=30.0, lon=200.0,
                                  invite_code="x"))


async def test_leader_checks(database) -> None:  # noqa: ANN001
    await _fails(database, Leader(phone="+8613900000001", name="L", lat=30, lon=120,
                                  radius_km=0, invite_code="a"))
    await _fails(database, Leader(phone="+8613900000001", name="L", lat=30, lon=120,
                                  capacity=-1, invite_code="b"))
    async with database.session() as s:
        s.add(Leader(phone="+8613900000001", name="L", lat=30, lon=120, invite_code="c"))
    await _fails(database, Leader(phone="+8613900000002", name="M", lat=30, lon=120,
                                  invite_code="c"))


async def test_order_status_and_channel_checked(database) -> None:  # noqa: ANN001
    await _fails(database, Order(channel="sms", phone="+1", status="shipped"))
    await _fails(database, Order(channel="fax", phone="+1", status="draft"))


async def test_item_quantity_is_decimal_and_positive(database) -> None:  # noqa: ANN001
    async with database.session() as s:
        o = Order(channel="sms", phone="+8613800000001", status="draft",
                  items=[OrderItem(sku="pork", name="猪肉", quantity=Decimal("1.5"), unit="斤")])
        s.add(o)
    async with database.session() as s:
        item = (await s.execute(select(OrderItem))).scalar_one()
        assert item.quantity == Decimal("1.5") and isinstance(item.quantity, Decimal)
    await _fails(database, Order(channel="sms", phone="+1", status="draft",
                                 items=[OrderItem(sku="x", name="x", quantity=0, unit="")]))


async def test_product_sku_unique_and_price_nonnegative(database) -> None:  # noqa: ANN001
    async with database.session() as s:
        s.add(Product(sku="rice", name="大米", aliases=["米"], unit="袋", units=["袋", "斤"]))
    await _fails(database, Product(sku="rice", name="米"))
    await _fails(database, Product(sku="salt", name="盐", price=Decimal("-1")))
    async with database.session() as s:
        p = (await s.execute(select(Product))).scalar_one()
        assert p.aliases == ["米"] and p.units == ["袋", "斤"] and p.active


async def test_inbound_unique_on_vendor_id(database) -> None:  # noqa: ANN001
    async with database.session() as s:
        stored = [await db.inbound.store(s, channel="sms", vendor_id="SM1", phone="+1",
                                         body="大米", raw={"Body": "大米"}),
                  await db.inbound.store(s, channel="sms", vendor_id="SM1", phone="+1",
                                         body="again", raw={}),
                  await db.inbound.store(s, channel="voice", vendor_id="SM1", phone="+1",
                                         body="", raw={})]
        (a, new_a), (b, new_b), (c, new_c) = [(await s.get(InboundMessage, st.id), st.new)
                                              for st in stored]
        assert a is not None and b is not None and c is not None
    assert (new_a, new_b, new_c) == (True, False, True)
    assert a.id == b.id != c.id and b.body == "大米"
    await _fails(database, InboundMessage(channel="sms", vendor_id="SM1", body=""))


async def test_outbox_enqueue_is_idempotent_and_claims_once(database) -> None:  # noqa: ANN001
    async with database.session() as s:
        assert await db.outbox.enqueue(s, channel="sms", recipient="+1", body="hi",
                                       idempotency_key="k1")
        assert not await db.outbox.enqueue(s, channel="sms", recipient="+1", body="hi again",
                                           idempotency_key="k1")
    async with database.session() as s:
        rows = await db.outbox.claim_due(s)
        assert [r.body for r in rows] == ["hi"]
    async with database.session() as s:
        assert await db.outbox.claim_due(s) == []
        await db.outbox.mark_failed(s, rows[0].id, "boom", retry_in=0)
    async with database.session() as s:
        again = await db.outbox.claim_due(s, now=utcnow())
        assert [r.id for r in again] == [rows[0].id]
        await db.outbox.mark_sent(s, rows[0].id, "SMxyz")
    async with database.session() as s:
        row = (await s.execute(select(Outbox))).scalar_one()
        assert (row.status, row.attempts, row.vendor_id, row.last_error) == ("sent", 2, "SMxyz", None)
        assert await db.outbox.depth(s) == {"sent": 1}


async def test_naive_and_aware_datetimes_round_trip(database) -> None:  # noqa: ANN001
    now = utcnow()
    async with database.session() as s:
        s.add(Resident(phone="+8613800000005", name="T", created_at=now))
    async with database.session() as s:
        r = (await s.execute(select(Resident))).scalar_one()
        assert r.created_at.tzinfo is not None
        assert abs((r.created_at - now).total_seconds()) < 1e-3
