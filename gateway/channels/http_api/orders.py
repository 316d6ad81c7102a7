"""The JSON API: orders for other tools, behind a bearer token."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from aiohttp import web

import db.orders
from db.models import Order
from gateway.orders.pricing import order_total
from gateway.services import services_of

MAX_LIMIT = 10_000


def _num(q: Decimal) -> int | float:
    return int(q) if q == q.to_integral_value() else float(q)


def _total(order: Order) -> str | None:
    total = order_total(order)
    return None if total is None else str(total)


def order_json(order: Order) -> dict[str, Any]:
    """An order as the design's JSON shape."""
    return {
        "id": order.id,
        "status": order.status,
        "channel": order.channel,
        "phone": order.phone,
        "locale": order.locale,
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "resident": None if order.resident is None else {
            "id": order.resident.id, "name": order.resident.name,
            "village": order.resident.village, "address": order.resident.address},
        "items": [{"sku": i.sku, "name": i.name, "quantity": _num(i.quantity), "unit": i.unit}
                  for i in order.items],
        # From the prices kept at confirmation: a decimal string, or null (not confirmed yet, or
        # a price not set).
        "total": _total(order),
        "transcript": order.transcript,
        "has_recording": any(r.deleted_at is None for r in order.recordings),
        "leader": None if order.leader is None else {"id": order.leader.id,
                                                      "name": order.leader.name},
        "events": [{"at": e.at.isoformat(), "from": e.from_status, "to": e.to_status,
                    "by": e.actor, "reason": e.reason} for e in order.events],
    }


@web.middleware
async def bearer_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        token = services_of(request).settings.api_token
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token or not given or not secrets.compare_digest(given.encode(), token.encode()):
            return web.json_response({"error": "a valid bearer token is required"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="doorstep"'})
    return await handler(request)


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number")
    if not lo <= value <= hi:
        raise web.HTTPBadRequest(text=f"{name} must be between {lo} and {hi}")
    return value


async def list_orders(request: web.Request) -> web.Response:
    services = services_of(request)
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 2**31)
    async with services.db.session() as s:
        rows, total = await db.orders.list_orders(
            s, status=request.query.get("status") or None, phone=request.query.get("phone") or None,
            channel=request.query.get("channel") or None, limit=limit, offset=offset)
        body = {"orders": [order_json(o) for o in rows], "total": total, "limit": limit,
                "offset": offset}
    return web.json_response(body)


async def get_order(request: web.Request) -> web.Response:
    try:
        order_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such order")
    async with services_of(request).db.session() as s:
        order = await db.orders.get(s, order_id)
        if order is None:
            return web.json_response({"error": f"no order {order_id}"}, status=404)
        return web.json_response(order_json(order))


def setup(app: web.Application) -> None:
    app.middlewares.append(bearer_auth)
    app.router.add_get("/api/orders", list_orders)
    app.router.add_get("/api/orders/{id}", get_order)
