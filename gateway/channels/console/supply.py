"""Console pages of the supply side: the purchasing sheet per supplier (print and CSV)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.channels.console.forms import optional_int, parse_day
from gateway.channels.console.render import render, tz_of
from gateway.orders.supply import PurchasingSheet, purchasing_sheet, sheet_csv
from gateway.services import services_of

MAX_DAYS = 31


async def _sheet(request: web.Request) -> PurchasingSheet:
    tz = tz_of(request)
    day = parse_day(request.query.get("date")) or datetime.now(UTC).astimezone(tz).date()
    days = min(max(optional_int(request.query.get("days")) or 1, 1), MAX_DAYS)
    async with services_of(request).db.session() as s:
        return await purchasing_sheet(s, day, tz, days)


async def purchasing_page(request: web.Request) -> web.Response:
    sheet = await _sheet(request)
    return render(request, "purchasing.html", sheet=sheet, start=sheet.start.isoformat(),
                  days=sheet.days)


async def purchasing_csv(request: web.Request) -> web.Response:
    sheet = await _sheet(request)
    filename = f"purchasing-{sheet.start.isoformat()}-{sheet.days}d.csv"
    return web.Response(body=("\ufeff" + sheet_csv(sheet)).encode("utf-8"),
                        content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/purchasing", purchasing_page)
    r.add_get("/console/purchasing.csv", purchasing_csv)
