"""Console pages of the supply side: the purchasing sheet per supplier (print and CSV)."""

from __future__ import annotations

from aiohttp import web

from gateway.channels.console.forms import optional_int, parse_day
from gateway.channels.console.render import csv_response, render, today_of, tz_of
from gateway.orders.supply import PurchasingSheet, purchasing_sheet, sheet_csv
from gateway.services import services_of

MAX_DAYS = 31


async def _sheet(request: web.Request) -> PurchasingSheet:
    tz = tz_of(request)
    day = parse_day(request.query.get("date")) or today_of(request)
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
    return csv_response(sheet_csv(sheet), filename)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/purchasing", purchasing_page)
    r.add_get("/console/purchasing.csv", purchasing_csv)
    setup_ledger_routes(app)


# --- the leaders' cash ledger ------------------------------------------------------------------

async def ledger_page(request: web.Request, *, error: str = "", status: int = 200
                      ) -> web.Response:
    import db.ledger
    import db.people

    leader_id = optional_int(request.query.get("leader"))
    async with services_of(request).db.session() as s:
        balances = await db.ledger.balances(s)
        leaders = await db.people.list_leaders(s)
        entries = list(await db.ledger.entries(s, leader_id)) if leader_id else []
    return render(request, "ledger.html", status=status, balances=balances, leaders=leaders,
                  leader_id=leader_id, entries=entries, error=error,
                  done=request.query.get("done", ""))


async def record_handover(request: web.Request) -> web.Response:
    from gateway.channels.console.auth import current
    from gateway.channels.console.forms import text
    from gateway.channels.console.render import t_for
    from gateway.orders.ledger import LedgerError, parse_amount
    from gateway.orders.ledger import record_handover as handover

    form = await request.post()
    leader_id = optional_int(text(form, "leader"))
    t = t_for(request)
    try:
        amount = parse_amount(text(form, "amount"))
        if leader_id is None:
            raise LedgerError("no_leader", "no leader chosen")
        async with services_of(request).db.session() as s:
            await handover(s, leader_id, amount, note=text(form, "note"),
                           actor=current(request).actor)
    except LedgerError:
        return await ledger_page(request, error=t("ledger.bad_handover"), status=400)
    raise web.HTTPSeeOther(f"/console/ledger?leader={leader_id}&done=handover")


def setup_ledger_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/ledger", ledger_page)
    r.add_post("/console/ledger/handover", record_handover)
