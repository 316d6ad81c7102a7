"""Issue 18 on the console: mark goods out of stock (per village or everywhere) and back in,
add outlets (with their staff's invite link), the county view of shortage reports per outlet and
day (chart and CSV), and supported households (grant, revoke, monthly tally and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import db.orders
import db.people
import db.stock
from gateway.orders import stock
from gateway.orders.pricing import keep_prices
from gateway.services import SERVICES
from tests.console.conftest import page_csrf

GRANDMA = "+8613800000001"


async def test_mark_out_per_village_and_back_in(client: Any, app: Any) -> None:
    token = await page_csrf(client, "/console/stock")
    r = await client.post("/console/stock/out", data={
        "csrf": token, "sku": "eggs", "village": "鲁家村", "reason": "鸡场停供"},
        allow_redirects=False)
    assert r.status == 303
    html = await (await client.get(r.headers["Location"])).text()
    assert "已标记缺货" in html and "鸡场停供" in html and "操作员 alice" in html
    async with app[SERVICES].db.session() as s:
        assert (await stock.outs(s)).marks == {("eggs", "鲁家村")}
    r = await client.post("/console/stock/out", data={"csrf": token, "sku": "caviar"},
                          allow_redirects=False)
    assert r.status == 400 and "请从商品目录中选择商品" in await r.text()
    r = await client.post("/console/stock/in", data={"csrf": token, "sku": "eggs",
                                                     "village": "鲁家村"},
                          allow_redirects=False)
    assert r.status == 303
    html = await (await client.get(r.headers["Location"])).text()
    assert "已标记到货" in html and "目前没有缺货的商品" in html
    async with app[SERVICES].db.session() as s:
        assert not await stock.outs(s)
        assert [c.kind for c in await db.stock.history(s)] == ["in", "out"]  # added, not edited
    # Without the form's token: refused.
    r = await client.post("/console/stock/out", data={"sku": "eggs"}, allow_redirects=False)
    assert r.status == 403


async def test_outlets_and_the_county_shortage_view(client: Any, app: Any) -> None:
    token = await page_csrf(client, "/console/stock")
    r = await client.post("/console/outlets", data={"csrf": token, "name": "余村服务站",
                                                   "village": "余村"}, allow_redirects=False)
    assert r.status == 303
    html = await (await client.get("/console/stock")).text()
    assert "余村服务站" in html and "https://t.me/" in html and "?start=o" in html
    r = await client.post("/console/outlets", data={"csrf": token, "name": " "},
                          allow_redirects=False)
    assert r.status == 400
    tz = ZoneInfo("Asia/Shanghai")
    today = datetime.now(UTC).astimezone(tz).date()
    async with app[SERVICES].db.session() as s:
        [outlet] = [o for o in await db.stock.outlets(s) if o.name == "余村服务站"]
        other, _ = await db.stock.add_outlet(s, name="=HYPERLINK(1)", village="鲁家村",
                                             lat=None, lon=None)
        for o, sku, kind, days_ago in ((outlet, "eggs", "short", 1), (outlet, "eggs", "short", 0),
                                       (other, "eggs", "short", 0), (outlet, "rice", "restock", 0)):
            row = await db.stock.add_report(s, outlet_id=o.id, sku=sku, kind=kind, actor="t")
            row.at = datetime.now(UTC) - timedelta(days=days_ago)
    html = await (await client.get("/console/shortages?days=7")).text()
    assert "各商品上报缺货的天数" in html and "<svg" in html
    assert html.count('method="post" action="/console/shortages"') == 1  # once
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<" not in title and "各网点缺货上报" in title, title
    # Two days at 余村, one at the other outlet, one at the demo's outlet.
    assert "鸡蛋" in html and "4 天" in html and "鲁家村便民服务站" in html
    assert "大米" in html  # restocked, in the table
    out = await (await client.get(f"/console/shortages.csv?from={today}&days=1")).text()
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert rows[0] == ["day", "time", "outlet", "village", "sku", "name", "kind"]
    assert sorted((r[2], r[4], r[6]) for r in rows[1:]) == [
        ("'=HYPERLINK(1)", "eggs", "short"), ("余村服务站", "eggs", "short"),
        ("余村服务站", "rice", "restock"),
        ("鲁家村便民服务站", "eggs", "short")]  # only today's; a formula is neutralised


async def test_supported_households_grant_revoke_and_tally(client: Any, app: Any) -> None:
    token = await page_csrf(client, "/console/support")
    r = await client.post("/console/support/grant", data={
        "csrf": token, "phone": GRANDMA, "category": "低保", "approved_by": "民政办",
        "until": "", "reason": "独居"}, allow_redirects=False)
    assert r.status == 303
    html = await (await client.get(r.headers["Location"])).text()
    assert "已登记" in html and "王奶奶" in html and "民政办" in html and "长期" in html
    for bad, words in (({"approved_by": ""}, "请填写审批人"),
                       ({"approved_by": "x", "until": "2020-01-01"}, "已经过了"),
                       ({"approved_by": "x", "until": "明天"}, "格式不对"),
                       ({"approved_by": "x", "phone": "+8613899999999"}, "没有这个号码")):
        data = {"csrf": token, "phone": GRANDMA, **bad}
        r = await client.post("/console/support/grant", data=data, allow_redirects=False)
        assert r.status == 400 and words in await r.text(), bad
    # A delivered, supported order this month is in the tally and its CSV.
    services = app[SERVICES]
    async with services.db.session() as s:
        resident = await db.people.resident_by_phone(s, GRANDMA)
        assert resident is not None
        order = await db.orders.create(
            s, channel="sms", phone=GRANDMA, status="delivered", actor="t",
            resident_id=resident.id,
            items=[{"sku": "rice", "name": "大米", "quantity": 2, "unit": "袋"}])
        await keep_prices(s, order)  # 45 a bag in the demo catalogue
        order.supported = True
        oid = order.id
    html = await (await client.get("/console/support")).text()
    assert "已送达 1 单，1 户，合计 90 元" in html and f"/console/orders/{oid}" in html
    out = await (await client.get("/console/support.csv")).text()
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert rows[1][1:] == [str(oid), rows[1][2], "王奶奶", "鲁家村", "90"]
    r = await client.post("/console/support/revoke", data={"csrf": token, "phone": GRANDMA},
                          allow_redirects=False)
    html = await (await client.get(r.headers["Location"])).text()
    assert "已结束帮扶" in html and "周大爷" in html  # the demo's supported household stays
    async with services.db.session() as s:
        today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
        assert [r.phone for _, r in await db.stock.current_grants(s, today)] == [
            "+8613800000008"]


async def test_an_operator_records_a_report_for_an_outlet(client: Any, app: Any) -> None:
    token = await page_csrf(client, "/console/shortages")
    async with app[SERVICES].db.session() as s:
        [outlet] = await db.stock.outlets(s)  # the demo's
    r = await client.post("/console/shortages", data={
        "csrf": token, "outlet": str(outlet.id), "sku": "rice", "kind": "short"},
        allow_redirects=False)
    assert r.status == 303
    html = await (await client.get(r.headers["Location"])).text()
    assert "已登记上报" in html and "大米" in html
    for bad in ({"outlet": "999"}, {"sku": "caviar"}, {"kind": "gone"}):
        data = {"csrf": token, "outlet": str(outlet.id), "sku": "rice", "kind": "short", **bad}
        r = await client.post("/console/shortages", data=data, allow_redirects=False)
        assert r.status == 400 and "请选择网点" in await r.text(), bad
