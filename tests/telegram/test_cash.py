"""Cash on delivery: the card shows the amount to collect, 已送达 records it as received, and
/paid records a different amount with a reason, as a new ledger entry."""

from __future__ import annotations

from decimal import Decimal

import db.ledger
from db.models import Product
from tests.telegram.conftest import HOME, Harness
from tests.telegram.test_commands import accept

NEAR = (HOME[0] + 0.004, HOME[1])


async def test_delivered_records_the_total_and_paid_corrects_it(gw: Harness) -> None:
    async with gw.services.db.session() as s:
        s.add_all([Product(sku="rice", name="大米", unit="袋", price=Decimal("45")),
                   Product(sku="pork", name="猪肉", unit="斤", price=Decimal("16"))])
    ld = await gw.leader(1001, "吴团长", *NEAR)
    oid = await gw.order(await gw.resident())  # 2 袋 rice, 1.5 斤 pork: 90 + 24
    card = await gw.card(1001, oid, buttons=True)
    assert "应收：114元（货到付款）" in card["text"]
    await accept(gw, 1001, oid)
    await gw.emu.send_text(1001, f"/paid {oid} 100 少收")
    await gw.emu.wait_message(1001, "还没有送达")
    card = await gw.emu.wait_message(1001, "已接单", buttons=True)
    await gw.emu.press(1001, card, "已送达")
    await gw.wait_status(oid, "delivered")
    delivered = await gw.emu.wait_message(1001, "📦 已送达")
    assert f"已记收款114元；收到的金额不同请发：/paid {oid} 金额 原因" in delivered["text"]
    async with gw.services.db.session() as s:
        [entry] = await db.ledger.entries(s, ld.id)
        assert (entry.kind, entry.amount, entry.order_id) == ("received", Decimal("114.00"), oid)

    await gw.emu.send_text(1001, f"/paid {oid} 100")
    await gw.emu.wait_message(1001, "请写上原因")
    await gw.emu.send_text(1001, f"/paid {oid} 100 鸡蛋碎了，少收14元")
    await gw.emu.wait_message(1001, f"订单{oid}号实收100元（应收114元）")
    await gw.emu.send_text(1001, f"/paid {oid} abc 原因")
    await gw.emu.wait_message(1001, "金额不对")
    async with gw.services.db.session() as s:
        entries = await db.ledger.entries(s, ld.id)
        assert [(e.kind, e.amount, e.reason) for e in entries] == [
            ("received", Decimal("114.00"), ""),
            ("correction", Decimal("-14.00"), "鸡蛋碎了，少收14元")]
        [b] = await db.ledger.balances(s)
        assert (b.received, b.handed_over, b.balance) == (Decimal("100.00"), 0, Decimal("100.00"))
