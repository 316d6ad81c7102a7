"""The JSON API answers every error as JSON, 400 for bad parameters, and documents them."""

from __future__ import annotations

from typing import Any

import pytest

import db.orders
from gateway.app import create_app
from gateway.services import SERVICES
from tests.conftest import API_TOKEN
from tests.foundation.test_api import _seed

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def client(database, settings, make_client) -> Any:  # noqa: ANN001
    app = create_app(settings, workers=False)
    yield await make_client(app)
    await app[SERVICES].db.dispose()  # workers are off: nobody else closes its connections


@pytest.mark.parametrize("path,status", [
    ("/api/orders/abc", 404), ("/api/orders?limit=-5", 400), ("/api/orders?limit=x", 400),
    ("/api/orders?status=bogus", 400), ("/api/orders?channel=fax", 400),
    ("/api/orders?phone=12345", 400), ("/api/orders/999", 404), ("/api/nothing", 404)])
async def test_errors_are_json(client, path: str, status: int) -> None:  # noqa: ANN001
    r = await client.get(path, headers=AUTH)
    assert r.status == status
    assert r.content_type == "application/json"
    body = await r.json()
    assert set(body) == {"error"} and body["error"]


async def test_unencoded_plus_in_phone_matches(client, database) -> None:  # noqa: ANN001
    await _seed(database)
    r = await client.get("/api/orders?phone=+8613800000001", headers=AUTH)
    assert r.status == 200 and (await r.json())["total"] == 3
    r = await client.get("/api/orders?phone=%2B8613800000001&status=draft,accepted", headers=AUTH)
    assert (await r.json())["total"] == 3


async def test_operator_orders_carry_the_entered_text(client, database) -> None:  # noqa: ANN001
    async with database.session() as s:
        o = await db.orders.create(s, channel="console", phone="+8613800000001",
                                   status="confirmed", actor="operator:alice",
                                   items=[{"sku": "rice", "name": "大米", "quantity": 1}],
                                   note="大米一袋")
        oid = o.id
    r = await client.get(f"/api/orders/{oid}", headers=AUTH)
    assert (await r.json())["transcript"] == "大米一袋"


async def test_openapi_documents_the_parameters(client) -> None:  # noqa: ANN001
    r = await client.get("/api/openapi.json")
    assert r.status == 200
    doc = await r.json()
    names = {p["name"] for p in doc["paths"]["/api/orders"]["get"]["parameters"]}
    assert names == {"status", "phone", "channel", "limit", "offset"}
