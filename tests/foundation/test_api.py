"""The JSON API on the real app: bearer token, filters, paging, the design's shape; /healthz."""

from __future__ import annotations

from typing import Any

import pytest

import db.orders
import db.people
from gateway.app import create_app
from gateway.services import SERVICES
from gateway.orders.events import change_status
from tests.conftest import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


async def _seed(database) -> list[int]:  # noqa: ANN001
    ids = []
    async with database.session() as s:
        r, _ = await db.people.upsert_resident(s, "+8613800000001", name="王奶奶", village="鲁家村")
        ld, _ = await db.people.upsert_leader(s, "+8613900000001", name="吴团长", lat=30.6, lon=119.7)
        for i in range(5):
            o = await db.orders.create(
                s, channel="sms", phone=r.phone if i % 2 == 0 else "+8613800000002",
                status="draft", actor="resident", resident_id=r.id if i % 2 == 0 else None,
                items=[{"sku": "rice", "name": "大米", "quantity": 2 + i, "unit": "袋"},
                       {"sku": "pork", "name": "猪肉", "quantity": "1.5", "unit": "斤"}])
            ids.append(o.id)
        o = await db.orders.get(s, ids[0])
        assert o is not None
        await change_status(s, o, "confirmed", actor="resident")
        await change_status(s, o, "assigned", actor="dispatcher")
        o.leader_id = ld.id
        await change_status(s, o, "accepted", actor="leader:吴团长")
    return ids


@pytest.fixture
async def client(database, settings, make_client) -> Any:  # noqa: ANN001
    app = create_app(settings, workers=False)
    yield await make_client(app)
    await app[SERVICES].db.dispose()  # workers are off: nobody else closes its connections


async def test_healthz(client) -> None:  # noqa: ANN001
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json())["status"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer "])
async def test_api_requires_the_token(client, header) -> None:  # noqa: ANN001
    for path in ("/api/orders", "/api/orders/1"):
        r = await client.get(path, headers={"Authorization": header} if header else {})
        assert r.status == 401
        assert "token" in (await r.json())["error"]


async def test_api_refuses_everything_without_a_configured_token(
        database, make_settings, make_client) -> None:  # noqa: ANN001
    c = await make_client(create_app(make_settings(api_token=None), workers=False))
    assert (await c.get("/api/orders", headers={"Authorization": "Bearer "})).status == 401
    assert (await c.get("/api/orders", headers={"Authorization": "Bearer None"})).status == 401


async def test_list_shape_order_and_filters(client, database) -> None:  # noqa: ANN001
    ids = await _seed(database)
    body = await (await client.get("/api/orders", headers=AUTH)).json()
    assert [o["id"] for o in body["orders"]] == sorted(ids, reverse=True)
    assert body["total"] == 5
    first = next(o for o in body["orders"] if o["id"] == ids[0])
    assert first["status"] == "accepted" and first["channel"] == "sms"
    assert first["resident"]["name"] == "王奶奶" and first["resident"]["village"] == "鲁家村"
    assert first["leader"]["name"] == "吴团长"
    none = {"backorder": None, "backorder_order": None}
    assert first["items"] == [
        {"sku": "rice", "name": "大米", "quantity": 2, "unit": "袋", **none},
        {"sku": "pork", "name": "猪肉", "quantity": 1.5, "unit": "斤", **none}]
    assert first["supported"] is False
    assert first["transcript"] is None and first["has_recording"] is False
    assert [(e["from"], e["to"]) for e in first["events"]] == [
        (None, "draft"), ("draft", "confirmed"), ("confirmed", "assigned"),
        ("assigned", "accepted")]
    assert first["events"][-1]["by"] == "leader:吴团长"
    other = next(o for o in body["orders"] if o["id"] == ids[1])
    assert other["resident"] is None and other["leader"] is None

    r = await (await client.get("/api/orders?status=accepted", headers=AUTH)).json()
    assert [o["id"] for o in r["orders"]] == [ids[0]]
    r = await (await client.get("/api/orders", params={"phone": "+8613800000002"},
                                headers=AUTH)).json()
    assert sorted(o["id"] for o in r["orders"]) == [ids[1], ids[3]]
    r = await (await client.get("/api/orders?limit=2&offset=1", headers=AUTH)).json()
    assert [o["id"] for o in r["orders"]] == sorted(ids, reverse=True)[1:3]


@pytest.mark.parametrize("query", ["limit=0", "limit=10001", "limit=x", "offset=-1"])
async def test_bad_paging_is_400(client, query) -> None:  # noqa: ANN001
    assert (await client.get(f"/api/orders?{query}", headers=AUTH)).status == 400


async def test_get_one(client, database) -> None:  # noqa: ANN001
    ids = await _seed(database)
    r = await client.get(f"/api/orders/{ids[2]}", headers=AUTH)
    assert r.status == 200 and (await r.json())["items"][0]["quantity"] == 4
    assert (await client.get("/api/orders/99999", headers=AUTH)).status == 404
    assert (await client.get("/api/orders/abc", headers=AUTH)).status == 404
