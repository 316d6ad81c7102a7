"""The try-it page's phone: the resident's screen of texts, and Doorstep's own calls to them
(callbacks after a missed call, spoken notices), which in demo mode ring here.

With simulated calls (`serve --demo`) the "call" outbox sender is the real `CallSender` placing
each try on `SimulatedPhone` instead of Twilio: a try is named with a CallSid and rings (its
VoiceCall `calling`) until the page answers it or lets it ring out. The page then plays
Twilio's side of the call against the real signed webhooks: the call's TwiML, the keys, and the
final status callback, which decide the outcome exactly as they do for a real call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import exists, select

import db.console
import db.people
from db.models import Conversation, Outbox, VoiceCall, utcnow
from gateway.channels.console.forms import optional_int, text
from gateway.channels.console.render import t_for
from gateway.channels.console.simcall import (
    OutboundCall,
    SimulationError,
    ring_once,
    wav_to_mulaw,
)
from gateway.channels.twilio.calls import CHANNEL, CallSender, spoken_xml
from gateway.channels.twilio.simulated import SimulatedPhone
from gateway.channels.twilio.webhook_client import twiml_texts
from gateway.notify.calls import Calls, try_key
from gateway.services import Services, services_of

log = logging.getLogger(__name__)

NOTIFY = ("sms", "call", "both")
SPOKEN_DOES = ("heard", "skip", "silent", "missed")  # press 1 / 2 (a question) / no key / ring
CALLBACK_DOES = ("answer", "keys", "hangup", "missed")
SETTLE_SECONDS = 2.0


def simulated(services: Services) -> CallSender | None:
    """The "call" sender when it places calls on the simulated phone; None otherwise."""
    sender = services.outbox.senders.get(CHANNEL)
    return sender if isinstance(sender, CallSender) and isinstance(sender.rest, SimulatedPhone) \
        else None


# --- what the page shows ----------------------------------------------------------------------

async def phone_screen(s: Any, phone: str) -> list[dict[str, Any]]:
    """Messages from and to the number, oldest first, as a phone would show them. A text held
    for a spoken notice shows once it is released (nobody heard the call), never when the call
    delivered it."""
    inbound = await db.console.inbound_from(s, phone)
    outbound = await db.console.outbox_recent_to(s, phone)
    lines: list[dict[str, Any]] = []
    for m in inbound:
        if m.channel != "sms":
            continue
        lines.append({"at": m.received_at, "dir": "in", "text": m.body, "status": ""})
        # The webhook's own answer (TwiML), as stored with the text it answered.
        answer = m.response or ""
        for said in twiml_texts(answer) if answer.lstrip().startswith("<") else \
                [answer] if answer else []:
            lines.append({"at": m.processed_at or m.received_at, "dir": "out", "text": said,
                          "status": ""})
    now = utcnow()
    lines += [{"at": m.created_at, "dir": "out", "text": m.body, "status": m.status}
              for m in outbound if m.channel == "sms" and _held(m, now) in ("", "released")]
    return sorted(lines, key=lambda x: x["at"])[-30:]


def _held(row: Outbox | None, now: datetime) -> str:
    """A held text's state: `held` (waiting for the call), `settled` (the call delivered it),
    `released` (sent as a text), or "" for a text not held by a call."""
    if row is None or not (row.payload or {}).get("held_by_call"):
        return ""
    if row.status == "sent" and (row.vendor_id or "").startswith("CA"):
        return "settled"  # recorded as sent with the call's sid
    if row.status == "pending" and row.next_attempt_at > now:
        return "held"
    return "released"


async def _outbox_row(s: Any, key: str) -> Outbox | None:
    return (await s.execute(select(Outbox).where(Outbox.idempotency_key == key))
            ).scalar_one_or_none()


def notice_says(services: Services, vc: VoiceCall) -> str:
    """What a notice's (or a question's) call says first, from its real TwiML template."""
    return next(iter(twiml_texts(spoken_xml(services, vc))), vc.text)


async def panel(s: Any, services: Services, phone: str) -> dict[str, Any] | None:
    """The phone's calls from Doorstep, newest first, and the resident's way of being told;
    None unless calls are simulated."""
    if simulated(services) is None or not phone:
        return None
    resident = await db.people.resident_by_phone(s, phone)
    calls = Calls.of(services)
    now = utcnow()
    rows = (await s.execute(select(VoiceCall).where(VoiceCall.phone == phone)
                            .order_by(VoiceCall.id.desc()).limit(5))).scalars().all()
    out = []
    for vc in rows:
        state, due = vc.status, None
        number = vc.tries if vc.status == "calling" else vc.tries + 1  # the try ahead
        if vc.status == "calling" and vc.call_sid:
            state = "ringing"
            if vc.kind == "callback" and (await s.execute(select(exists().where(
                    Conversation.channel == "voice", Conversation.key == vc.call_sid)))).scalar():
                state = "in_call"  # answered: the ordering flow goes on
        elif vc.status in ("pending", "calling"):
            row = await _outbox_row(s, try_key(vc.id, number))
            state, due = "due", row.next_attempt_at if row is not None else now
        held_key = calls.held_key(vc)
        held = await _outbox_row(s, held_key) if held_key else None
        out.append({"id": vc.id, "kind": vc.kind, "state": state, "due": due,
                    "try": max(vc.tries, 1), "next": number, "max": vc.max_tries,
                    "order_id": vc.order_id,
                    "says": notice_says(services, vc) if vc.kind != "callback" else vc.text,
                    "held": vc.fallback_text, "held_state": _held(held, now)})
    return {"calls": out, "notify": resident.notify if resident else None,
            "quiet": calls.quiet.contains(now), "quiet_hours": services.settings.quiet_hours,
            "quiet_until": calls.quiet.defer(now)}


async def settle(services: Services, phone: str, timeout: float = SETTLE_SECONDS) -> None:
    """Wait (briefly) until the calls due to `phone` were placed, so a page shown right after
    a leader's press or a missed call shows them ringing."""
    if simulated(services) is None or not services.outbox.running or not phone:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with services.db.session() as s:
            due = (await s.execute(select(exists().where(
                Outbox.channel == CHANNEL, Outbox.recipient == phone,
                Outbox.status.in_(("pending", "sending")),
                Outbox.next_attempt_at <= utcnow())))).scalar()
        if not due:
            return
        await asyncio.sleep(0.05)


# --- the page's buttons -----------------------------------------------------------------------

def _page() -> Any:
    from gateway.channels.console import tryit  # the page's module imports this one

    return tryit


async def _after(request: web.Request, keep: dict[str, Any],
                 work: Callable[[], Awaitable[dict[str, Any]]]) -> web.Response:
    """The page after driving the webhooks: what was said, or the error in words."""
    t, page = t_for(request), _page()
    try:
        ring = await work()
    except SimulationError as exc:
        return await page.try_page(request, status=409, result=keep, error=t(exc.key) + (
            f" ({exc.detail})" if exc.detail else ""))
    except (OSError, aiohttp.ClientError) as exc:
        return await page.try_page(request, error=t("try.failed", detail=str(exc)), status=502,
                                   result=keep)
    return await page.try_page(request, result={**keep, "kind": "ring", "ring": ring})


async def try_ring(request: web.Request) -> web.Response:
    """A button on a call that rings (or is under way) on the simulated phone."""
    form = await request.post()
    t, page = t_for(request), _page()
    services = services_of(request)
    phone, do = text(form, "phone"), text(form, "do")
    digits = "".join(c for c in text(form, "digits", 40) if c in "0123456789*#")
    keep = {"phone": phone, "leader_id": optional_int(text(form, "leader"))}
    sender = simulated(services)
    vc_id = optional_int(text(form, "call"))
    async with services.db.session() as s:
        vc = await s.get(VoiceCall, vc_id) if vc_id is not None else None
    if sender is None or vc is None or vc.phone != phone \
            or do not in (CALLBACK_DOES if vc.kind == "callback" else SPOKEN_DOES):
        return await page.try_page(request, error=t("try.bad_press"), status=400, result=keep)
    if vc.status != "calling" or not vc.call_sid:
        return await page.try_page(request, error=t("try.ring_gone"), status=409, result=keep)
    upload = form.get("audio")
    raw = upload.file.read(page.MAX_WAV_BYTES + 1) if isinstance(upload, web.FileField) else b""
    if do == "keys" and not (digits or raw):
        return await page.try_page(request, error=t("try.need_audio"), status=400,
                                   result=keep)
    answer_url, status_url = sender.urls(vc.kind, vc.id, vc.tries)
    ringing = OutboundCall(page.own_base_url(request), services.settings, vc.call_sid,
                           vc.phone, answer_url, status_url)

    async def work() -> dict[str, Any]:
        if len(raw) > page.MAX_WAV_BYTES:
            raise SimulationError("try.wav_too_big")
        said = await ringing.callback(do, digits, wav_to_mulaw(raw) if raw else b"") \
            if vc.kind == "callback" else await ringing.spoken(do)
        shown = "spoke" if do == "keys" and not digits else do
        return {"do": shown, "kind": vc.kind, "said": said, "digits": digits}

    return await _after(request, keep, work)


async def try_ring_once(request: web.Request) -> web.Response:
    """The played resident calls and hangs up at once (a missed call)."""
    form = await request.post()
    services = services_of(request)
    phone = text(form, "phone")
    keep = {"phone": phone, "leader_id": optional_int(text(form, "leader"))}
    if simulated(services) is None or not phone:
        return await _page().try_page(request, error=t_for(request)("try.bad_press"),
                                      status=400, result=keep)

    async def work() -> dict[str, Any]:
        await ring_once(_page().own_base_url(request), services.settings, phone)
        return {"do": "once", "said": []}

    return await _after(request, keep, work)


async def try_notify(request: web.Request) -> web.Response:
    """How the played resident is told of their orders' steps: texts, calls or both."""
    form = await request.post()
    services = services_of(request)
    phone, notify = text(form, "phone"), text(form, "notify")
    leader_id = optional_int(text(form, "leader"))
    if notify not in NOTIFY:
        return await _page().try_page(request, error=t_for(request)("try.bad_press"),
                                      status=400, result={"phone": phone})
    async with services.db.session() as s:
        if await db.people.resident_by_phone(s, phone) is None:
            raise web.HTTPNotFound(text="no such resident")
        await db.people.upsert_resident(s, phone, notify=notify)
    raise web.HTTPSeeOther(_page()._try_url(phone, leader_id))


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/console/try/ring", try_ring)
    r.add_post("/console/try/ring-once", try_ring_once)
    r.add_post("/console/try/notify", try_notify)
