"""Twilio SMS adapter: POST /twilio/sms → validate, store raw, run the conversation, answer TwiML.

Webhook hygiene: the signature is checked before anything is read into the database; the text
is stored raw (unique on MessageSid) in its own transaction before any work, so a retry of the
same MessageSid gets the stored answer and changes nothing. The conversation itself is
`gateway.domain.conversation.decide`; this module only loads its facts and applies its decision.
A background sweeper expires drafts (with a text saying so) and answers, through the outbox,
any stored text whose processing never finished.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Mapping
from xml.sax.saxutils import escape

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

import db.conversations
import db.orders
import db.outbox
import db.people
from db.models import Order, utcnow
from db.session import is_unavailable
from gateway import sms_text
from gateway.domain import conversation as conv
from gateway.domain.orders import announce_created
from gateway.errors import Unavailable
from gateway.locales import normalize_locale
from gateway.services import SERVICES, Services, services_of
from gateway.telephony.signature import twiml_response, verified_form

log = logging.getLogger(__name__)

CHANNEL = "sms"
ACTOR = "resident:sms"
RATE_WINDOW = timedelta(minutes=10)
MAX_REPLY_PARTS = 3
SWEEP_SECONDS = 30.0
STALE_AFTER = timedelta(minutes=2)  # a stored text not answered by then is answered by SMS
SEPARATOR = {"zh-CN": "", "ko-KR": " "}


@dataclass(frozen=True)
class InboundSms:
    """One inbound text as Twilio posts it."""

    sid: str
    phone: str
    to: str
    body: str
    raw: dict[str, str]

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> InboundSms:
        raw = {k: str(v).replace("\x00", "\ufffd") for k, v in form.items()
               if isinstance(v, str)}
        sid = raw.get("MessageSid") or raw.get("SmsSid") or ""
        if not sid:  # not a real Twilio text, but signed: keep it under a stable made-up id
            digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
            sid = "nosid-" + digest[:40]
        phone = sms_text.clean(raw.get("From", ""))[:32] or "unknown"
        return cls(sid=sid[:128], phone=phone, to=raw.get("To", "")[:32],
                   body=raw.get("Body", ""), raw=raw)


def twiml(text: str) -> str:
    if not text:
        return '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    return ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
            f"{escape(text)}</Message></Response>")


def guess_locale(phone: str, default: str) -> str:
    """The language to answer an unregistered number in: by its country code."""
    return "ko-KR" if phone.startswith("+82") else default


class SmsGateway:
    """Runs the SMS conversation for each stored text; one text per number at a time."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.rules = conv.Rules(ttl=timedelta(minutes=self.settings.draft_ttl_minutes),
                                max_failures=self.settings.max_parse_failures)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        # SQLite has one writer at a time: queue writers here instead of in its busy loop.
        self._sqlite_writer = asyncio.Lock() if services.db.is_sqlite else None
        self._sweeper: asyncio.Task[None] | None = None

    # --- plumbing ------------------------------------------------------------------------------

    @asynccontextmanager
    async def _number(self, phone: str) -> AsyncIterator[None]:
        lock, n = self._locks.get(phone, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[phone] = (lock, n + 1)
        try:
            async with lock:
                yield
        finally:
            lock, n = self._locks[phone]
            if n <= 1:
                del self._locks[phone]
            else:
                self._locks[phone] = (lock, n - 1)

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; on SQLite one at a time (its busy loop is slow under load)."""
        if self._sqlite_writer is None:
            async with self.services.db.session() as s:
                yield s
            return
        async with self._sqlite_writer:
            async with self.services.db.session() as s:
                yield s

    # --- inbound -------------------------------------------------------------------------------

    async def receive(self, msg: InboundSms) -> str:
        """Store the text, then answer it; the reply text ("" for none)."""
        body = sms_text.clean(msg.body)
        limit = self.settings.sms_rate_limit
        async with self._tx() as s:
            stored = await db.conversations.store_inbound(
                s, channel=CHANNEL, vendor_id=msg.sid, phone=msg.phone, body=body, raw=msg.raw)
            if stored.processed_at is not None:
                return stored.response or ""
            inbound_id = stored.id
            early: str | None = None
            if stored.new and limit:
                n = await db.conversations.recent_count(s, CHANNEL, msg.phone, RATE_WINDOW)
                if n > limit:  # say it once per window, then stay quiet
                    early = self._render_one(await self._locale_of(s, msg.phone),
                                             "rate_limited") if n == limit + 1 else ""
            if early is None and len(body) > self.settings.sms_max_body:
                early = self._render_one(await self._locale_of(s, msg.phone), "too_long")
            if early is not None:
                await db.conversations.touch_inbound(s, inbound_id, response=early, order_id=None)
                return early
        return await self.process(inbound_id, msg.phone, body)

    async def _locale_of(self, s: AsyncSession, phone: str) -> str:
        resident = await db.people.resident_by_phone(s, phone)
        return normalize_locale(resident.locale) if resident else \
            guess_locale(phone, self.settings.default_locale)

    async def process(self, inbound_id: int, phone: str, body: str) -> str:
        """Run the conversation for a stored text. A failure is kept for a person, except the
        database being away, which raises Unavailable (the stored text is processed again)."""
        try:
            async with self._number(phone):
                reply, confirmed, queued = await self._process(inbound_id, phone, body)
        except Exception as exc:
            if is_unavailable(exc):
                # The text is stored but the database went away while it was being worked on:
                # answer 503, so Twilio's retry (same MessageSid) or the sweeper redoes it.
                log.warning("SMS %s: database unavailable, to be retried: %r", inbound_id, exc)
                raise Unavailable("database unavailable") from exc
            log.exception("SMS %s could not be processed; keeping it for an operator", inbound_id)
            return await self._fail_safe(inbound_id, phone, body)
        if confirmed:
            self.services.wake_dispatcher()
        if queued:
            self.services.outbox.wake()
        return reply

    async def _process(self, inbound_id: int, phone: str, body: str) -> tuple[str, bool, bool]:
        """(reply, whether an order was confirmed, whether the outbox got a message)."""
        now = utcnow()
        async with self._tx() as s:
            resident = await db.people.resident_by_phone(s, phone)
            locale = normalize_locale(resident.locale) if resident else \
                guess_locale(phone, self.settings.default_locale)
            row = await db.conversations.lock_row(s, CHANNEL, phone, locale=locale,
                                                  inbound_id=inbound_id)
            if row.answered:
                return row.answer or "", False, False  # a concurrent retry answered it
            state = conv.State.from_json(row.state, row.draft, row.failures, row.expires_at)
            known = resident is not None
            opted_out = bool(resident.opted_out) if resident else state.opted_out
            parsed = None
            if known and not opted_out and conv.keyword(body) is None:
                language = await self.services.languages.get(s, locale)
                parsed = conv.Parsed.of(language.parse(body))
            latest = last = None
            need = conv.needs(parsed)
            if need == "latest":
                o = await db.orders.latest_for_phone(s, phone)
                latest = _facts(o) if o is not None and o.status != "draft" else None
            elif need == "repeat" or need == "last":
                o = await db.conversations.last_order_with_items(s, phone)
                last = _facts(o) if o is not None else None
            decision = conv.decide(state, conv.Inbound(
                text=body, now=now, known=known, parsed=parsed,
                resident_opted_out=bool(resident.opted_out) if resident else False,
                latest=latest, last=last), self.rules)
            new = decision.state
            await db.conversations.save_row(s, row.id, state=new.state, draft=new.draft_json(),
                                            failures=new.failures, expires_at=new.expires_at,
                                            locale=locale)
            if decision.opt_out is not None and resident is not None:
                resident.opted_out = decision.opt_out
            order = None
            if decision.order is not None:
                order = await self._apply_order(s, decision.order, phone, locale, resident, now)
            reply = self.render(locale, decision.replies, order=order)
            await db.conversations.touch_inbound(s, inbound_id, response=reply,
                                                 order_id=order.id if order else None)
            confirmed = order is not None and order.status == "confirmed"
        return reply, confirmed, db.outbox.queued_in(s)

    async def _apply_order(self, s: AsyncSession, new: conv.NewOrder, phone: str, locale: str,
                           resident: Any, now: datetime) -> Order:
        if new.append_to_open_review:
            open_order = await db.conversations.open_review_order(
                s, phone, CHANNEL, since=now - self.rules.ttl)
            if open_order is not None:
                open_order.transcript = "\n".join(
                    t for t in (open_order.transcript, new.transcript) if t)
                open_order.updated_at = now
                return open_order
        order = await db.orders.create(
            s, channel=CHANNEL, phone=phone, status=new.status, actor=ACTOR, items=new.items,
            locale=locale, resident=resident, transcript=new.transcript, reason=new.reason)
        await announce_created(s, order, self.services.listeners)
        return order

    async def _fail_safe(self, inbound_id: int, phone: str, body: str) -> str:
        """Processing failed: keep the text as an order for an operator and apologise."""
        locale = guess_locale(phone, self.settings.default_locale)
        reply = self._render_one(locale, "error")
        try:
            async with self._tx() as s:
                done, response = await db.conversations.answered(s, inbound_id)
                if done:
                    return response or ""
                order = await db.orders.create(
                    s, channel=CHANNEL, phone=phone, status="needs_review", actor=ACTOR,
                    locale=locale, transcript=body, reason="the text could not be processed")
                await db.conversations.touch_inbound(s, inbound_id, response=reply,
                                                     order_id=order.id)
        except Exception:  # the database is down: the stored text is answered by the sweeper
            log.exception("SMS %s: could not record the failure either", inbound_id)
        return reply

    # --- replies -------------------------------------------------------------------------------

    def _render_one(self, locale: str, name: str, **ctx: Any) -> str:
        ctx.setdefault("notice", "")
        ctx.setdefault("ttl_minutes", self.settings.draft_ttl_minutes)
        text = self.services.templates.render(locale, f"sms/{name}.j2", **ctx)
        return sms_text.truncate(text, MAX_REPLY_PARTS)

    def render(self, locale: str, replies: tuple[conv.Reply, ...], *,
               order: Order | None = None) -> str:
        """The replies as one text within MAX_REPLY_PARTS parts; item lists are summarised."""
        if not replies:
            return ""
        t = self.services.templates
        sep = SEPARATOR.get(locale, " ")
        notice = sep.join(self._render_one(locale, r.template, **r.context) for r in replies[:-1])
        main = replies[-1]
        ctx: dict[str, Any] = dict(main.context, notice=notice + sep if notice else "",
                                   order=order, ttl_minutes=self.settings.draft_ttl_minutes)
        items = ctx.pop("items", None)
        if items is None:
            return self._render_one(locale, main.template, **ctx)
        lines = [t.render(locale, "sms/item.j2", item=i) for i in items]
        template = t.get(locale, f"sms/{main.template}.j2")
        return sms_text.fit_items(
            lambda shown, total: template.render(locale=locale, shown=list(shown), total=total,
                                                 **ctx).strip(),
            lines, max_parts=MAX_REPLY_PARTS)

    # --- background ----------------------------------------------------------------------------

    async def sweep_once(self, now: datetime | None = None) -> dict[str, int]:
        """Expire drafts whose time ran out (texting the resident) and answer stored texts that
        were never processed. Returns counts for logs and tests."""
        now = now or utcnow()
        expired = 0
        async with self._tx() as s:
            for row in await db.conversations.expired_drafts(s, CHANNEL, now):
                state = conv.State.from_json(row.state, row.draft, row.failures, row.expires_at)
                db.conversations.save(row, state="idle", draft=conv.expire(state).draft_json(),
                                      failures=0, expires_at=None)
                resident = await db.people.resident_by_phone(s, row.key)
                if resident is None or resident.opted_out:
                    continue
                key = f"sms:draft-expired:{row.id}:{state.expires_at.isoformat()}" \
                    if state.expires_at else f"sms:draft-expired:{row.id}:{now.isoformat()}"
                await db.outbox.enqueue(
                    s, channel=CHANNEL, recipient=row.key, idempotency_key=key,
                    body=self._render_one(normalize_locale(resident.locale), "draft_expired_sms"),
                    payload={"conversation_id": row.id, "kind": "draft_expired"})
                expired += 1
        answered = 0
        async with self.services.db.session() as s:
            stale = [(m.id, m.phone or "", m.body)
                     for m in await db.conversations.unprocessed(s, CHANNEL, now - STALE_AFTER)]
        for inbound_id, phone, body in stale:
            reply = await self.process(inbound_id, phone, body)
            if reply and phone.startswith("+"):
                async with self._tx() as s:
                    await db.outbox.enqueue(s, channel=CHANNEL, recipient=phone, body=reply,
                                            idempotency_key=f"sms:late-reply:{inbound_id}",
                                            payload={"inbound_id": inbound_id})
            answered += 1
        if expired or answered:
            self.services.outbox.wake()
        return {"expired": expired, "answered": answered}

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be restarting
                log.exception("SMS sweep failed; trying again later")

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sms-sweeper")
        yield
        self._sweeper.cancel()
        try:
            await self._sweeper
        except asyncio.CancelledError:
            pass


def _facts(order: Order) -> conv.OrderFacts:
    return conv.OrderFacts(order.id, order.status, tuple(conv.Item.of(i) for i in order.items))


SMS = web.AppKey("sms", SmsGateway)


async def inbound_sms(request: web.Request) -> web.Response:
    services = services_of(request)
    form = await verified_form(request, services.settings)
    msg = InboundSms.from_form(form)
    try:
        reply = await request.app[SMS].receive(msg)
    except Unavailable:  # stored, or not even stored: Twilio's retry is safe either way
        raise web.HTTPServiceUnavailable(text="try again later") from None
    except Exception:  # not even stored: let Twilio log the failure and use its fallback URL
        log.exception("could not store SMS %s", msg.sid)
        raise web.HTTPServiceUnavailable(text="try again later") from None
    return twiml_response(twiml(reply))


def setup(app: web.Application) -> None:
    """Register POST /twilio/sms, the sweeper and the outbound SMS sender (Twilio enabled only)."""
    services = app[SERVICES]
    settings = services.settings
    if not settings.twilio_enabled:
        return
    gateway = SmsGateway(services)
    app[SMS] = gateway
    app.router.add_post("/twilio/sms", inbound_sms)
    app.cleanup_ctx.append(gateway.lifecycle)
    from gateway.telephony import twilio_rest

    twilio_rest.register(app, services)
