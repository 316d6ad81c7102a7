"""Phone entry: find the caller by number, type the order in everyday words, parsed as you type."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

import db.catalog
import db.console
import db.people
from gateway.channels.console import actions
from gateway.channels.console.auth import current
from gateway.channels.console.forms import FormError, ItemRow, item_rows, raw_rows, text
from gateway.channels.console.render import render, t_for
from gateway.language.locales import SUPPORTED_LOCALES, normalize_locale
from gateway.orders.people import PeopleError, normalize_phone
from gateway.services import Services, services_of

log = logging.getLogger(__name__)
MAX_TEXT = 500


class ParserMissing(Exception):
    """The order language is not installed yet (gateway.language)."""


async def parse_text(services: Services, s: AsyncSession, locale: str, text_: str) -> dict[str, Any]:
    """The order language's reading of the text: intent, items, unmatched words."""
    try:
        lang = await services.languages.get(s, locale)
    except ImportError as exc:
        raise ParserMissing(str(exc)) from None
    result = lang.parse(text_)
    data: dict[str, Any] = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    for item in data.get("items", []):
        item["quantity"] = float(item["quantity"]) if item.get("quantity") is not None else 1
    return data


async def _resident_json(s: AsyncSession, phone: str, t: Any = str) -> dict[str, Any]:
    r = await db.people.resident_by_phone(s, phone)
    if r is None:
        return {"phone": phone, "found": False}
    recent, _ = await db.console.list_orders(s, db.console.OrderFilter(phone=phone), limit=5)
    return {"phone": phone, "found": True, "id": r.id, "name": r.name, "village": r.village,
            "address": r.address, "locale": r.locale,
            "recent": [{"id": o.id, "status": t(f"status.{o.status}"),
                        "items": ", ".join(f"{i.name}×{i.quantity.normalize():f}{i.unit}"
                                           for i in o.items)} for o in recent]}


async def lookup(request: web.Request) -> web.Response:
    t = t_for(request)
    try:
        phone = normalize_phone(request.query.get("phone", ""))
    except PeopleError:
        return web.json_response({"error": t("error.bad_phone")}, status=400)
    async with services_of(request).db.session() as s:
        return web.json_response(await _resident_json(s, phone, t))


async def parse(request: web.Request) -> web.Response:
    """JSON in ({"text", "locale"}), the parse out; used by the page as the operator types."""
    t = t_for(request)
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "expected JSON"}, status=400)
    text_ = str(body.get("text") or "")[:MAX_TEXT]
    locale = normalize_locale(str(body.get("locale") or ""))
    services = services_of(request)
    async with services.db.session() as s:
        try:
            data = await parse_text(services, s, locale, text_)
        except ParserMissing:
            return web.json_response({"available": False, "notice": t("entry.parser_missing")})
    return web.json_response({"available": True, **data})


async def _page(request: web.Request, *, form: Any = None, rows: list[Any] | None = None,
                error: str = "", notice: str = "", status: int = 200,
                resident: dict[str, Any] | None = None) -> web.Response:
    services = services_of(request)
    async with services.db.session() as s:
        products = await db.catalog.list_products(s, active_only=True)
        phone = text(form, "phone") if form is not None else request.query.get("phone", "")
        return render(request, "entry.html", status=status, products=products, error=error,
                      notice=notice, rows=rows or [], resident=resident,
                      phone=phone, order_text=text(form, "text", MAX_TEXT) if form else "",
                      locale=text(form, "locale") if form else services.settings.default_locale,
                      locales=SUPPORTED_LOCALES)


async def entry_page(request: web.Request) -> web.Response:
    return await _page(request)


async def submit(request: web.Request) -> web.Response:
    """Save the order (or, without JavaScript, the 'read it' button fills the rows)."""
    services = services_of(request)
    form = await request.post()
    t = t_for(request)
    try:
        phone = normalize_phone(text(form, "phone"))
    except PeopleError:
        return await _page(request, form=form, error=t("error.bad_phone"), status=400)
    locale = normalize_locale(text(form, "locale"))
    async with services.db.session() as s:
        resident = await _resident_json(s, phone, t)
        products = await db.catalog.list_products(s, active_only=True)
    if form.get("action") == "parse":
        async with services.db.session() as s:
            try:
                data = await parse_text(services, s, locale, text(form, "text", MAX_TEXT))
            except ParserMissing:
                return await _page(request, form=form, notice=t("entry.parser_missing"),
                                   resident=resident)
        by_sku = {p.sku: p for p in products}
        rows = [ItemRow(sku=i["sku"], name=by_sku[i["sku"]].name if i["sku"] in by_sku
                        else i.get("name", i["sku"]),
                        quantity=i["quantity"], unit=i.get("unit") or "")
                for i in data.get("items", [])]
        notice = t("entry.unmatched", words="、".join(data["unmatched"])) \
            if data.get("unmatched") else ""
        return await _page(request, form=form, rows=rows, notice=notice, resident=resident)
    try:
        rows = item_rows(form, products)
        async with services.db.session() as s:
            order = await actions.create_order(
                s, phone=phone, items=rows, locale=locale,
                resident_id=resident.get("id"), actor=current(request).actor,
                note=text(form, "text", MAX_TEXT), listeners=services.listeners)
            order_id = order.id
    except FormError as exc:
        return await _page(request, form=form, error=t(exc.key, **exc.params), status=400,
                           resident=resident, rows=raw_rows(form))
    services.wake_dispatcher()
    raise web.HTTPSeeOther(f"/console/orders/{order_id}?done=created")


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/entry", entry_page)
    r.add_post("/console/entry", submit)
    r.add_get("/console/entry/lookup", lookup)
    r.add_post("/console/entry/parse", parse)
