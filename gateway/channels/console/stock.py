"""Console pages of stock and supply: what is out of stock (mark out per village or everywhere,
mark back in), the outlets and their staff links, the county view of shortage reports per outlet
and day (chart and CSV), and supported households (grant, revoke, the monthly tally and CSV)."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web

import db.catalog
import db.console
import db.people
import db.stock
from gateway.channels.console.charts import bar_chart
from gateway.channels.console.forms import day_bounds, optional_int, parse_day, period, text
from gateway.channels.console.auth import current
from gateway.channels.console.render import csv_response, render, t_for, today_of, tz_of
from gateway.orders import csvsafe
from gateway.services import services_of

MAX_DAYS = 92


# --- stock: out per village or everywhere, back in ---------------------------------------------

async def stock_page(request: web.Request, *, error: str = "", status: int = 200
                     ) -> web.Response:
    from gateway.orders.people import invite_link

    services = services_of(request)
    async with services.db.session() as s:
        products = list(await db.catalog.list_products(s, active_only=True))
        villages = await db.console.villages(s)
        marks = [c for c in await db.stock.latest_changes(s) if c.kind == "out"]
        history = list(await db.stock.history(s, limit=50))
        staff = await db.stock.staff_counts(s)
        outlets = [(o, staff.get(o.id, 0),
                    invite_link(services.settings.telegram_bot_username, o.invite_code))
                   for o in await db.stock.outlets(s)]
    names = {p.sku: p.name for p in products}
    return render(request, "stock.html", status=status, products=products, villages=villages,
                  marks=marks, history=history, names=names, outlets=outlets, error=error,
                  done=request.query.get("done", ""))


async def _mark(request: web.Request, kind: str) -> web.Response:
    from gateway.orders.stock import StockError, mark_in, mark_out

    form = await request.post()
    sku, village = text(form, "sku", 64), text(form, "village", 100)
    services = services_of(request)
    t = t_for(request)
    try:
        async with services.db.session() as s:
            if kind == "out":
                await mark_out(s, sku, village=village, actor=current(request).actor,
                               reason=text(form, "reason"))
            else:
                await mark_in(s, sku, village=village, actor=current(request).actor,
                              listeners=services.listeners, templates=services.templates)
    except StockError:
        return await stock_page(request, error=t("stock.bad_product"), status=400)
    services.stock.invalidate()
    services.wake_dispatcher()  # released back-orders and follow-up orders go out now
    services.outbox.wake()
    raise web.HTTPSeeOther(f"/console/stock?done={kind}")


async def mark_out(request: web.Request) -> web.Response:
    return await _mark(request, "out")


async def mark_in(request: web.Request) -> web.Response:
    return await _mark(request, "in")


async def add_outlet(request: web.Request) -> web.Response:
    form = await request.post()
    name, village = text(form, "name", 100), text(form, "village", 100)
    if not name or not village:
        return await stock_page(request, error=t_for(request)("stock.outlet_needs"), status=400)
    async with services_of(request).db.session() as s:
        await db.stock.add_outlet(s, name=name, village=village, lat=None, lon=None)
    raise web.HTTPSeeOther("/console/stock?done=outlet")


# --- shortages per outlet and day ----------------------------------------------------------

async def _shortages(request: web.Request) -> dict[str, Any]:
    tz = tz_of(request)
    start, days = period(request.query, today_of(request), max_days=MAX_DAYS)
    since, until = day_bounds(start, tz, days)
    async with services_of(request).db.session() as s:
        rows = await db.stock.reports_between(s, since, until)
        products = list(await db.catalog.list_products(s))
        outlets = await db.stock.outlets(s)
    names = {p.sku: p.name for p in products}
    # (day, outlet) -> kind -> product names, in report order; product -> outlet -> days short
    table: dict[tuple[str, str, str], dict[str, list[str]]] = defaultdict(
        lambda: {"short": [], "restock": []})
    short_days: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for r, o in rows:
        day = r.at.astimezone(tz).date().isoformat()
        name = names.get(r.sku, r.sku)
        cell = table[(day, o.name, o.village)][r.kind]
        if name not in cell:
            cell.append(name)
        if r.kind == "short":
            short_days[(r.sku, name)].add((day, o.name))
    unit = t_for(request)("shortages.days_unit")
    totals: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for (sku, name), seen in short_days.items():
        per: dict[str, Decimal] = defaultdict(Decimal)
        for _, outlet in seen:
            per[outlet] += 1
        totals[(sku, name, unit)] = dict(per)
    return {"start": start.isoformat(), "days": days, "rows": rows, "names": names, "tz": tz,
            "table": sorted(table.items(), reverse=True), "chart": bar_chart(totals),
            "products": [p for p in products if p.active], "outlets": outlets}


async def shortages_page(request: web.Request, *, error: str = "", status: int = 200
                         ) -> web.Response:
    data = await _shortages(request)
    return render(request, "shortages.html", status=status, start=data["start"],
                  days=data["days"], table=data["table"], chart=data["chart"],
                  outlets=data["outlets"], products=data["products"], error=error,
                  done=request.query.get("done", ""))


async def add_shortage(request: web.Request) -> web.Response:
    """A report taken for an outlet by an operator (staff who phoned it in, say)."""
    from db.models import SHORTAGE_KINDS, Outlet

    form = await request.post()
    outlet_id, sku, kind = optional_int(text(form, "outlet")), text(form, "sku", 64), \
        text(form, "kind", 8)
    async with services_of(request).db.session() as s:
        outlet = await s.get(Outlet, outlet_id) if outlet_id is not None else None
        product = await db.catalog.get_by_sku(s, sku)
        if outlet is None or product is None or kind not in SHORTAGE_KINDS:
            bad = True
        else:
            bad = False
            await db.stock.add_report(s, outlet_id=outlet.id, sku=sku, kind=kind,
                                      actor=current(request).actor)
    if bad:
        return await shortages_page(request, error=t_for(request)("shortages.bad_report"),
                                    status=400)
    raise web.HTTPSeeOther("/console/shortages?done=report")


async def shortages_csv(request: web.Request) -> web.Response:
    data = await _shortages(request)
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["day", "time", "outlet", "village", "sku", "name", "kind"])
    for r, o in data["rows"]:
        at = r.at.astimezone(data["tz"])
        w.writerow([at.date().isoformat(), at.strftime("%H:%M"), o.name, o.village, r.sku,
                    data["names"].get(r.sku, r.sku), r.kind])
    return csv_response(out.getvalue(), f"shortages-{data['start']}-{data['days']}d.csv")


# --- supported households ------------------------------------------------------------------

def _month(request: web.Request) -> date:
    from gateway.orders.support import SupportError, parse_month

    try:
        return parse_month(request.query["month"])
    except (KeyError, SupportError):
        return today_of(request).replace(day=1)


async def support_page(request: web.Request, *, error: str = "", status: int = 200
                       ) -> web.Response:
    from gateway.orders.support import tally

    month = _month(request)
    async with services_of(request).db.session() as s:
        grants = await db.stock.current_grants(s, today_of(request))
        residents = await db.people.list_residents(s)
        result = await tally(s, month, tz_of(request))
    return render(request, "support.html", status=status, grants=grants, residents=residents,
                  tally=result, month=result.month, error=error,
                  done=request.query.get("done", ""))


async def support_csv(request: web.Request) -> web.Response:
    from gateway.orders.support import tally, tally_csv

    async with services_of(request).db.session() as s:
        result = await tally(s, _month(request), tz_of(request))
    return csv_response(tally_csv(result), f"supported-{result.month}.csv")


async def grant_support(request: web.Request) -> web.Response:
    from gateway.orders.support import SupportError, grant

    form = await request.post()
    t = t_for(request)
    until_text = text(form, "until", 20)
    until = parse_day(until_text)
    if until_text and until is None:
        return await support_page(request, error=t("support.bad_until"), status=400)
    try:
        async with services_of(request).db.session() as s:
            await grant(s, text(form, "phone", 32), approved_by=text(form, "approved_by", 100),
                        until=until, category=text(form, "category", 32),
                        reason=text(form, "reason"), actor=current(request).actor,
                        today=today_of(request))
    except SupportError as exc:
        return await support_page(request, error=t(f"support.error.{exc.code}"), status=400)
    raise web.HTTPSeeOther("/console/support?done=grant")


async def revoke_support(request: web.Request) -> web.Response:
    from gateway.orders.support import SupportError, revoke

    form = await request.post()
    try:
        async with services_of(request).db.session() as s:
            await revoke(s, text(form, "phone", 32), actor=current(request).actor,
                         reason=text(form, "reason"))
    except SupportError as exc:
        return await support_page(request, error=t_for(request)(f"support.error.{exc.code}"),
                                  status=400)
    raise web.HTTPSeeOther("/console/support?done=revoke")


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/stock", stock_page)
    r.add_post("/console/stock/out", mark_out)
    r.add_post("/console/stock/in", mark_in)
    r.add_post("/console/outlets", add_outlet)
    r.add_get("/console/shortages", shortages_page)
    r.add_get("/console/shortages.csv", shortages_csv)
    r.add_post("/console/shortages", add_shortage)
    r.add_get("/console/support", support_page)
    r.add_get("/console/support.csv", support_csv)
    r.add_post("/console/support/grant", grant_support)
    r.add_post("/console/support/revoke", revoke_support)
