"""Issue 17 on the console: schedule a run, see the villages waiting for one, the run's picking
list (and CSV) and stop lists, move and cancel it, record delivered / not home; pickup points
with their villages and slot lists, and collected. The real app and database, forms with CSRF."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

import db.orders
import db.people
import db.runs
from db.models import Outbox, Resident, Run
from gateway.orders.demo import join_demo_leaders
from gateway.orders.events import change_status
from gateway.services import SERVICES
from tests.console.conftest import page_csrf

TZ = ZoneInfo("Asia/Shanghai")
ZHAO = "+8613800000006"  # 赵爷爷, 大竹园村
LIU = "+8613800000005"  # 刘奶奶, 横山坞村


def at(days: int, hm: str) -> str:
    return f"{(datetime.now(TZ).date() + timedelta(days=days)).isoformat()} {hm}"


async def confirmed_order(app: Any, phone: str, sku: str = "rice", name: str = "大米",
                          unit: str = "袋", qty: int = 2) -> int:
    services = app[SERVICES]
    async with services.db.session() as s:
        r = await db.people.resident_by_phone(s, phone)
        o = await db.orders.create(s, channel="sms", phone=phone, status="draft",
                                   actor="resident:sms", resident_id=r.id,
                                   items=[{"sku": sku, "name": name, "quantity": qty,
                                           "unit": unit}])
        await change_status(s, o, "confirmed", actor="resident:sms",
                            listeners=services.listeners)
        return o.id


async def texts_to(app: Any, phone: str) -> list[str]:
    async with app[SERVICES].db.session() as s:
        return [r.body for r in (await s.execute(select(Outbox).where(
            Outbox.recipient == phone, Outbox.channel == "sms").order_by(Outbox.id))).scalars()]


async def test_schedule_a_run_see_waiting_villages_picking_and_cancel(client: Any,
                                                                      app: Any) -> None:
    services = app[SERVICES]
    await join_demo_leaders(services.db, 5_000_000)
    async with services.db.session() as s:  # far from every leader: the orders wait
        await s.execute(update(Resident).where(Resident.phone == ZHAO).values(lat=31.5, lon=121))
        feng = await db.people.leader_by_phone(s, "+8613900000004")
    first = await confirmed_order(app, ZHAO)
    second = await confirmed_order(app, ZHAO, "eggs", "鸡蛋", "板", 1)
    await services.dispatcher.run_once()
    html = await (await client.get("/console/runs")).text()
    assert "大竹园村已有 1 户下单" in html and "还没有安排车次" in html
    # the waiting village links to the form with the village filled in
    assert "/console/runs?village=%E5%A4%A7%E7%AB%B9%E5%9B%AD%E6%9D%91#add" in html
    prefilled = await (await client.get("/console/runs?village=大竹园村")).text()
    assert 'name="villages" value="大竹园村"' in prefilled

    token = await page_csrf(client, "/console/runs")
    bad = await client.post("/console/runs", data={
        "csrf": token, "villages": "大竹园村", "at": "明天", "cutoff": at(1, "07:00"),
        "leader": str(feng.id)}, allow_redirects=False)
    assert bad.status == 400 and "时间请写成 2026-12-05 09:00 这样" in await bad.text()
    bad = await client.post("/console/runs", data={
        "csrf": token, "villages": "大竹园村", "at": at(1, "09:00"), "cutoff": at(1, "10:00"),
        "leader": str(feng.id)}, allow_redirects=False)
    assert bad.status == 400 and "截单时间不能晚于出发时间" in await bad.text()
    bad = await client.post("/console/runs", data={
        "csrf": token, "villages": "大竹园村", "at": at(1, "09:00"), "cutoff": at(1, "07:00"),
        "leader": str(feng.id), "stops": "村口@北边@09:30"}, allow_redirects=False)
    html = await bad.text()
    assert bad.status == 400 and "站点请写成 村口@30.1,120.2@09:30" in html
    assert 'name="stops" rows="3"' in html and "村口@北边@09:30" in html  # kept as typed
    assert f'<option value="{feng.id}" selected>' in html
    await client.get("/console/lang?to=ko-KR&next=/console/runs")
    bad = await client.post("/console/runs", data={
        "csrf": token, "villages": "", "at": at(1, "09:00"), "cutoff": at(1, "07:00"),
        "leader": str(feng.id)}, allow_redirects=False)
    assert bad.status == 400 and "마을을 하나 이상 적어 주세요" in await bad.text()
    await client.get("/console/lang?to=zh-CN&next=/console/runs")
    async with services.db.session() as s:
        assert (await s.execute(select(Run))).scalars().first() is None  # none was made
    r = await client.post("/console/runs", data={
        "csrf": token, "villages": "大竹园村，高禹村", "at": at(1, "09:00"),
        "cutoff": at(1, "07:00"), "leader": str(feng.id), "vehicle": "浙E·1号",
        "stops": "大竹园村村口@30.7049,119.7411@09:30\n高禹村老街@@10:15"},
        allow_redirects=False)
    assert r.status == 303, await r.text()
    page = await (await client.get(r.headers["Location"])).text()
    assert "车次已安排，2 个等待中的订单已加入" in page
    assert "大米2袋" in page and "鸡蛋1板" in page and "共 2 户" not in page  # one household
    assert "共 1 户" in page and "大竹园村村口 · 09:30" in page
    run_id = int(r.headers["Location"].split("/")[-1].split("?")[0])
    listing = await (await client.get("/console/runs")).text()
    row = re.search(rf'<tr><td><a href="/console/runs/{run_id}">#{run_id}</a>.*?</tr>', listing)
    assert row, listing
    cells = re.findall(r"<td>(.*?)</td>", row.group(0))
    assert cells[2] == "大竹园村、高禹村" and "大竹园村村口 09:30 → 高禹村老街 10:15" in cells[3]
    assert cells[5] == feng.name
    assert cells[6] == "已安排" and cells[7] == "2"  # two orders (of one household)
    assert "大竹园村已有" not in listing  # a run is ahead now
    csv_text = await (await client.get(f"/console/runs/{run_id}/picking.csv")).text()
    rows = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))  # (a BOM, for Excel)
    assert rows[0] == ["sku", "name", "unit", "quantity", "households"]
    assert ["rice", "大米", "袋", "2", "1"] in rows and ["eggs", "鸡蛋", "板", "1", "1"] in rows
    assert any("由流动超市送来" in t for t in await texts_to(app, ZHAO))

    run_html = await (await client.get(f"/console/runs/{run_id}")).text()
    assert f'action="/console/runs/{run_id}/cancel" data-confirm="确定取消这趟车？' in run_html
    assert "<button type=\"button\" data-print>打印</button>" in run_html
    assert "onsubmit=" not in run_html and "javascript:" not in run_html  # the CSP forbids them
    token = await page_csrf(client, f"/console/runs/{run_id}")
    r = await client.post(f"/console/runs/{run_id}/move", data={
        "csrf": token, "at": at(2, "14:00")}, allow_redirects=False)
    assert r.status == 303
    page = await (await client.get(r.headers["Location"])).text()
    assert "已改时间" in page and "大竹园村村口 · 14:30" in page
    assert any("流动超市改时间了" in t for t in await texts_to(app, ZHAO))

    r = await client.post(f"/console/runs/{run_id}/stop", data={
        "csrf": token, "order": str(second), "what": "not_home", "why": "敲门没人"},
        allow_redirects=False)
    assert r.status == 303
    page = await (await client.get(r.headers["Location"])).text()
    assert "已记录" in page and "不在家" in page
    order_page = await (await client.get(f"/console/orders/{second}")).text()
    assert f"车次 #{run_id} 到站时不在家：敲门没人" in order_page

    async with services.db.session() as s:
        o = await db.orders.get(s, second)
        assert o.status == "unassigned" and o.events[-1].actor == "operator:alice"
    assert "流动超市今天在大竹园村村口没等到您" in (await texts_to(app, ZHAO))[-1]

    r = await client.post(f"/console/runs/{run_id}/cancel", data={"csrf": token},
                          allow_redirects=False)
    assert r.status == 303
    page = await (await client.get(r.headers["Location"])).text()
    assert "车次已取消" in page and "已取消" in page
    async with services.db.session() as s:
        o = await db.orders.get(s, first)
        assert o.status == "confirmed" and o.run_id is None
        assert (await s.get(Run, run_id)).status == "cancelled"
    assert any("流动超市取消了" in t for t in await texts_to(app, ZHAO))
    order_page = await (await client.get(f"/console/orders/{first}")).text()
    assert f"车次 #{run_id} 已取消" in order_page


async def test_delivered_at_a_stop_from_the_console(client: Any, app: Any) -> None:
    services = app[SERVICES]
    await join_demo_leaders(services.db, 5_100_000)
    async with services.db.session() as s:
        feng = await db.people.leader_by_phone(s, "+8613900000004")
    token = await page_csrf(client, "/console/runs")
    r = await client.post("/console/runs", data={
        "csrf": token, "villages": "大竹园村", "at": at(1, "09:00"), "cutoff": at(1, "07:00"),
        "leader": str(feng.id)}, allow_redirects=False)
    run_id = int(r.headers["Location"].split("/")[-1].split("?")[0])
    oid = await confirmed_order(app, ZHAO)
    await services.dispatcher.run_once()
    page = await (await client.get(f"/console/runs/{run_id}")).text()
    assert "村口 · 09:00" in page and "已上车次" in page
    other = await confirmed_order(app, LIU)  # not on this run
    r = await client.post(f"/console/runs/{run_id}/stop", data={
        "csrf": token, "order": str(other), "what": "delivered"}, allow_redirects=False)
    assert "这个订单不在这趟车上" in await (await client.get(r.headers["Location"])).text()
    async with services.db.session() as s:
        assert (await db.orders.get(s, other)).status != "delivered"
    r = await client.post(f"/console/runs/{run_id}/stop", data={
        "csrf": token, "order": str(oid), "what": "delivered"}, allow_redirects=False)
    page = await (await client.get(r.headers["Location"])).text()
    assert "已记录" in page and "已送达" in page
    async with services.db.session() as s:
        o = await db.orders.get(s, oid)
        assert o.status == "delivered" and o.events[-1].actor == "operator:alice"
    order_page = await (await client.get(f"/console/orders/{oid}")).text()
    assert f"车次 #{run_id}：村口" in order_page


async def test_pickup_points_villages_slots_and_collected(client: Any, app: Any) -> None:
    services = app[SERVICES]
    token = await page_csrf(client, "/console/pickup")
    bad = await client.post("/console/pickup", data={
        "csrf": token, "name": "东门供销社", "village": "递铺镇", "hours": "18:00-08:00"},
        allow_redirects=False)
    assert bad.status == 400 and "开门要早于关门" in await bad.text()
    r = await client.post("/console/pickup", data={
        "csrf": token, "name": "东门供销社", "village": "递铺镇", "place": "昌硕广场东门",
        "hours": "00:00-23:30", "slot_minutes": "30", "capacity": "2", "prefix": "A",
        "serves": "横山坞村"}, allow_redirects=False)
    assert r.status == 303
    page = await (await client.get(r.headers["Location"])).text()
    assert "自提点已保存" in page and "东门供销社" in page and "横山坞村" in page
    assert "每 30 分钟一段，每段最多 2 户" in page and "https://t.me/" in page
    oid = await confirmed_order(app, LIU)
    await services.dispatcher.run_once()
    async with services.db.session() as s:
        o = await db.orders.get(s, oid)
    assert o.fulfil_kind == "pickup" and o.pickup_no == "A-1"
    day = o.slot_start.astimezone(TZ).date().isoformat()
    page = await (await client.get(f"/console/pickup?day={day}")).text()
    assert "A-1" in page and "刘奶奶" in page and "待取" in page
    order_page = await (await client.get(f"/console/orders/{oid}")).text()
    assert "到东门供销社自提" in order_page and "取货号 A-1" in order_page
    r = await client.post("/console/pickup/collected", data={"csrf": token, "order": str(oid)},
                          allow_redirects=False)
    page = await (await client.get(r.headers["Location"])).text()
    assert "已记为取走" in page
    async with services.db.session() as s:
        assert (await db.orders.get(s, oid)).status == "delivered"
    r = await client.post("/console/pickup/unserve", data={"csrf": token, "village": "横山坞村"},
                          allow_redirects=False)
    page = await (await client.get(r.headers["Location"])).text()
    assert "已改回送货上门" in page

    # a whole village assigned to the existing point with its own small form
    async with services.db.session() as s:
        point = (await db.runs.pickup_points(s))[0]
    r = await client.post("/console/pickup/serve", data={
        "csrf": token, "point": str(point.id), "village": "大竹园村"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].endswith(f"#point-{point.id}")
    page = await (await client.get(r.headers["Location"])).text()
    assert "这个村已改为到这个自提点取货" in page and "负责的村 大竹园村" in page
    async with services.db.session() as s:
        assert await db.runs.pickup_villages(s) == {point.id: ["大竹园村"]}
        zhao = await db.people.resident_by_phone(s, ZHAO)
        assert (await db.runs.pickup_point_of(s, zhao)).id == point.id
    bad = await client.post("/console/pickup/serve", data={
        "csrf": token, "point": "999999", "village": "高禹村"}, allow_redirects=False)
    assert bad.status == 400 and "请检查自提点" in await bad.text()

    # editing: the form comes filled with the point's values; saving keeps the other ones
    page = await (await client.get(f"/console/pickup?edit={point.id}")).text()
    assert 'name="name" value="东门供销社"' in page and 'name="hours" value="00:00-23:30"' in page
    assert 'name="capacity" value="2"' in page and 'name="place" value="昌硕广场东门"' in page
    bad = await client.post("/console/pickup", data={
        "csrf": token, "name": "东门供销社", "village": "递铺镇", "lat": "95", "lon": "120",
        "hours": "00:00-23:30", "slot_minutes": "30", "capacity": "3", "prefix": "A"},
        allow_redirects=False)
    html = await bad.text()
    assert bad.status == 400 and "请检查自提点" in html and 'name="lat" size="8" value="95"' in html
    r = await client.post("/console/pickup", data={
        "csrf": token, "name": "东门供销社", "village": "递铺镇", "place": "昌硕广场东门",
        "hours": "00:00-23:30", "slot_minutes": "30", "capacity": "3", "prefix": "A"},
        allow_redirects=False)
    assert r.status == 303
    async with services.db.session() as s:
        points = await db.runs.pickup_points(s)
        assert [(p.id, p.slot_capacity) for p in points] == [(point.id, 3)]
    try_page = await (await client.get("/console/try")).text()
    assert "自提点 东门供销社" in try_page


async def test_try_page_shows_the_runs_and_points(client: Any, app: Any) -> None:
    from gateway.orders.demo.runs import load_demo_fulfilment

    services = app[SERVICES]
    async with services.db.session() as s:
        await load_demo_fulfilment(s, "zh-CN", TZ)
    page = await (await client.get("/console/try")).text()
    assert "演示中的流动超市和自提点" in page
    assert "去大竹园村" in page and "赵爷爷" in page
    assert "自提点 递铺镇供销社东门店：横山坞村的居民（刘奶奶）" in page
