"""The JSON API: orders for other tools, behind a bearer token."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

import db.orders
from db.models import Order
from gateway.orders.fulfilment import fulfilment_json
from gateway.orders.ledger import amount_to_collect
from gateway.orders.lifecycle import Status
from gateway.orders.people import PeopleError, normalize_phone
from gateway.orders.pricing import order_total
from gateway.services import services_of

MAX_LIMIT = 10_000
STATUSES = tuple(str(s.value) for s in Status)
CHANNELS = ("sms", "voice", "console", "telegram")
OPENAPI_FILE = Path(__file__).with_name("openapi.json")


def _num(q: Decimal) -> int | float:
    return int(q) if q == q.to_integral_value() else float(q)


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _total(order: Order) -> str | None:
    return _money(order_total(order))


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
        # backorder: null, "waiting" (out of stock, not bought or charged yet) or "sent" (it came
        # on the follow-up order backorder_order).
        "items": [{"sku": i.sku, "name": i.name, "quantity": _num(i.quantity), "unit": i.unit,
                   "backorder": i.backorder, "backorder_order": i.backorder_order_id}
                  for i in order.items],
        # From the prices kept at confirmation: a decimal string, or null (not confirmed yet, or
        # a price not set).
        "total": _total(order),
        # A supported household's order (gateway.orders.support): nothing to collect.
        "supported": bool(order.supported),
        "amount_to_collect": _money(amount_to_collect(order)),
        # An operator's order has no recognised speech: the text they entered stands for it.
        "transcript": order.transcript if order.transcript is not None
        else (order.note or None) if order.channel == "console" else None,
        "has_recording": any(r.deleted_at is None for r in order.recordings),
        "leader": None if order.leader is None else {"id": order.leader.id,
                                                      "name": order.leader.name},
        # How it reaches the resident (gateway.orders.fulfilment): null until the dispatcher
        # chose; {"kind": "leader", "leader"}, {"kind": "run", "run", "stop", "time"} or
        # {"kind": "pickup", "point", "point_id", "slot", "slot_end", "pickup_number"}.
        "fulfilment": fulfilment_json(order),
        # Ordered by a family member or carer for the resident (gateway.orders.proxies).
        "proxy": None if order.proxy is None else {"name": order.proxy.name,
                                                   "phone": order.proxy.phone,
                                                   "relation": order.proxy.relation},
        "events": [{"at": e.at.isoformat(), "from": e.from_status, "to": e.to_status,
                    "by": e.actor, "reason": e.reason} for e in order.events],
    }


@web.middleware
async def bearer_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/api/") and request.path != "/api/openapi.json":
        token = services_of(request).settings.api_token
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token or not given or not secrets.compare_digest(given.encode(), token.encode()):
            return web.json_response({"error": "a valid bearer token is required"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="doorstep"'})
    return await handler(request)


class BadParameter(Exception):
    pass


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every answer under /api/ is JSON, errors too: {"error": "..."}."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except BadParameter as exc:
        return _bad(str(exc))
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return _bad(exc.reason if exc.status != 404 else "not found", exc.status)


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise BadParameter(f"{name} must be between {lo} and {hi}")
    return value


def _choice_param(request: web.Request, name: str, known: tuple[str, ...]) -> str | None:
    raw = request.query.get(name) or None
    if raw is None:
        return None
    bad = [v for v in raw.split(",") if v not in known]
    if bad:
        raise BadParameter(f"{name} {bad[0]!r} is not one of: {', '.join(known)}")
    return raw


def _phone_param(request: web.Request) -> str | None:
    raw = request.query.get("phone") or None
    if raw is None:
        return None
    # An unencoded "+" arrives as a space: "?phone=+8613..." means "+8613...".
    candidate = "+" + raw[1:] if raw.startswith(" ") and raw[1:2].isdigit() else raw
    try:
        return normalize_phone(candidate)
    except PeopleError:
        raise BadParameter(f"phone {raw!r} is not an international number like "
                           "+8613800000000") from None


async def list_orders(request: web.Request) -> web.Response:
    services = services_of(request)
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 2**31)
    status = _choice_param(request, "status", STATUSES)
    channel = _choice_param(request, "channel", CHANNELS)
    phone = _phone_param(request)
    async with services.db.session() as s:
        rows, total = await db.orders.list_orders(
            s, status=status, phone=phone, channel=channel, limit=limit, offset=offset)
        body = {"orders": [order_json(o) for o in rows], "total": total, "limit": limit,
                "offset": offset}
    return web.json_response(body)


async def get_order(request: web.Request) -> web.Response:
    try:
        order_id = int(request.match_info["id"])
    except ValueError:  # not an order id: no such order (as JSON, like every other error)
        return web.json_response({"error": "no order "
                                  f"{request.match_info['id']!r}: ids are whole numbers"},
                                 status=404)
    if not 0 < order_id < 2**63:
        return web.json_response({"error": f"no order {order_id}"}, status=404)
    async with services_of(request).db.session() as s:
        order = await db.orders.get(s, order_id)
        if order is None:
            return web.json_response({"error": f"no order {order_id}"}, status=404)
        return web.json_response(order_json(order))


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def openapi_document() -> dict[str, Any]:
    return json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


def setup(app: web.Application) -> None:
    app.middlewares.append(json_errors)
    app.middlewares.append(bearer_auth)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/orders", list_orders)
    app.router.add_get("/api/orders/{id}", get_order)
