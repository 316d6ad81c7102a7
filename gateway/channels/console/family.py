"""Console page of one resident: how they are told about orders, their proxies (family members
and carers who order for them) and their standing orders (issue 20, "Reaching residents").

`/console/residents/{id}`: the notification preference (texts, calls, both), the proxies (add,
change by adding the same phone again, remove) and the standing orders (add, pause, resume,
stop). Everything goes through the domain (`gateway.orders.proxies`, `gateway.orders.standing`),
as the command line does; the goods of a standing order are read by the resident's own order
language, exactly as `doorstep standing add --text` reads them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

import db.proxies
import db.standing
from db.models import NOTIFY_KINDS, Resident, StandingOrder
from gateway.channels.console.auth import current
from gateway.channels.console.forms import optional_int, text
from gateway.channels.console.render import render, t_for, today_of
from gateway.language.locales import normalize_locale
from gateway.orders.proxies import ProxyError, add_proxy, list_proxies, remove_proxy
from gateway.orders.standing import (
    DAYS,
    STATUS_OF,
    Standing,
    StandingError,
    next_days,
    set_unconfirmed,
    when_of,
)
from gateway.services import services_of

PROXY_FORM = {"phone": "", "name": "", "relation": "", "notify": "sms"}
STANDING_FORM = {"text": "", "every": "tue", "weeks": "1", "unconfirmed": "skip", "proxy": ""}
DONE = {"notify", "proxy_added", "proxy_updated", "proxy_removed", "standing_added",
        "standing_pause", "standing_resume", "standing_stop", "standing_already"}


def _number(request: web.Request, name: str) -> int:
    number = optional_int(request.match_info.get(name))
    if number is None:
        raise web.HTTPNotFound()
    return number


async def _resident(s: Any, request: web.Request) -> Resident:
    resident = await s.get(Resident, _number(request, "id"))
    if resident is None:
        raise web.HTTPNotFound()
    return resident


def _said(request: web.Request, code: str, **params: Any) -> str:
    """An error code of the domain in the console's language."""
    t = t_for(request)
    key = f"family.error.{code}"
    said = t(key, **params)
    return said if said != key else t("family.error.other")


def schedule_text(t: Any, so: StandingOrder) -> str:
    """`schedule_words` in the console's language: 每周二, 每2周的周二, 每次流动超市来."""
    if so.on_runs or so.weekday is None:
        return str(t("family.on_runs"))
    day = t(f"family.day.{DAYS[so.weekday]}")
    if so.every_weeks <= 1:
        return str(t("family.every_week", day=day))
    return str(t("family.every_weeks", n=so.every_weeks, day=day))


def _back(request: web.Request, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/console/residents/{request.match_info['id']}?done={done}")


async def resident_page(request: web.Request, *, error: str = "", status: int = 200,
                        proxy_form: dict[str, str] | None = None,
                        standing_form: dict[str, str] | None = None) -> web.Response:
    services = services_of(request)
    today = today_of(request)
    t = t_for(request)
    async with services.db.session() as s:
        resident = await _resident(s, request)
        proxies = await list_proxies(s, resident.phone)
        orders = list(await db.standing.listing(s, resident_phone=resident.phone))
    by_id = {p.id: p for p in proxies}
    orders.sort(key=lambda so: (so.status == "stopped", so.id))
    standing = [{"so": so, "schedule": schedule_text(t, so), "asks": by_id.get(so.proxy_id or 0),
                 "next": next(iter(next_days(so, today)), None)
                 if so.weekday is not None and so.status == "active" else None}
                for so in orders]
    done = request.query.get("done", "")
    return render(request, "resident.html", status=status, resident=resident,
                  proxies=proxies, standing=standing, notify_kinds=NOTIFY_KINDS, days=DAYS,
                  error=error, done=done if done in DONE else "",
                  proxy_form=proxy_form or dict(PROXY_FORM),
                  standing_form=standing_form or dict(
                      STANDING_FORM, unconfirmed=resident.standing_unconfirmed or "skip"))


async def set_notify(request: web.Request) -> web.Response:
    form = await request.post()
    notify = text(form, "notify", 8)
    unconfirmed = text(form, "standing_unconfirmed", 8) or None
    if notify not in NOTIFY_KINDS:
        return await resident_page(request, error=_said(request, "bad_notify"), status=400)
    if unconfirmed not in (None, "skip", "confirm"):
        return await resident_page(request, error=_said(request, "bad_unconfirmed"), status=400)
    async with services_of(request).db.session() as s:
        resident = await _resident(s, request)
        resident.notify = notify
        if unconfirmed is not None:  # their standing orders to come, and those they have
            await set_unconfirmed(s, resident, unconfirmed)
    raise _back(request, "notify")


async def add(request: web.Request) -> web.Response:
    """A proxy for the resident; the same phone again changes its name, relation, notify."""
    form = await request.post()
    fields = {k: text(form, k, 100) for k in PROXY_FORM}
    try:
        async with services_of(request).db.session() as s:
            resident = await _resident(s, request)
            _, created = await add_proxy(
                s, resident_phone=resident.phone, phone=fields["phone"], name=fields["name"],
                relation=fields["relation"], notify=fields["notify"] or "sms",
                created_by=current(request).actor)
    except ProxyError as exc:
        return await resident_page(request, error=_said(request, exc.code), status=400,
                                   proxy_form=fields)
    raise _back(request, "proxy_added" if created else "proxy_updated")


async def remove(request: web.Request) -> web.Response:
    proxy_id = _number(request, "proxy")
    async with services_of(request).db.session() as s:
        resident = await _resident(s, request)
        if proxy_id not in {p.id for p in await db.proxies.of_resident(s, resident.id)}:
            raise web.HTTPNotFound()
        await remove_proxy(s, proxy_id)
    raise _back(request, "proxy_removed")


async def add_standing(request: web.Request) -> web.Response:
    """A standing order, as `doorstep standing add` makes one: the goods are read by the
    resident's order language (the same compiled parser), the schedule by `when_of`."""
    form = await request.post()
    fields = {k: text(form, k, 500 if k == "text" else 12) for k in STANDING_FORM}
    services = services_of(request)
    unmatched: list[str] = []
    try:
        weeks = optional_int(fields["weeks"] or "1")
        if weeks is None:
            raise StandingError("bad_weeks", f"weeks {fields['weeks']!r} is not a number")
        when = when_of(fields["every"], weeks)
        async with services.db.session() as s:
            resident = await _resident(s, request)
            proxy = None
            if fields["proxy"]:
                proxy_id = optional_int(fields["proxy"])
                proxy = next((p for p in await db.proxies.of_resident(s, resident.id)
                              if p.id == proxy_id), None)
                if proxy is None:
                    raise StandingError("not_their_proxy", "not a proxy of this resident")
            language = await services.languages.get(s, normalize_locale(resident.locale))
            parsed = language.parse(fields["text"])
            if not parsed.items:
                unmatched = list(parsed.unmatched)
                raise StandingError("no_items", "nothing in the text is in the catalogue")
            await Standing.of(services).create(
                s, resident=resident, items=parsed.items, when=when, text=fields["text"],
                proxy=proxy, unconfirmed=fields["unconfirmed"] or "skip",
                created_by=current(request).actor)
    except StandingError as exc:
        code = "no_items_unmatched" if exc.code == "no_items" and unmatched else exc.code
        return await resident_page(request, error=_said(request, code,
                                                        words="、".join(unmatched)),
                                   status=400, standing_form=fields)
    raise _back(request, "standing_added")


async def set_standing(request: web.Request) -> web.Response:
    """Pause, resume or stop one of the resident's standing orders."""
    action = request.match_info["action"]
    standing_id = _number(request, "so")
    services = services_of(request)
    try:
        async with services.db.session() as s:
            resident = await _resident(s, request)
            so = await db.standing.get(s, standing_id)
            if so is None or so.resident_id != resident.id:
                raise web.HTTPNotFound()
            changed = await Standing.of(services).set_status(s, so, STATUS_OF[action],
                                                             by=current(request).actor)
    except StandingError as exc:
        return await resident_page(request, error=_said(request, exc.code), status=400)
    raise _back(request, f"standing_{action}" if changed else "standing_already")


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/residents/{id}", resident_page)
    r.add_post("/console/residents/{id}/notify", set_notify)
    r.add_post("/console/residents/{id}/proxies", add)
    r.add_post("/console/residents/{id}/proxies/{proxy}/remove", remove)
    r.add_post("/console/residents/{id}/standing", add_standing)
    r.add_post("/console/residents/{id}/standing/{so}/{action:pause|resume|stop}",
               set_standing)
