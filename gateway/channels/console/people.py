"""Console pages for residents and team leaders: lists, add and edit, duty, invite links, load."""

from __future__ import annotations

from typing import Any

from aiohttp import web

import db.people
import db.tasks
from db.models import Leader
from gateway.channels.console.forms import optional_int, text
from gateway.channels.console.render import render, t_for
from gateway.language.locales import SUPPORTED_LOCALES
from gateway.orders.people import PeopleError, invite_link, person
from gateway.orders.people import save_leader as store_leader
from gateway.orders.people import save_resident as store_resident
from gateway.services import services_of


def _person_fields(form: Any, *, leader: bool) -> dict[str, Any]:
    return {k: text(form, k) for k in ("phone", "name", "address", "village", "lat", "lon",
                                       "locale", *(("radius_km", "capacity") if leader else ()))}


async def residents_page(request: web.Request, *, error: str = "", status: int = 200,
                       error_detail: str = "",
                         edit: dict[str, Any] | None = None) -> web.Response:
    q = request.query.get("q", "").strip()
    village = request.query.get("village", "").strip()
    async with services_of(request).db.session() as s:
        residents = await db.people.list_residents(s, village or None)
        leaders = {ld.id: ld.name for ld in await db.people.list_leaders(s)}
        villages = sorted({r.village for r in await db.people.list_residents(s) if r.village})
    if q:
        residents = [r for r in residents if q in r.name or q in r.phone or q in r.village
                     or q in r.address]
    edit_id = optional_int(request.query.get("edit"))
    if edit is None and edit_id is not None:
        found = next((r for r in residents if r.id == edit_id), None)
        if found is not None:
            edit = {k: "" if getattr(found, k) is None else str(getattr(found, k))
                    for k in ("phone", "name", "address", "village", "lat", "lon", "locale")}
            edit["editing"] = "1"
    if edit is None and request.query.get("phone"):
        edit = {"phone": request.query["phone"]}
    return render(request, "residents.html", status=status, residents=residents, q=q,
                  error_detail=error_detail,
                  village=village, villages=villages, leaders=leaders, error=error,
                  edit=edit or {}, locales=SUPPORTED_LOCALES, done=request.query.get("done", ""))


async def save_resident(request: web.Request) -> web.Response:
    form = await request.post()
    fields = _person_fields(form, leader=False)
    t = t_for(request)
    try:
        p = person(**fields)
    except PeopleError as exc:
        return await residents_page(request, error=t("error.person", detail=said(t, exc)),
                                    error_detail=str(exc), status=400, edit=dict(fields, editing=text(form, "editing")))
    async with services_of(request).db.session() as s:
        await store_resident(s, p, registered_by="console", replace_location=True)
    raise web.HTTPSeeOther("/console/residents?done=saved")


def said(t: Any, exc: PeopleError) -> str:
    """A person's validation error in the console's language."""
    code = getattr(exc, "code", "")
    if not code:
        return str(exc)
    params = dict(exc.params)
    if "field" in params:
        key = {"latitude": "lat", "longitude": "lon"}.get(str(params["field"]), params["field"])
        params["field"] = t(f"person.{key}")
    return str(t(f"person_error.{code}", **params))


def _leader_view(ld: Leader, load: dict[int, int], bot: str) -> dict[str, Any]:
    return {"leader": ld, "load": load.get(ld.id, 0), "link": invite_link(bot, ld.invite_code),
            "joined": ld.telegram_user_id is not None}


async def leaders_page(request: web.Request, *, error: str = "", status: int = 200,
                       error_detail: str = "",
                       edit: dict[str, Any] | None = None) -> web.Response:
    services = services_of(request)
    async with services.db.session() as s:
        leaders = await db.people.list_leaders(s)
        load = await db.tasks.open_task_counts(s)
    edit_id = optional_int(request.query.get("edit"))
    if edit is None and edit_id is not None:
        found = next((ld for ld in leaders if ld.id == edit_id), None)
        if found is not None:
            edit = {k: str(getattr(found, k)) for k in
                    ("phone", "name", "lat", "lon", "locale", "radius_km", "capacity")}
            edit["editing"] = "1"
    bot = services.settings.telegram_bot_username
    return render(request, "leaders.html", status=status, error=error, error_detail=error_detail,
                  leaders=[_leader_view(ld, load, bot) for ld in leaders], edit=edit or {},
                  locales=SUPPORTED_LOCALES, done=request.query.get("done", ""))


async def save_leader(request: web.Request) -> web.Response:
    form = await request.post()
    fields = _person_fields(form, leader=True)
    t = t_for(request)
    try:
        p = person(**fields)
        if p.lat is None or p.lon is None:
            raise PeopleError("a leader needs a base location (latitude and longitude)",
                              "leader_location")
    except PeopleError as exc:
        return await leaders_page(request, error=t("error.person", detail=said(t, exc)),
                                  error_detail=str(exc), status=400, edit=dict(fields, editing=text(form, "editing")))
    services = services_of(request)
    async with services.db.session() as s:
        leader, _ = await store_leader(s, p)
    # The dispatcher keeps leaders' bases in an index: tell it about the new place or radius.
    dispatcher = services.dispatcher
    if dispatcher is not None and hasattr(dispatcher, "leader_moved"):
        dispatcher.leader_moved(leader)
    services.wake_dispatcher()
    raise web.HTTPSeeOther("/console/leaders?done=saved")


async def set_duty(request: web.Request) -> web.Response:
    form = await request.post()
    leader_id = optional_int(request.match_info["id"])
    async with services_of(request).db.session() as s:
        ld = await s.get(Leader, leader_id) if leader_id else None
        if ld is None:
            raise web.HTTPNotFound(text="no such leader")
        ld.on_duty = text(form, "on_duty") == "1"
    if ld.on_duty:
        services_of(request).wake_dispatcher()
    raise web.HTTPSeeOther("/console/leaders?done=duty")


async def new_invite(request: web.Request) -> web.Response:
    """A fresh invite code (the old link stops working), e.g. when a leader changes phone."""
    leader_id = optional_int(request.match_info["id"])
    async with services_of(request).db.session() as s:
        ld = await s.get(Leader, leader_id) if leader_id else None
        if ld is None:
            raise web.HTTPNotFound(text="no such leader")
        ld.invite_code = db.people.new_invite_code()
        ld.invite_used_at = None
    raise web.HTTPSeeOther("/console/leaders?done=invite")


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/residents", residents_page)
    r.add_post("/console/residents", save_resident)
    r.add_get("/console/leaders", leaders_page)
    r.add_post("/console/leaders", save_leader)
    r.add_post("/console/leaders/{id}/duty", set_duty)
    r.add_post("/console/leaders/{id}/invite", new_invite)


