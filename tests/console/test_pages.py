"""Phone entry, residents, leaders, catalogue, demand, map and the try-it page, request by request."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

import db.catalog
import db.orders
import db.people
from db.models import Leader
from gateway.orders.catalog import active_items
from gateway.services import SERVICES
from tests.console.conftest import page_csrf


def _language_ready() -> bool:
    try:
        from gateway.language import compile_language  # noqa: F401
    except ImportError:
        return False
    return True


async def test_every_page_renders_in_both_languages(client: Any) -> None:
    pages = ("/console/orders", "/console/entry", "/console/residents", "/console/leaders",
             "/console/catalog", "/console/demand", "/console/map", "/console/try")
    for lang in ("zh-CN", "en"):
        await client.get(f"/console/lang?to={lang}&next=/console/orders")
        for path in pages:
            r = await client.get(path)
            assert r.status == 200, path
            html = await r.text()
            assert "<nav" in html and 'aria-current="page"' in html, path
            assert r.headers["Cache-Control"] == "no-store"
            assert r.headers["X-Frame-Options"] == "DENY"
    r = await client.get("/console/static/console.css")
    assert r.status == 200 and "font-size" in await r.text()


async def test_lookup_resident_by_phone(client: Any, app: Any) -> None:
    async with app[SERVICES].db.session() as s:
        resident = (await db.people.list_residents(s))[0]
    spaced = resident.phone[:3] + " " + resident.phone[3:7] + "-" + resident.phone[7:]
    r = await client.get("/console/entry/lookup", params={"phone": spaced})
    data = await r.json()
    assert data["found"] and data["name"] == resident.name and data["village"] == resident.village
    r = await client.get("/console/entry/lookup", params={"phone": "+8613111111111"})
    assert (await r.json()) == {"phone": "+8613111111111", "found": False}
    r = await client.get("/console/entry/lookup", params={"phone": "12"})
    assert r.status == 400


async def test_parse_endpoint(client: Any) -> None:
    token = await page_csrf(client, "/console/entry")
    r = await client.post("/console/entry/parse", json={"text": "两袋大米", "locale": "zh-CN"},
                          headers={"X-CSRF-Token": token})
    assert r.status == 200
    data = await r.json()
    if not _language_ready():
        assert data == {"available": False, "notice": "订单语言还没装好：请手动选商品。"}
        return
    assert data["available"] and data["items"][0]["sku"] == "rice"
    assert data["items"][0]["quantity"] == 2
    r = await client.post("/console/entry/parse", data="not json",
                          headers={"X-CSRF-Token": token, "Content-Type": "application/json"})
    assert r.status == 400


async def test_phone_entry_creates_a_confirmed_console_order(client: Any, app: Any) -> None:
    async with app[SERVICES].db.session() as s:
        resident = (await db.people.list_residents(s))[0]
    token = await page_csrf(client, "/console/entry")
    r = await client.post("/console/entry", data=[
        ("csrf", token), ("phone", resident.phone), ("locale", "zh-CN"), ("text", "两袋大米"),
        ("action", "save"), ("sku", "rice"), ("quantity", "2"), ("unit", "")])
    assert r.status == 200 and "/console/orders/" in str(r.url)
    oid = int(str(r.url).rsplit("/", 1)[1].split("?")[0])
    async with app[SERVICES].db.session() as s:
        o = await db.orders.get(s, oid)
        assert o.channel == "console" and o.resident_id == resident.id and o.note == "两袋大米"
        assert o.events[0].to_status == "confirmed" and o.events[0].actor == "operator:alice"
        assert [(i.sku, float(i.quantity), i.unit) for i in o.items] == [("rice", 2, "袋")]
    # Errors keep what was typed.
    r = await client.post("/console/entry", data=[("csrf", token), ("phone", "12345"),
                                                  ("action", "save")])
    assert r.status == 400 and "号码格式不对" in await r.text()
    r = await client.post("/console/entry", data=[("csrf", token), ("phone", resident.phone),
                                                  ("text", "随便"), ("action", "save"),
                                                  ("sku", "nosuch"), ("quantity", "1")])
    html = await r.text()
    assert r.status == 400 and "没有这个商品" in html and "随便" in html


async def test_phone_entry_without_javascript_reads_the_text(client: Any) -> None:
    token = await page_csrf(client, "/console/entry")
    r = await client.post("/console/entry", data={"csrf": token, "phone": "+8613111111111",
                                                  "text": "两袋大米", "action": "parse",
                                                  "locale": "zh-CN"})
    html = await r.text()
    assert r.status == 200 and "不是登记过的居民" in html
    if _language_ready():
        assert 'value="rice" selected' in html
    else:
        assert "订单语言还没装好" in html


async def test_residents_add_edit_and_search(client: Any, app: Any) -> None:
    token = await page_csrf(client, "/console/residents")
    r = await client.post("/console/residents", data={
        "csrf": token, "phone": "+86 138 0000 9999", "name": "新奶奶", "village": "新村",
        "address": "一组 5 号", "lat": "30.5", "lon": "119.6", "locale": "zh-CN"})
    assert r.status == 200 and "已保存" in await r.text()
    async with app[SERVICES].db.session() as s:
        res = await db.people.resident_by_phone(s, "+8613800009999")
        assert res is not None and res.village == "新村" and res.lat == 30.5
        assert res.registered_by == "console"
    html = await (await client.get("/console/residents?q=新奶奶")).text()
    assert "新奶奶" in html and html.count("<tr>") == 2  # header + one match
    html = await (await client.get(f"/console/residents?edit={res.id}")).text()
    assert 'value="一组 5 号"' in html
    r = await client.post("/console/residents", data={"csrf": token, "phone": "+8613800009999",
                                                      "name": "新奶奶", "lat": "30.5", "lon": ""})
    assert r.status == 400 and "latitude" in await r.text()
    r = await client.post("/console/residents", data={"csrf": token, "phone": "abc", "name": "x"})
    assert r.status == 400


async def test_leaders_invite_links_duty_and_load(client: Any, app: Any) -> None:
    html = await (await client.get("/console/leaders")).text()
    assert "https://t.me/doorstep_bot?start=" in html and "<meter" in html
    async with app[SERVICES].db.session() as s:
        ld = (await db.people.list_leaders(s))[0]
        old_code, was_on = ld.invite_code, ld.on_duty
    token = await page_csrf(client, "/console/leaders")
    r = await client.post(f"/console/leaders/{ld.id}/duty",
                          data={"csrf": token, "on_duty": "0" if was_on else "1"})
    assert r.status == 200
    r = await client.post(f"/console/leaders/{ld.id}/invite", data={"csrf": token})
    assert r.status == 200
    async with app[SERVICES].db.session() as s:
        again = await s.get(Leader, ld.id)
        assert again.on_duty is (not was_on) and again.invite_code != old_code
    r = await client.post("/console/leaders", data={
        "csrf": token, "phone": "+8613900009999", "name": "新团长", "lat": "30.6", "lon": "119.7",
        "radius_km": "3", "capacity": "4", "locale": "zh-CN"})
    assert r.status == 200
    async with app[SERVICES].db.session() as s:
        new = await db.people.leader_by_phone(s, "+8613900009999")
        assert new is not None and new.capacity == 4 and new.radius_km == 3
    r = await client.post("/console/leaders", data={"csrf": token, "phone": "+8613900009998",
                                                    "name": "无坐标"})
    assert r.status == 400
    assert (await client.post("/console/leaders/9999/duty", data={"csrf": token})).status == 404


async def test_catalogue_edit_deactivate_import_export(client: Any, app: Any) -> None:
    token = await page_csrf(client, "/console/catalog")
    r = await client.post("/console/catalog", data={
        "csrf": token, "sku": "tofu", "name": "豆腐", "aliases": "老豆腐|水豆腐", "unit": "块",
        "units": "块|斤", "price": "2.5", "category": "豆制品", "active": "1"})
    assert r.status == 200
    async with app[SERVICES].db.session() as s:
        p = await db.catalog.get_by_sku(s, "tofu")
        assert p is not None and p.aliases == ["老豆腐", "水豆腐"] and p.units == ["块", "斤"]
    r = await client.post("/console/catalog/tofu/active", data={"csrf": token, "active": "0"})
    assert r.status == 200
    async with app[SERVICES].db.session() as s:
        assert (await db.catalog.get_by_sku(s, "tofu")).active is False
        assert "tofu" not in {i.sku for i in await active_items(s)}
    r = await client.post("/console/catalog", data={"csrf": token, "sku": "x", "name": "x",
                                                    "price": "abc"})
    assert r.status == 400 and "not a number" in await r.text()
    r = await client.get("/console/catalog.csv")
    assert r.headers["Content-Disposition"].startswith("attachment")
    text = (await r.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert any(row["sku"] == "tofu" and row["active"] == "0" for row in rows)
    # Import the export back with one change: the price of tofu.
    for row in rows:
        if row["sku"] == "tofu":
            row["price"] = "3"
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("file", out.getvalue().encode(), filename="c.csv", content_type="text/csv")
    r = await client.post("/console/catalog/import", data=form)
    html = await r.text()
    assert r.status == 200 and "更新 1" in html
    bad = aiohttp.FormData()
    bad.add_field("csrf", token)
    bad.add_field("file", b"name\nx\n", filename="c.csv", content_type="text/csv")
    r = await client.post("/console/catalog/import", data=bad)
    assert r.status == 400 and "sku" in await r.text()


async def test_demand_chart_and_csv(client: Any, app: Any) -> None:
    async with app[SERVICES].db.session() as s:
        everyone = await db.people.list_residents(s)
        residents = [everyone[0], next(r for r in everyone if r.village != everyone[0].village)]
        for r, q in ((residents[0], 2), (residents[1], 3), (residents[0], 1)):
            await db.orders.create(s, channel="sms", phone=r.phone, status="confirmed",
                                   actor="resident", resident_id=r.id,
                                   items=[{"sku": "rice", "name": "大米", "quantity": q,
                                           "unit": "袋"}])
        await db.orders.create(s, channel="sms", phone=residents[0].phone, status="cancelled",
                               actor="resident", resident_id=residents[0].id,
                               items=[{"sku": "rice", "name": "大米", "quantity": 50,
                                       "unit": "袋"}])
    html = await (await client.get("/console/demand")).text()
    assert "<svg" in html and "<rect" in html and "6 袋" in html  # 2+3+1, cancelled left out
    # two charts: stacked by village, and by day (all of today here)
    assert "各商品数量（按村分色）" in html and "各商品数量（按天分色）" in html
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert f"<title>{residents[1].village}: 3 袋</title>" in html
    assert f"<title>{today}: 6 袋</title>" in html
    r = await client.get("/console/demand.csv?days=1")
    rows = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert sum(float(x["quantity"]) for x in rows if x["sku"] == "rice") == 6
    assert {x["village"] for x in rows} <= {residents[0].village, residents[1].village}
    html = await (await client.get(f"/console/demand?village={residents[1].village}")).text()
    assert "3 袋" in html
    html = await (await client.get("/console/demand?from=2001-01-01&days=3")).text()
    assert "这段时间没有订单" in html


async def test_map_plots_residents_and_leaders(client: Any, app: Any) -> None:
    html = await (await client.get("/console/map")).text()
    async with app[SERVICES].db.session() as s:
        n_res = len([r for r in await db.people.list_residents(s) if r.lat is not None])
        n_ld = len(await db.people.list_leaders(s))
    assert html.count('class="resident"') == n_res and html.count('class="leader"') == n_ld
    assert " km</text>" in html


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_try_page_explains_what_is_missing(client: Any, lang: str) -> None:
    await client.get(f"/console/lang?to={lang}&next=/console/try")
    html = await (await client.get("/console/try")).text()
    assert 'class="keypad"' in html and "/console/try/sms" in html
