"""A leader's /shopping list is grouped by the supplier or shop to buy each product from."""

from __future__ import annotations

from db.models import Product
from tests.telegram.conftest import HOME, PORK, RICE, Harness
from tests.telegram.test_commands import accept

NEAR = (HOME[0] + 0.004, HOME[1])


async def test_shopping_groups_by_supplier_then_category(gw: Harness) -> None:
    async with gw.services.db.session() as s:
        s.add_all([Product(sku="rice", name="大米", unit="袋", category="粮油", supplier="城关米厂"),
                   Product(sku="pork", name="猪肉", unit="斤", category="肉类")])
    await gw.leader(1001, "吴团长", *NEAR, capacity=10)
    r = await gw.resident("+8613800000001", "居民")
    await accept(gw, 1001, await gw.order(r, [RICE, PORK]))
    await gw.emu.send_text(1001, "/shopping")
    text = (await gw.emu.wait_message(1001, "采购清单"))["text"]
    assert "【城关米厂】\n大米 ×2袋（1户）" in text
    assert "【肉类】\n猪肉 ×1.5斤（1户）" in text
