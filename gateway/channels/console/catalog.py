"""Console pages for the catalogue: list, edit, deactivate, CSV import and export."""

from __future__ import annotations

from typing import Any

from aiohttp import web

import db.catalog
from gateway.orders.catalog import (CatalogError, from_product, parse_row, read_csv_text,
                                    write_csv)
from gateway.channels.console.forms import text
from gateway.channels.console.render import render, t_for
from gateway.services import services_of

MAX_CSV_BYTES = 1024 * 1024
FIELDS = ("sku", "name", "aliases", "unit", "units", "price", "category")


async def catalog_page(request: web.Request, *, error: str = "", status: int = 200,
                       edit: dict[str, Any] | None = None, notice: str = "") -> web.Response:
    async with services_of(request).db.session() as s:
        products = await db.catalog.list_products(s)
    sku = request.query.get("edit")
    if edit is None and sku:
        p = next((p for p in products if p.sku == sku), None)
        if p is not None:
            edit = {"sku": p.sku, "name": p.name, "aliases": "|".join(p.aliases or []),
                    "unit": p.unit, "units": "|".join(p.units or []),
                    "price": "" if p.price is None else str(p.price), "category": p.category,
                    "active": "1" if p.active else "0"}
    return render(request, "catalog.html", status=status, products=products, error=error,
                  notice=notice, edit=edit or {}, done=request.query.get("done", ""))


async def _import(request: web.Request, items: list[Any]) -> db.catalog.ImportResult:
    services = services_of(request)
    async with services.db.session() as s:
        result = await db.catalog.import_items(s, items)
    services.languages.invalidate()
    services.prices.invalidate()
    return result


async def save_product(request: web.Request) -> web.Response:
    form = await request.post()
    fields = {k: text(form, k) for k in FIELDS}
    fields["active"] = "1" if text(form, "active") == "1" else "0"
    try:
        item = parse_row(fields, 0)
    except CatalogError as exc:
        detail = str(exc).removeprefix("line 0: ")
        return await catalog_page(request, error=t_for(request)("error.catalog", detail=detail),
                                  status=400, edit=fields)
    await _import(request, [item])
    raise web.HTTPSeeOther("/console/catalog?done=saved")


async def set_active(request: web.Request) -> web.Response:
    form = await request.post()
    services = services_of(request)
    async with services.db.session() as s:
        p = await db.catalog.get_by_sku(s, request.match_info["sku"])
        if p is None:
            raise web.HTTPNotFound(text="no such product")
        item = from_product(p)
    from dataclasses import replace

    await _import(request, [replace(item, active=text(form, "active") == "1")])
    raise web.HTTPSeeOther("/console/catalog?done=active")


async def import_csv(request: web.Request) -> web.Response:
    form = await request.post()
    upload = form.get("file")
    t = t_for(request)
    if not isinstance(upload, web.FileField):
        return await catalog_page(request, error=t("catalog.no_file"), status=400)
    raw = upload.file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        return await catalog_page(request, error=t("catalog.too_big"), status=400)
    try:
        items = read_csv_text(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return await catalog_page(request, error=t("catalog.not_utf8"), status=400)
    except CatalogError as exc:
        return await catalog_page(request, error=t("error.catalog", detail=str(exc)), status=400)
    result = await _import(request, items)
    return await catalog_page(request, notice=t("catalog.imported", created=result.created,
                                                updated=result.updated,
                                                unchanged=result.unchanged))


async def export_csv(request: web.Request) -> web.Response:
    async with services_of(request).db.session() as s:
        items = [from_product(p) for p in await db.catalog.list_products(s)]
    return web.Response(body=("\ufeff" + write_csv(items)).encode("utf-8"),
                        content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="catalog.csv"'})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/catalog", catalog_page)
    r.add_post("/console/catalog", save_product)
    r.add_post("/console/catalog/import", import_csv)
    r.add_get("/console/catalog.csv", export_csv)
    r.add_post("/console/catalog/{sku}/active", set_active)
