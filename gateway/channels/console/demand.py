"""Demand per village and day (SVG bar chart and CSV for purchasing) and the map of people."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web

import db.console
import db.people
import db.tasks
from gateway.channels.console.charts import bar_chart, map_view
from gateway.orders import csvsafe
from gateway.channels.console.forms import day_bounds, period
from gateway.channels.console.render import csv_response, qty, render, today_of, tz_of
from gateway.services import services_of

MAX_DAYS = 92
Totals = dict[tuple[str, str, str], dict[str, Decimal]]  # (sku, name, unit) -> group -> quantity


def _period(request: web.Request) -> tuple[date, int, str]:
    start, days = period(request.query, today_of(request), max_days=MAX_DAYS)
    return start, days, request.query.get("village", "").strip()


async def _aggregate(request: web.Request) -> tuple[Any, ...]:
    start, days, village = _period(request)
    tz = tz_of(request)
    since, until = day_bounds(start, tz, days)
    async with services_of(request).db.session() as s:
        rows = await db.console.demand_rows(s, since=since, until=until, village=village or None)
        villages = await db.console.villages(s)
    # (day, village, sku, name, unit) -> quantity; (sku, name, unit) -> village or day -> quantity
    table: dict[tuple[str, str, str, str, str], Decimal] = defaultdict(Decimal)
    by_village: Totals = defaultdict(lambda: defaultdict(Decimal))
    by_day: Totals = defaultdict(lambda: defaultdict(Decimal))
    for r in rows:
        day = r.created_at.astimezone(tz).date().isoformat()
        table[(day, r.village, r.sku, r.name, r.unit)] += r.quantity
        by_village[(r.sku, r.name, r.unit)][r.village] += r.quantity
        by_day[(r.sku, r.name, r.unit)][day] += r.quantity
    lines = sorted(table.items())
    return start, days, village, villages, lines, by_village, by_day


async def demand_page(request: web.Request) -> web.Response:
    start, days, village, villages, lines, by_village, by_day = await _aggregate(request)
    return render(request, "demand.html", start=start.isoformat(), days=days, village=village,
                  villages=villages, lines=lines, chart=bar_chart(by_village),
                  chart_days=bar_chart(by_day))


async def demand_csv(request: web.Request) -> web.Response:
    start, days, _, _, lines, _, _ = await _aggregate(request)
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["day", "village", "sku", "name", "unit", "quantity"])
    for (day, vil, sku, name, unit), q in lines:
        w.writerow([day, vil, sku, name, unit, qty(q)])
    return csv_response(out.getvalue(), f"demand-{start.isoformat()}-{days}d.csv")


async def map_page(request: web.Request) -> web.Response:
    async with services_of(request).db.session() as s:
        residents = await db.people.list_residents(s)
        leaders = await db.people.list_leaders(s)
        load = await db.tasks.open_task_counts(s)
    view = map_view(
        [(r.lat, r.lon, r.name, r.village, r.phone) for r in residents
         if r.lat is not None and r.lon is not None],
        [(ld.lat, ld.lon, ld.radius_km, ld.name,
          f"{ld.radius_km:g} km · {load.get(ld.id, 0)}/{ld.capacity}"
          + ("" if ld.on_duty else " · off"), ld.on_duty) for ld in leaders])
    missing = sum(1 for r in residents if r.lat is None or r.lon is None)
    return render(request, "map.html", view=view, missing=missing)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/demand", demand_page)
    r.add_get("/console/demand.csv", demand_csv)
    r.add_get("/console/map", map_page)
