"""The "try it" page: play a resident (SMS, a call from a WAV, keypad) and a leader (task buttons),
all through the real webhooks and the dispatcher, without Twilio or Telegram accounts."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

import db.console
import db.orders
import db.people
from db.models import Leader, Order
from gateway.channels.console import tryphone
from gateway.channels.console.forms import optional_int, text
from gateway.channels.console.render import language_of, render, t_for
from gateway.channels.console.simcall import (
    SimulationError,
    place_call,
    send_sms,
    wav_to_mulaw,
)
from gateway.channels.twilio.webhook_client import Twilio
from gateway.orders.people import PeopleError, normalize_phone
from gateway.services import services_of

MAX_WAV_BYTES = 1900 * 1024
# Telegram ids of the simulated accounts leaders join with on the try-it page: far above the
# ids Telegram hands out today, so they never meet a real account.
SIMULATED_TELEGRAM_BASE = 9_000_000_000_000
LEADER_ACTIONS = ("accept", "decline", "bought", "delivered")


def own_base_url(request: web.Request) -> str:
    """This server's own address, as the socket that took the request knows it."""
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    if not sock:
        raise SimulationError("try.no_socket")
    host, port = sock[0], sock[1]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def card_state(task: Any, order: Order | None) -> str:
    """The state of the leader's Telegram card for an open task, as the dispatcher sets it."""
    if task.status == "offered":
        return "offered"
    return "purchased" if order is not None and order.status == "purchased" else "accepted"


def leader_buttons(services: Any, leader: Leader, task: Any,
                   order: Order | None) -> list[list[tuple[str, str]]]:
    """The buttons of the task's Telegram card, as rows of (action, label): the bot's own
    buttons (same rows, labels from telegram/label_<action>.j2 in the leader's locale)."""
    try:
        from gateway.channels.telegram.messages import TaskPress, TelegramMessages
    except ImportError:  # no Telegram adapter in this build: no buttons to copy
        return []
    messages = TelegramMessages(services.templates, services.settings)
    rows = messages.buttons(leader.locale, task.id, card_state(task, order))
    return [[(TaskPress.unpack(data).action, label) for label, data in row] for row in rows]


async def try_page(request: web.Request, *, result: dict[str, Any] | None = None,
                   error: str = "", status: int = 200) -> web.Response:
    services = services_of(request)
    settings = services.settings
    phone = request.query.get("phone", "") or (result or {}).get("phone", "")
    leader_id = (result or {}).get("leader_id") or optional_int(request.query.get("leader"))
    await tryphone.settle(services, phone)  # calls just queued to the phone: ringing
    async with services.db.session() as s:
        residents = await db.people.list_residents(s)
        leaders = await db.people.list_leaders(s)
        # with nobody chosen, a resident of the console's language and a leader of the resident's
        # (the demo has both villages: a Korean console began on 张阿姨 and 冯团长)
        lang = language_of(request)
        if not phone and residents:
            phone = next((r for r in residents if r.locale == lang), residents[0]).phone
        screen = await tryphone.phone_screen(s, phone) if phone else []
        ring = await tryphone.panel(s, services, phone)
        answered = bool(screen) and screen[-1]["dir"] == "out"
        orders, _ = await db.console.list_orders(s, db.console.OrderFilter(phone=phone), limit=5) \
            if phone else ([], 0)
        played = next((r.locale for r in residents if r.phone == phone), lang)
        leader = next((ld for ld in leaders if ld.id == leader_id), None) or \
            next((ld for ld in leaders if ld.locale == played), leaders[0] if leaders else None)
        tasks: list[tuple[Any, Order | None, list[list[tuple[str, str]]]]] = []
        if leader is not None:
            for task in await db.console.tasks_of_leader(s, leader.id):
                order = await db.orders.get(s, task.order_id)
                tasks.append((task, order, leader_buttons(services, leader, task, order)))
        pressed = _pressed(request, leader, services)
        fulfil = await _runs_and_points(s, residents)
        routes = {r.resource.canonical for r in request.app.router.routes()
                  if r.resource is not None}
        return render(
            request, "try.html", status=status, residents=residents, leaders=leaders,
            phone=phone, screen=screen, ring=ring, orders=orders, leader=leader, tasks=tasks,
            result=result or {}, error=error, answered=answered, pressed=pressed,
            sent=(result or {}).get("kind") == "sms",
            canonical=_try_url(phone, leader.id if leader else None),
            twilio_ready=settings.twilio_enabled,
            has_sms="/twilio/sms" in routes, has_voice="/twilio/voice" in routes,
            has_dispatcher=services.dispatcher is not None, fulfil=fulfil,
            can_join=not settings.telegram_enabled)


async def _runs_and_points(s: Any, residents: Any) -> dict[str, list[dict[str, Any]]]:
    """Runs ahead and pickup points, with the residents each one serves (the demo has one of
    each per locale), so a visitor knows whom to text as."""
    import db.runs
    from db.models import utcnow

    def names(villages: list[str]) -> list[Any]:
        return [r for r in residents if r.village in villages]

    runs = [{"run": r, "residents": names(r.village_names)}
            for r in await db.runs.runs_between(s, since=utcnow(), statuses=("scheduled",))]
    served = await db.runs.pickup_villages(s)
    points = [{"point": p, "villages": served.get(p.id, []),
               "residents": [r for r in residents if r.village in served.get(p.id, [])
                             or r.pickup_outlet_id == p.id]}
              for p in await db.runs.pickup_points(s)]
    return {"runs": runs, "points": points}


def _pressed(request: web.Request, leader: Leader | None, services: Any) -> dict[str, str]:
    """The last button press (from the redirect's query), as the label the leader saw."""
    action, _, outcome = request.query.get("pressed", "").partition(":")
    if action not in LEADER_ACTIONS or leader is None:
        return {}
    name = f"telegram/label_{action}.j2"
    # no Telegram templates in this build: the action's name
    label = services.templates.render(leader.locale, name).strip() \
        if services.templates.exists(leader.locale, name) else action
    return {"label": label, "outcome": outcome}


def _phone(form: Any) -> str:
    return normalize_phone(text(form, "phone"))


async def try_sms(request: web.Request) -> web.Response:
    form = await request.post()
    t = t_for(request)
    try:
        phone = _phone(form)
        body = text(form, "body", 1600)
        if not body:
            return await try_page(request, error=t("try.empty"), status=400)
        reply = await send_sms(own_base_url(request), services_of(request).settings, phone, body)
    except PeopleError:
        return await try_page(request, error=t("error.bad_phone"), status=400)
    except SimulationError as exc:
        return await try_page(request, error=t(exc.key) + (f" ({exc.detail})" if exc.detail else ""),
                              status=409, result={"phone": text(form, "phone")})
    # The page shows the webhook's own answer at once; its address becomes the GET page's
    # (history.replaceState in console.js), and a GET of /console/try/sms redirects there, so
    # a reload never answers 405 nor sends the text twice.
    return await try_page(request, result={"phone": phone, "kind": "sms", "sent": body,
                                           "replies": reply.replies, "status": reply.status,
                                           "leader_id": optional_int(text(form, "leader"))})


def _try_url(phone: str | None, leader_id: int | None, **more: str) -> str:
    from urllib.parse import urlencode

    query = {k: v for k, v in (("phone", phone or ""), ("leader", str(leader_id or "")),
                               *more.items()) if v}
    return "/console/try" + (f"?{urlencode(query)}" if query else "")


def real_simulator() -> Any:
    """The voice adapter's own caller (`doorstep simulate call`), which follows the whole TwiML
    dialogue (<Gather>, <Redirect>, <Record>...); None while it is not part of the build."""
    try:
        from gateway.channels.twilio import simulate_call
        from voice.audio import read_wav, ulaw_encode
    except ImportError:
        return None
    return simulate_call, read_wav, ulaw_encode


async def _call(request: web.Request, phone: str, raw: bytes, digits: str) -> dict[str, Any]:
    settings = services_of(request).settings
    base = own_base_url(request)
    real = real_simulator()
    if real is not None:
        simulate_call, read_wav, ulaw_encode = real
        if not settings.twilio_auth_token:
            raise SimulationError("try.no_token")
        try:
            speech = [ulaw_encode(read_wav(raw, max_seconds=60))] if raw else []
        except ValueError as exc:
            raise SimulationError("try.bad_wav", str(exc)) from None
        twilio = Twilio(base, settings.public_url, settings.twilio_auth_token,
                                      settings.twilio_account_sid or "AC" + "0" * 32)
        log = await simulate_call.place_call(twilio, phone, speech, digits, pace=0.0)
        return {"said": log.heard, "log": log.events, "events": {}, "audio_back": 0,
                "seconds": round(sum(len(s) for s in speech) / 8000, 1)}
    audio = wav_to_mulaw(raw) if raw else b""
    call = await place_call(base, settings, phone, audio, digits)
    return {"said": call.said, "log": [], "events": call.events_back,
            "audio_back": round(call.audio_back_seconds, 1), "seconds": round(len(audio) / 8000, 1)}


async def try_call(request: web.Request) -> web.Response:
    form = await request.post()
    t = t_for(request)
    upload = form.get("audio")
    digits = "".join(c for c in text(form, "digits", 40) if c in "0123456789*#")
    try:
        phone = _phone(form)
        raw = b""
        if isinstance(upload, web.FileField):
            raw = upload.file.read(MAX_WAV_BYTES + 1)
            if len(raw) > MAX_WAV_BYTES:
                raise SimulationError("try.wav_too_big")
        if not raw and not digits:
            raise SimulationError("try.need_audio")
        result = await _call(request, phone, raw, digits)
    except PeopleError:
        return await try_page(request, error=t("error.bad_phone"), status=400)
    except SimulationError as exc:
        return await try_page(request, error=t(exc.key) + (f" ({exc.detail})" if exc.detail else ""),
                              status=409, result={"phone": text(form, "phone")})
    except (OSError, aiohttp.ClientError) as exc:
        return await try_page(request, error=t("try.failed", detail=str(exc)), status=502,
                              result={"phone": text(form, "phone")})
    return await try_page(request, result={"phone": phone, "kind": "call", "digits": digits,
                                           **result})


async def try_leader(request: web.Request) -> web.Response:
    """A leader's button press, applied by the dispatcher exactly as a Telegram press is."""
    form = await request.post()
    t = t_for(request)
    services = services_of(request)
    leader_id = optional_int(text(form, "leader"))
    task_id = optional_int(text(form, "task"))
    action = text(form, "action")
    dispatcher = services.dispatcher
    if dispatcher is None or not hasattr(dispatcher, "press"):
        return await try_page(request, error=t("try.dispatcher_missing"), status=409,
                              result={"leader_id": leader_id})
    if leader_id is None or task_id is None or action not in LEADER_ACTIONS:
        return await try_page(request, error=t("try.bad_press"), status=400,
                              result={"leader_id": leader_id})
    outcome = await dispatcher.press(leader_id, task_id, action)
    phone = text(form, "phone") or None
    raise web.HTTPSeeOther(_try_url(phone, leader_id, pressed=f"{action}:{outcome}"))


async def try_join(request: web.Request) -> web.Response:
    """Join a leader with a simulated Telegram account through the same invite code check the
    bot's /start uses, so the dispatcher offers them orders. Only without a real bot."""
    form = await request.post()
    t = t_for(request)
    services = services_of(request)
    leader_id = optional_int(text(form, "leader"))
    if services.settings.telegram_enabled:
        return await try_page(request, error=t("try.join_real_bot"), status=409,
                              result={"leader_id": leader_id})
    try:
        import db.leaders
    except ImportError:
        return await try_page(request, error=t("try.dispatcher_missing"), status=409,
                              result={"leader_id": leader_id})
    async with services.db.session() as s:
        leader = await s.get(Leader, leader_id) if leader_id else None
        if leader is None:
            raise web.HTTPNotFound(text="no such leader")
        fake = SIMULATED_TELEGRAM_BASE + leader.id
        _, linked = await db.leaders.link_telegram(s, leader.invite_code, fake, fake)
    if linked is None:
        return await try_page(request, error=t("try.join_failed"), status=409,
                              result={"leader_id": leader_id})
    services.wake_dispatcher()
    raise web.HTTPSeeOther(_try_url(text(form, "phone") or None, leader_id))


async def back_to_page(request: web.Request) -> web.Response:
    """GET of a form's address (a reload after sending): the page itself."""
    raise web.HTTPSeeOther(_try_url(request.query.get("phone"),
                                    optional_int(request.query.get("leader"))))


def setup_routes(app: web.Application) -> None:
    r = app.router
    for path in ("/console/try/sms", "/console/try/call", "/console/try/leader",
                 "/console/try/join", "/console/try/ring", "/console/try/ring-once",
                 "/console/try/notify"):
        r.add_get(path, back_to_page)
    tryphone.setup_routes(app)
    r.add_get("/console/try", try_page)
    r.add_post("/console/try/sms", try_sms)
    r.add_post("/console/try/call", try_call)
    r.add_post("/console/try/leader", try_leader)
    r.add_post("/console/try/join", try_join)
