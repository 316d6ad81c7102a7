"""Console pages of village runs and pickup points (gateway.orders.fulfilment).

`/console/runs`: runs ahead and recent, scheduling one, and the villages waiting for a run (the
call for a run: households waiting where no run is ahead, marked once past the co-operative's
threshold). `/console/runs/{id}`: the run's picking list (printable, CSV), per stop the
households and their bags with delivered / not home, moving and cancelling the run.
`/console/pickup`: pickup points (add or edit, villages they serve) and per point and day the
slot lists with pickup numbers and collected.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from aiohttp import web

import db.orders
import db.people
import db.runs
from db.models import Outlet, utcnow
from gateway.channels.console.auth import current
from gateway.channels.console.forms import optional_int, parse_day, text
from gateway.channels.console.render import csv_response, render, t_for, today_of, tz_of
from gateway.orders import csvsafe, fulfilment_forms, sheets
from gateway.orders.fulfilment import Fulfilment, FulfilmentError, RunRequest
from gateway.services import services_of

RECENT_DAYS = 7


def _error(request: web.Request, exc: FulfilmentError) -> str:
    t = t_for(request)
    key = f"runs.error.{exc.code}"
    said = t(key)
    return said if said != key else t("runs.error.other")


def _changed(request: web.Request) -> None:
    services = services_of(request)
    services.runs_active.invalidate()
    services.wake_dispatcher()
    services.outbox.wake()


# --- runs -------------------------------------------------------------------------------------


async def runs_page(request: web.Request, *, error: str = "", status: int = 200,
                    form: Any = None) -> web.Response:
    services = services_of(request)
    now = utcnow()
    async with services.db.session() as s:
        rows = list(await db.runs.runs_between(s, since=now - timedelta(days=RECENT_DAYS)))
        counts = await db.runs.run_order_counts(s, [r.id for r in rows])
        waiting = await Fulfilment.of(services).waiting_villages(s, now)
        leaders = list(await db.people.list_leaders(s))
    ahead = [r for r in rows if r.status == "scheduled" and r.departs_at > now]
    past = [r for r in rows if r not in ahead]
    return render(request, "runs.html", status=status, ahead=ahead, past=list(reversed(past)),
                  counts=counts, waiting=waiting, leaders=leaders, error=error,
                  form=form or {"villages": request.query.get("village", "")},
                  done=request.query.get("done", ""),
                  threshold=services.settings.run_call_households)


async def add_run(request: web.Request) -> web.Response:
    form = await request.post()
    services = services_of(request)
    tz = tz_of(request)
    villages = [v.strip() for v in text(form, "villages", 500).replace("，", ",").split(",")
                if v.strip()]
    try:
        departs = fulfilment_forms.parse_local(text(form, "at", 20), tz)
        cutoff = fulfilment_forms.parse_local(text(form, "cutoff", 20), tz)
        stops = [fulfilment_forms.parse_stop(line, departs, tz)
                 for line in text(form, "stops", 4000).splitlines() if line.strip()]
        async with services.db.session() as s:
            run, joined = await Fulfilment.of(services).create_run(s, RunRequest(
                villages=villages, departs_at=departs, cutoff_at=cutoff,
                leader_id=optional_int(text(form, "leader", 12)), stops=stops,
                vehicle=text(form, "vehicle", 100)), actor=current(request).actor)
            run_id = run.id
    except FulfilmentError as exc:
        return await runs_page(request, error=_error(request, exc), status=400, form=form)
    _changed(request)
    raise web.HTTPSeeOther(f"/console/runs/{run_id}?done=added&joined={joined}")


async def _run(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None


async def run_page(request: web.Request, *, error: str = "", status: int = 200
                   ) -> web.Response:
    services = services_of(request)
    run_id = await _run(request)
    tz = tz_of(request)
    async with services.db.session() as s:
        run = await db.runs.get(s, run_id)
        if run is None:
            raise web.HTTPNotFound()
        sheet = await sheets.run_sheet(s, run, tz)
    return render(request, "run.html", status=status, run=run, sheet=sheet, error=error,
                  done=request.query.get("done", ""), joined=request.query.get("joined", ""),
                  departs=run.departs_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                  cutoff=run.cutoff_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"))


async def run_csv(request: web.Request) -> web.Response:
    services = services_of(request)
    run_id = await _run(request)
    async with services.db.session() as s:
        run = await db.runs.get(s, run_id)
        if run is None:
            raise web.HTTPNotFound()
        sheet = await sheets.run_sheet(s, run, tz_of(request))
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["sku", "name", "unit", "quantity", "households"])
    for ln in sheet.lines:
        w.writerow([ln.sku, ln.name, ln.unit, f"{ln.quantity.normalize():f}", ln.households])
    return csv_response(out.getvalue(), f"run-{run_id}-picking.csv")


async def move_run(request: web.Request) -> web.Response:
    form = await request.post()
    services = services_of(request)
    run_id = await _run(request)
    tz = tz_of(request)
    try:
        departs = fulfilment_forms.parse_local(text(form, "at", 20), tz)
        cut = text(form, "cutoff", 20)
        cutoff = fulfilment_forms.parse_local(cut, tz) if cut else None
        async with services.db.session() as s:
            await Fulfilment.of(services).move_run(s, run_id, departs, cutoff,
                                                   actor=current(request).actor)
    except FulfilmentError as exc:
        return await run_page(request, error=_error(request, exc), status=400)
    _changed(request)
    raise web.HTTPSeeOther(f"/console/runs/{run_id}?done=moved")


async def cancel_run(request: web.Request) -> web.Response:
    services = services_of(request)
    run_id = await _run(request)
    try:
        async with services.db.session() as s:
            await Fulfilment.of(services).cancel_run(s, run_id, actor=current(request).actor)
    except FulfilmentError as exc:
        return await run_page(request, error=_error(request, exc), status=400)
    _changed(request)
    raise web.HTTPSeeOther(f"/console/runs/{run_id}?done=cancelled")


async def at_stop(request: web.Request) -> web.Response:
    """An operator records what happened at a stop (the leader phoned it in)."""
    form = await request.post()
    services = services_of(request)
    run_id = await _run(request)
    order_id = optional_int(text(form, "order", 12)) or 0
    f = Fulfilment.of(services)
    actor = current(request).actor
    async with services.db.session() as s:
        run = await db.runs.get(s, run_id)
        if run is None:
            raise web.HTTPNotFound()
        order = await db.orders.get(s, order_id)
        if order is None or order.run_id != run_id:
            outcome = "not_yours"
        elif text(form, "what", 12) == "delivered":
            outcome = await f.delivered_at_stop(s, order_id, leader_id=None,
                                                actor=actor)
        else:
            outcome = await f.not_home(s, order_id, leader_id=None, actor=actor,
                                       why=text(form, "why", 200))
    _changed(request)
    raise web.HTTPSeeOther(f"/console/runs/{run_id}?done=stop_{outcome}")


# --- pickup points ----------------------------------------------------------------------------


POINT_FORM = {"name": "", "village": "", "place": "", "lat": "", "lon": "",
              "hours": "08:00-18:00", "slot_minutes": "30", "capacity": "10", "prefix": "A",
              "serves": ""}


def _point_form(point: Outlet | None) -> dict[str, Any]:
    """The add-or-edit form's values: a point's own (`?edit=ID`), else the defaults."""
    if point is None or not point.pickup:
        return dict(POINT_FORM)
    return {"id": point.id, "name": point.name, "village": point.village, "place": point.place,
            "lat": "" if point.lat is None else point.lat,
            "lon": "" if point.lon is None else point.lon,
            "hours": f"{point.opens}-{point.closes}", "slot_minutes": point.slot_minutes,
            "capacity": point.slot_capacity, "prefix": point.prefix, "serves": ""}


async def pickup_page(request: web.Request, *, error: str = "", status: int = 200,
                      form: Any = None) -> web.Response:
    from gateway.orders.people import invite_link

    services = services_of(request)
    tz = tz_of(request)
    day = parse_day(request.query.get("day")) or today_of(request)
    async with services.db.session() as s:
        points = list(await db.runs.pickup_points(s))
        villages = await db.runs.pickup_villages(s)
        lists = [(p, await sheets.slot_lists(s, p, day, tz)) for p in points]
        edit_id = optional_int(request.query.get("edit"))
        edit = _point_form(await s.get(Outlet, edit_id) if edit_id else None)
    if form is not None:  # a form that did not save comes back as it was typed
        edit = {k: text(form, k, 300) for k in POINT_FORM}
    links = {p.id: invite_link(services.settings.telegram_bot_username, p.invite_code)
             for p in points}
    return render(request, "pickup.html", status=status, lists=lists, villages=villages,
                  links=links, day=day, error=error, done=request.query.get("done", ""),
                  edit=edit)


async def save_point(request: web.Request) -> web.Response:
    form = await request.post()
    services = services_of(request)
    try:
        lat = float(text(form, "lat", 20)) if text(form, "lat", 20) else None
        lon = float(text(form, "lon", 20)) if text(form, "lon", 20) else None
        minutes = int(text(form, "slot_minutes", 6) or 30)
        capacity = int(text(form, "capacity", 6) or 10)
        if (lat is None) != (lon is None) or (lat is not None and not -90 <= lat <= 90) \
                or (lon is not None and not -180 <= lon <= 180):
            raise ValueError("not on the map")
    except ValueError:
        return await pickup_page(request, error=t_for(request)("runs.error.bad_point"),
                                 status=400, form=form)
    try:
        async with services.db.session() as s:
            point, _ = await fulfilment_forms.save_pickup_point(
                s, name=text(form, "name", 100), village=text(form, "village", 100),
                place=text(form, "place", 300), lat=lat, lon=lon,
                hours=text(form, "hours", 20) or "08:00-18:00", slot_minutes=minutes,
                capacity=capacity, prefix=text(form, "prefix", 4) or "A")
            for v in text(form, "serves", 500).replace("，", ",").split(","):
                if v.strip():
                    await db.runs.set_pickup_village(s, v.strip(), point.id)
    except FulfilmentError as exc:
        return await pickup_page(request, error=_error(request, exc), status=400, form=form)
    _changed(request)
    raise web.HTTPSeeOther("/console/pickup?done=saved")


async def serve(request: web.Request) -> web.Response:
    """A whole village collects at this point (its residents' own points still come first)."""
    form = await request.post()
    village = text(form, "village", 100)
    point_id = optional_int(text(form, "point", 12))
    async with services_of(request).db.session() as s:
        point = await s.get(Outlet, point_id) if point_id else None
        ok = point is not None and point.pickup and bool(village)
        if ok:
            await db.runs.set_pickup_village(s, village, point_id)
    if not ok:
        return await pickup_page(request, error=t_for(request)("runs.error.bad_point"),
                                 status=400)
    _changed(request)
    raise web.HTTPSeeOther(f"/console/pickup?done=served#point-{point_id}")


async def unserve(request: web.Request) -> web.Response:
    form = await request.post()
    async with services_of(request).db.session() as s:
        await db.runs.set_pickup_village(s, text(form, "village", 100), None)
    _changed(request)
    raise web.HTTPSeeOther("/console/pickup?done=unserved")


async def collected(request: web.Request) -> web.Response:
    form = await request.post()
    services = services_of(request)
    order_id = optional_int(text(form, "order", 12)) or 0
    async with services.db.session() as s:
        outcome = await Fulfilment.of(services).collected(s, order_id,
                                                          actor=current(request).actor)
        order = await db.orders.get(s, order_id)
        point = await s.get(Outlet, order.pickup_outlet_id) \
            if order is not None and order.pickup_outlet_id else None
        day = order.slot_start.astimezone(tz_of(request)).date().isoformat() \
            if order is not None and order.slot_start else ""
    _changed(request)
    raise web.HTTPSeeOther(f"/console/pickup?day={day}&done=collected_{outcome}"
                           + (f"#point-{point.id}" if point else ""))


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/runs", runs_page)
    r.add_post("/console/runs", add_run)
    r.add_get("/console/runs/{id}", run_page)
    r.add_get("/console/runs/{id}/picking.csv", run_csv)
    r.add_post("/console/runs/{id}/move", move_run)
    r.add_post("/console/runs/{id}/cancel", cancel_run)
    r.add_post("/console/runs/{id}/stop", at_stop)
    r.add_get("/console/pickup", pickup_page)
    r.add_post("/console/pickup", save_point)
    r.add_post("/console/pickup/serve", serve)
    r.add_post("/console/pickup/unserve", unserve)
    r.add_post("/console/pickup/collected", collected)
