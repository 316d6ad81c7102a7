"""The console's purchasing sheet: per supplier, printable, and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import db.orders
from gateway.services import SERVICES


async def test_purchasing_page_and_csv(client: Any, app: Any) -> None:
    async with app[SERVICES].db.session() as s:
        await db.orders.create(s, channel="sms", phone="+8613800000001", status="confirmed",
                               actor="test", items=[{"sku": "rice", "name": "大米",
                                                     "quantity": 3, "unit": "袋"}])
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    r = await client.get(f"/console/purchasing?date={today}")
    assert r.status == 200
    html = await r.text()
    assert "县粮油公司" in html and "大米" in html and "data-print" in html
    assert "采购单" in html
    r = await client.get(f"/console/purchasing.csv?date={today}")
    rows = list(csv.reader(io.StringIO((await r.text()).lstrip("\ufeff"))))
    assert rows[0] == ["supplier", "sku", "name", "unit", "quantity", "households", "villages"]
    assert rows[1][:6] == ["县粮油公司", "rice", "大米", "袋", "3", "1"]
    r = await client.get("/console/purchasing?date=2020-01-01")
    assert "没有需要采购的商品" in await r.text()
