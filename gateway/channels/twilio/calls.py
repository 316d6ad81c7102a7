"""Twilio outbound calls: the "call" outbox sender, the status callback, the spoken notice.

- `CallSender` places each try queued by gateway.notify.calls through the REST Calls API
  (TWILIO_API_URL honoured): a callback fetches the ordinary answer webhook `/twilio/voice`
  (Twilio posts `Direction=outbound-api`, `To` = the resident), a notice fetches
  `/twilio/voice/notice`. Both carry `?vc=<id>&try=<n>` on their status callback.
- `POST /twilio/voice/status`: the final status of our tries, and of residents' own calls
  (set on the number): a missed or very short call asks for a callback.
- `POST /twilio/voice/notice` says the notice twice with "press 1 if you heard this";
  `POST /twilio/voice/notice/key` takes the key.
Protocol only: what a status or a key means is gateway.notify.calls.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import db.inbound
import db.outbox
import db.people
from db.models import Conversation, Outbox, utcnow
from gateway.channels.twilio.rest import TwilioRest, seconds
from gateway.channels.twilio.signature import twiml_response, verified_form
from gateway.channels.twilio.voice import HANGUP, SAY_LANGUAGE, by_machine
from gateway.errors import SendError
from gateway.notify.calls import CHANNEL, SPOKEN, Calls, Ended, missed
from gateway.observe.periodic import cancel, repeat
from gateway.services import SERVICES, Services

log = logging.getLogger(__name__)

VOICE = "voice"  # the inbound channel the status callbacks are stored under
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
RING_SECONDS = 30
SWEEP_SECONDS = 120.0


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


class CallSender:
    """The outbox sender of channel "call": one row is one try of one VoiceCall."""

    def __init__(self, services: Services, rest: TwilioRest) -> None:
        self.services = services
        self.rest = rest
        self.calls = Calls.of(services)

    def urls(self, kind: str, vc_id: int, number: int) -> tuple[str, str]:
        base = self.services.settings.public_url
        query = f"?vc={vc_id}&try={number}"
        answer = f"{base}/twilio/voice" if kind == "callback" \
            else f"{base}/twilio/voice/notice{query}"
        return answer, f"{base}/twilio/voice/status{query}"

    async def __call__(self, row: Outbox) -> str | None:
        payload = row.payload or {}
        vc_id, number = _int(payload.get("voice_call")), _int(payload.get("try"))
        if vc_id is None or number is None:
            raise SendError(f"outbox {row.id}: not a call try", permanent=True)
        database = self.services.db
        async with database.session() as s:
            plan = await self.calls.placing(s, vc_id, number)
        if plan.action == "skip":
            return None
        if plan.action == "placed":
            return plan.call_sid
        if plan.action == "wait":
            assert plan.until is not None
            wait = max(1.0, (plan.until - utcnow()).total_seconds())
            await self._give_up_if_last(row, vc_id, number, "quiet hours")
            raise SendError(f"quiet hours until {plan.until:%H:%M} UTC", retry_after=wait)
        try:
            sid = await self.rest.find_call(plan.phone, plan.since or row.created_at) \
                if plan.ambiguous else None
            if sid is None:
                answer, status = self.urls(plan.kind, vc_id, number)
                sid = await self.rest.place_call(to=plan.phone, url=answer,
                                                 status_callback=status,
                                                 ring_seconds=RING_SECONDS)
        except SendError as exc:
            if exc.permanent:
                await self._failed(vc_id, number, str(exc))
            else:
                await self._give_up_if_last(row, vc_id, number, str(exc))
            raise
        except Exception as exc:
            await self._give_up_if_last(row, vc_id, number, repr(exc))
            raise
        async with database.session() as s:
            await self.calls.placed(s, vc_id, number, sid)
        return sid

    async def _give_up_if_last(self, row: Outbox, vc_id: int, number: int, error: str) -> None:
        """The outbox gives up on a row after its last attempt: so does the call."""
        if row.attempts + 1 >= self.services.outbox.max_attempts:
            await self._failed(vc_id, number, error)

    async def _failed(self, vc_id: int, number: int, error: str) -> None:
        async with self.services.db.session() as s:
            await self.calls.failed(s, vc_id, number, error)
        if db.outbox.queued_in(s):
            self.services.outbox.wake()

    async def sweep(self, now: datetime | None = None) -> int:
        """Tries whose status callback never came: their status is read back from Twilio."""
        async with self.services.db.session() as s:
            stale = await self.calls.stale(s, now)
        done = 0
        for vc_id, number, sid in stale:
            try:
                found = await self.rest.call_status(sid)
            except SendError as exc:
                log.warning("could not read call %s back: %s", sid, exc)
                continue
            ended = Ended(*found) if found is not None else Ended("failed")
            if not ended.final:
                continue
            async with self.services.db.session() as s:
                await self.calls.ended(s, vc_id, number, ended, call_sid=sid)
            if db.outbox.queued_in(s):
                self.services.outbox.wake()
            done += 1
        return done


# --- webhooks ---------------------------------------------------------------------------------

async def _form(request: web.Request) -> tuple[Services, dict[str, str]]:
    services = request.app[SERVICES]
    if not services.settings.twilio_enabled:
        raise web.HTTPForbidden(text="Twilio is not configured")
    form = await verified_form(request, services.settings)
    return services, {k: str(v).replace("\x00", "")[:2000] for k, v in form.items()
                      if isinstance(v, str)}


def _query_ids(request: web.Request) -> tuple[int | None, int | None]:
    return _int(request.query.get("vc")), _int(request.query.get("try"))


async def _ordered_on(session: AsyncSession, call_sid: str) -> bool:
    """Whether the caller's own call made an order (the call's conversation says so)."""
    draft = (await session.execute(select(Conversation.draft).where(
        Conversation.channel == VOICE, Conversation.key == call_sid))).scalar_one_or_none()
    return bool(draft and draft.get("order_id"))


async def status(request: web.Request) -> web.Response:
    """Twilio's status callback: a try of ours ended (`?vc=&try=`), or a resident's own call
    did. Stored once per call and status, so a repeated delivery, or one to two gateways on
    one database, does nothing more."""
    services, raw = await _form(request)
    calls = Calls.of(services)
    sid, call_status = raw.get("CallSid", "")[:64], raw.get("CallStatus", "")
    ended = Ended(call_status, seconds(raw.get("CallDuration")), raw.get("AnsweredBy", ""))
    vc_id, number = _query_ids(request)
    outbound = raw.get("Direction", "").startswith("outbound")
    phone = (raw.get("To") if outbound else raw.get("From", ""))[:32] or "unknown"
    async with services.db.session() as s:
        stored = await db.inbound.store(s, channel=VOICE, vendor_id=f"{sid}:{call_status}"[:128],
                                        phone=phone, body="", raw=raw)
        if stored.new and sid and ended.final:
            if vc_id is not None and number is not None:
                outcome = await calls.ended(s, vc_id, number, ended, call_sid=sid)
                log.info("call %s (voice call %s, try %s): %s -> %s", sid, vc_id, number,
                         call_status, outcome)
            elif not outbound:
                why = missed(ended, short_seconds=services.settings.callback_short_seconds,
                             ordered=await _ordered_on(s, sid))
                if why is not None:
                    resident = await db.people.resident_by_phone(s, phone)
                    await calls.callback(s, phone=phone, call_sid=sid, resident=resident,
                                         why=why)
    if db.outbox.queued_in(s):
        services.outbox.wake()
    return twiml_response(EMPTY)


def spoken_xml(services: Services, vc: Any, action: str = "", again: bool = False) -> str:
    """The TwiML of a notice's or a question's call: its text twice and the key to press."""
    name = "voice/question.xml.j2" if vc.kind == "question" else "voice/notice.xml.j2"
    return services.templates.render(
        vc.locale, name, text=vc.text, again=again,
        say_language=SAY_LANGUAGE.get(vc.locale, vc.locale), action=action)


def _notice_xml(services: Services, vc: Any, request: web.Request, again: bool = False) -> str:
    vc_id, number = _query_ids(request)
    return spoken_xml(services, vc, f"/twilio/voice/notice/key?vc={vc_id}&try={number or 0}",
                      again)


async def notice(request: web.Request) -> web.Response:
    """A notice's or a question's call was answered: its text, twice, and which key to press
    ("press 1 if you heard this"; a question names its own keys)."""
    services, raw = await _form(request)
    vc_id, _ = _query_ids(request)
    if by_machine(raw):  # not left on an answering machine: the try counts as not answered
        return twiml_response(HANGUP)
    async with services.db.session() as s:
        vc = await Calls.of(services).text_of(s, vc_id) if vc_id is not None else None
    if vc is None or vc.kind not in SPOKEN or not vc.text:
        return twiml_response(HANGUP)
    return twiml_response(_notice_xml(services, vc, request))


async def notice_key(request: web.Request) -> web.Response:
    """A key during a notice: 1 is heard (thanks, goodbye); another key hears it again. During
    a question: its answer (a standing order's 1 as usual, 2 skip)."""
    services, raw = await _form(request)
    vc_id, _ = _query_ids(request)
    if vc_id is None:
        return twiml_response(HANGUP)
    calls = Calls.of(services)
    digit = raw.get("Digits", "")[:1]
    async with services.db.session() as s:
        vc = await calls.text_of(s, vc_id)
    answered: str | None = None
    if vc is None or vc.kind not in SPOKEN:
        return twiml_response(HANGUP)
    async with services.db.session() as s:  # (its own transaction: a write comes first)
        if vc.kind == "question":
            answered = await _answer_question(services, s, vc, digit, raw.get("CallSid", ""))
        elif digit == "1":
            await calls.heard(s, vc_id, raw.get("CallSid", ""))
            answered = services.templates.render(
                vc.locale, "voice/notice_heard.xml.j2",
                say_language=SAY_LANGUAGE.get(vc.locale, vc.locale))
    if db.outbox.queued_in(s):
        services.outbox.wake()
    return twiml_response(answered or _notice_xml(services, vc, request, again=True))


async def _answer_question(services: Services, s: AsyncSession, vc: Any, digit: str,
                           call_sid: str) -> str | None:
    """A standing order's round answered by a key: the round confirmed (its order made) or
    skipped, the call settled (its held text never sent); None for a key that answers
    nothing (the question is said again)."""
    from gateway.orders.standing import Standing, round_of_question

    answer = {"1": "confirm", "2": "skip"}.get(digit)
    round_id = round_of_question(vc.key)
    if answer is None or round_id is None:
        return None
    await Calls.of(services).heard(s, vc.id, call_sid)
    outcome, order = await Standing.of(services).answer_call(s, round_id, answer, phone=vc.phone)
    if order is not None:
        services.wake_dispatcher()
    return services.templates.render(
        vc.locale, "voice/question_answered.xml.j2", outcome=outcome, order=order,
        say_language=SAY_LANGUAGE.get(vc.locale, vc.locale))


# --- wiring -----------------------------------------------------------------------------------

def setup(app: web.Application) -> None:
    """The status callback and notice webhooks, and the "call" sender when Twilio can call
    (or the try-it page's simulated phone, with simulated calls)."""
    services = app[SERVICES]
    settings = services.settings
    if not settings.twilio_enabled:
        return
    app.router.add_post("/twilio/voice/status", status)
    app.router.add_post("/twilio/voice/notice", notice)
    app.router.add_post("/twilio/voice/notice/key", notice_key)
    if settings.simulated_calls:  # `serve --demo`: they ring on the console's try-it page
        from gateway.channels.twilio.simulated import SimulatedPhone

        rest: TwilioRest = SimulatedPhone(settings)
    elif not (settings.twilio_account_sid and settings.twilio_from_number):
        log.warning("TWILIO_ACCOUNT_SID or TWILIO_FROM_NUMBER is not set: outbound calls "
                    "(callbacks, spoken notices) wait in the outbox")
        return
    else:
        rest = TwilioRest(settings)
    sender = CallSender(services, rest)
    services.outbox.register(CHANNEL, sender)

    async def lifecycle(_app: web.Application) -> Any:
        sweeper = asyncio.create_task(repeat(lambda: _sweep(sender), SWEEP_SECONDS, "call sweep"),
                                      name="call-sweep") if services.outbox.running else None
        yield
        await cancel(sweeper)
        await rest.close()

    app.cleanup_ctx.append(lifecycle)


async def _sweep(sender: CallSender) -> None:
    n = await sender.sweep()
    if n:
        log.info("read back the status of %d calls whose callback never came", n)
