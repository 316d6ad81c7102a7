"""Orders on the console: the live list and its filters, the order page, and every action."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import db.orders
import db.people
import db.tasks
from db.models import Recording, Task
from gateway.orders.events import change_status
from gateway.services import SERVICES
from tests.console.conftest import page_csrf

RICE = {"sku": "rice", "name": "大米", "quantity": 2, "unit": "袋"}


async def _order(app: Any, *, status: str = "confirmed", phone: str = "+8613800000001",
                 channel: str = "sms", transcript: str | None = None, **kw: Any) -> int:
    async with app[SERVICES].db.session() as s:
        r = await db.people.resident_by_phone(s, phone)
        o = await db.orders.create(s, channel=channel, phone=phone, status=status,
                                   actor="resident", resident_id=r.id if r else None,
                                   items=kw.get("items", [RICE]), transcript=transcript)
        return o.id


async def _get(app: Any, order_id: int) -> Any:
    async with app[SERVICES].db.session() as s:
        return await db.orders.get(s, order_id)


async def _first_resident(app: Any) -> Any:
    async with app[SERVICES].db.session() as s:
        return (await db.people.list_residents(s))[0]


async def test_list_shows_orders_and_filters(client: Any, app: Any) -> None:
    resident = await _first_resident(app)
    a = await _order(app, phone=resident.phone)
    b = await _order(app, status="needs_review", phone="+8613899999999", channel="voice")
    html = await (await client.get("/console/orders")).text()
    assert f"#{a}" in html and f"#{b}" in html and "未登记号码" in html
    html = await (await client.get("/console/orders?status=needs_review")).text()
    assert f"#{b}" in html and f"#{a}<" not in html
    html = await (await client.get("/console/orders?channel=voice")).text()
    assert f"#{b}" in html and f">#{a}<" not in html
    html = await (await client.get(f"/console/orders?village={resident.village}")).text()
    assert f">#{a}<" in html and f">#{b}<" not in html
    today = datetime.now(timezone(timedelta(hours=8))).date()
    html = await (await client.get(f"/console/orders?day={today.isoformat()}")).text()
    assert f">#{a}<" in html
    html = await (await client.get(f"/console/orders?day={today - timedelta(days=3)}")).text()
    assert f">#{a}<" not in html and "没有订单" in html
    html = await (await client.get("/console/orders?status=bogus&leader=x&day=nope")).text()
    assert f">#{a}<" in html  # nonsense filters are ignored, not errors


async def test_leader_filter(client: Any, app: Any) -> None:
    a = await _order(app)
    async with app[SERVICES].db.session() as s:
        ld = (await db.people.list_leaders(s))[0]
        o = await db.orders.get(s, a)
        o.leader_id = ld.id
    html = await (await client.get(f"/console/orders?leader={ld.id}")).text()
    assert f">#{a}<" in html


async def test_live_rows_answer_204_until_something_changes(client: Any, app: Any) -> None:
    r = await client.get("/console/orders/rows")
    assert r.status == 200
    version = r.headers["X-Orders-Version"]
    r = await client.get(f"/console/orders/rows?version={version}")
    assert r.status == 204
    new = await _order(app)
    r = await client.get(f"/console/orders/rows?version={version}")
    assert r.status == 200 and f">#{new}<" in await r.text()
    assert r.headers["X-Orders-Total"] == "1"


async def test_order_page_shows_items_events_transcript_and_recording(
        client: Any, app: Any, console_settings: Any) -> None:
    oid = await _order(app, status="needs_review", transcript="两袋大米 嗯 还有那个")
    rec_dir = console_settings.recordings_dir
    rec_dir.mkdir(parents=True, exist_ok=True)
    (rec_dir / "call.wav").write_bytes(b"RIFF0000WAVEfmt " + b"\0" * 100)
    async with app[SERVICES].db.session() as s:
        s.add(Recording(order_id=oid, call_sid="CA1", path="call.wav", duration_s=3.2,
                        size_bytes=116))
        s.add(Recording(order_id=oid, call_sid="CA2", path="../../etc/passwd"))
    html = await (await client.get(f"/console/orders/{oid}")).text()
    assert "大米" in html and "两袋大米 嗯 还有那个" in html and "待人工核对" in html
    assert '<audio controls' in html and "/console/recordings/1" in html
    assert "resident" in html  # the first event's actor
    r = await client.get("/console/recordings/1")
    assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
    assert (await r.read()).startswith(b"RIFF")
    r = await client.get("/console/recordings/1", headers={"Range": "bytes=0-3"})
    assert r.status == 206 and await r.read() == b"RIFF"
    assert (await client.get("/console/recordings/2")).status == 404  # outside the folder
    assert (await client.get("/console/recordings/99")).status == 404
    assert (await client.get("/console/orders/99999")).status == 404
    assert (await client.get("/console/orders/abc")).status == 404


async def test_correct_items_is_an_event_by_the_operator(client: Any, app: Any) -> None:
    oid = await _order(app, status="needs_review")
    token = await page_csrf(client, f"/console/orders/{oid}")
    r = await client.post(f"/console/orders/{oid}/items", data=[
        ("csrf", token), ("sku", "rice"), ("quantity", "3"), ("unit", ""),
        ("sku", "eggs"), ("quantity", "1.5"), ("unit", "斤"), ("sku", ""), ("quantity", ""),
        ("unit", ""), ("reason", "老人改口")])
    assert r.status == 200 and "商品已修改" in await r.text()
    o = await _get(app, oid)
    assert [(i.sku, float(i.quantity), i.unit) for i in o.items] == [("rice", 3, "袋"),
                                                                       ("eggs", 1.5, "斤")]
    ev = o.events[-1]
    assert ev.actor == "operator:alice" and ev.from_status == ev.to_status == "needs_review"
    assert "items corrected" in ev.reason and "老人改口" in ev.reason
    # Bad rows are refused with a message and change nothing.
    for rows, message in (([("sku", "nosuch"), ("quantity", "1")], "没有这个商品"),
                          ([("sku", "rice"), ("quantity", "-2")], "数量"),
                          ([("sku", "rice"), ("quantity", "1"), ("unit", "吨")], "不按"),
                          ([("sku", "")], "至少")):
        r = await client.post(f"/console/orders/{oid}/items", data=[("csrf", token), *rows])
        assert r.status == 400 and message in await r.text()
    assert len((await _get(app, oid)).events) == 2


async def test_confirm_a_needs_review_order(client: Any, app: Any) -> None:
    oid = await _order(app, status="needs_review")
    token = await page_csrf(client, f"/console/orders/{oid}")
    r = await client.post(f"/console/orders/{oid}/confirm", data={"csrf": token})
    assert r.status == 200
    o = await _get(app, oid)
    assert o.status in ("confirmed", "assigned", "unassigned")
    ev = next(e for e in o.events if e.to_status == "confirmed")
    assert ev.actor == "operator:alice" and ev.from_status == "needs_review"
    r = await client.post(f"/console/orders/{oid}/confirm", data={"csrf": token})
    assert r.status == 400  # not twice


async def test_reassign_to_a_leader_and_back_to_the_dispatcher(client: Any, app: Any) -> None:
    oid = await _order(app, status="confirmed")
    async with app[SERVICES].db.session() as s:
        leaders = await db.people.list_leaders(s)
        o = await db.orders.get(s, oid)
        await change_status(s, o, "assigned", actor="dispatcher")
        o.leader_id = leaders[0].id
        s.add(Task(order_id=oid, leader_id=leaders[0].id, status="offered"))
        await change_status(s, o, "accepted", actor="leader:1")
    token = await page_csrf(client, f"/console/orders/{oid}")
    r = await client.post(f"/console/orders/{oid}/reassign",
                          data={"csrf": token, "leader": str(leaders[1].id), "reason": "病了"})
    assert r.status == 200 and "已改派" in await r.text()
    o = await _get(app, oid)
    assert o.status == "assigned" and o.leader_id == leaders[1].id
    ev = o.events[-1]
    assert ev.actor == "operator:alice" and leaders[1].name in ev.reason and "病了" in ev.reason
    async with app[SERVICES].db.session() as s:

        tasks = await db.tasks.tasks_of_order(s, oid)
    assert tasks[0].status == "withdrawn" and tasks[0].closed_at is not None
    assert [t.leader_id for t in tasks if t.status == "offered"] == [leaders[1].id]
    r = await client.post(f"/console/orders/{oid}/reassign", data={"csrf": token, "leader": ""})
    assert r.status == 200
    o = await _get(app, oid)
    assert any(e.to_status == "confirmed" and e.actor == "operator:alice" for e in o.events)
    assert o.status in ("confirmed", "assigned", "unassigned")
    r = await client.post(f"/console/orders/{oid}/reassign", data={"csrf": token, "leader": "9999"})
    assert r.status == 400


async def test_cancel_needs_a_reason_and_is_final(client: Any, app: Any) -> None:
    oid = await _order(app)
    token = await page_csrf(client, f"/console/orders/{oid}")
    r = await client.post(f"/console/orders/{oid}/cancel", data={"csrf": token, "reason": ""})
    assert r.status == 400 and "原因" in await r.text()
    r = await client.post(f"/console/orders/{oid}/cancel",
                          data={"csrf": token, "reason": "重复下单"})
    assert r.status == 200
    o = await _get(app, oid)
    assert o.status == "cancelled" and o.events[-1].actor == "operator:alice"
    assert o.events[-1].reason == "重复下单"
    html = await (await client.get(f"/console/orders/{oid}")).text()
    assert "已经结束" in html and f"/console/orders/{oid}/cancel" not in html
    r = await client.post(f"/console/orders/{oid}/cancel", data={"csrf": token, "reason": "x"})
    assert r.status == 400
    r = await client.post(f"/console/orders/{oid}/items",
                          data={"csrf": token, "sku": "rice", "quantity": "1"})
    assert r.status == 400


async def test_reassign_without_a_dispatcher_keeps_tasks_itself(
        demo_database: Any, console_settings: Any, make_client: Any, make_app: Any) -> None:
    from gateway.app import PARTS
    from tests.console.conftest import add_operator, login

    await add_operator(demo_database)
    app = make_app(console_settings, parts=tuple(m for m in PARTS if m != "dispatch"))
    c = await make_client(app)
    await login(c)
    oid = await _order(app, status="confirmed")
    async with app[SERVICES].db.session() as s:
        leaders = await db.people.list_leaders(s)
    token = await page_csrf(c, f"/console/orders/{oid}")
    for ld in leaders[:2]:
        r = await c.post(f"/console/orders/{oid}/reassign",
                         data={"csrf": token, "leader": str(ld.id)})
        assert r.status == 200
    async with app[SERVICES].db.session() as s:
        tasks = await db.tasks.tasks_of_order(s, oid)
    assert [(t.leader_id, t.status) for t in tasks] == [(leaders[0].id, "withdrawn"),
                                                         (leaders[1].id, "offered")]
    r = await c.post(f"/console/orders/{oid}/cancel", data={"csrf": token, "reason": "不要了"})
    async with app[SERVICES].db.session() as s:
        tasks = await db.tasks.tasks_of_order(s, oid)
    assert all(t.status == "withdrawn" for t in tasks)


async def test_correct_and_confirm_in_one_go(client: Any, app: Any) -> None:
    async with app[SERVICES].db.session() as s:
        o = await db.orders.create(s, channel="voice", phone="+8613800000001",
                                   status="needs_review", actor="resident:voice",
                                   transcript="嗯 大米")
        oid = o.id
    html = await (await client.get(f"/console/orders/{oid}")).text()
    assert 'name="and_confirm"' in html
    token = await page_csrf(client, f"/console/orders/{oid}")
    r = await client.post(f"/console/orders/{oid}/items", data={
        "csrf": token, "sku": "rice", "quantity": "1", "and_confirm": "1"})
    assert r.status == 200 and "订单已确认" in await r.text()
    o = await _get(app, oid)
    assert [e.to_status for e in o.events][:3] == ["needs_review", "needs_review", "confirmed"]
    assert {e.actor for e in o.events[1:3]} == {"operator:alice"}


async def test_list_pages(client: Any, app: Any) -> None:
    for _ in range(102):
        await _order(app)
    html = await (await client.get("/console/orders")).text()
    assert "第 1 / 2 页" in html and "page=2" in html
    html = await (await client.get("/console/orders?page=2")).text()
    assert html.count('<tr class="status-') == 2
