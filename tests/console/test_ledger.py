"""The console's cash ledger: balances per leader, entries, and an operator's hand-over."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import db.ledger
import db.people
from gateway.services import SERVICES
from tests.console.conftest import page_csrf


async def test_ledger_balances_and_handover(client: Any, app: Any) -> None:
    async with app[SERVICES].db.session() as s:
        leader = (await db.people.list_leaders(s))[0]
        await db.ledger.add(s, leader_id=leader.id, kind="received", amount=Decimal("114"),
                            actor="leader:1")
    r = await client.get("/console/ledger")
    html = await r.text()
    assert r.status == 200 and leader.name in html and "114.00" in html and "结余" in html
    token = await page_csrf(client, "/console/ledger")
    r = await client.post("/console/ledger/handover", data={
        "csrf": token, "leader": str(leader.id), "amount": "100", "note": "周一上交"},
        allow_redirects=False)
    assert r.status == 303, await r.text()
    r = await client.get(r.headers["Location"])
    html = await r.text()
    assert "已记录上交" in html and "周一上交" in html and "操作员 alice" in html
    assert "operator:alice" not in html
    r = await client.post("/console/ledger/handover", data={
        "csrf": token, "leader": str(leader.id), "amount": "-5"}, allow_redirects=False)
    assert r.status == 400
    async with app[SERVICES].db.session() as s:
        [b] = await db.ledger.balances(s)
        entries = await db.ledger.entries(s, leader.id)
    assert (b.received, b.handed_over, b.balance) == (Decimal("114.00"), Decimal("100.00"),
                                                      Decimal("14.00"))
    assert [e.kind for e in entries] == ["received", "handed_over"]  # added, never edited
