"""Twilio SMS adapter: POST /twilio/sms → validate, store raw, run the conversation, answer TwiML.

Webhook hygiene: the signature is checked before anything is read into the database; the text
is stored raw (unique on MessageSid) in its own transaction before any work, so a retry of the
same MessageSid gets the stored answer and changes nothing. The conversation itself is
`gateway.conversation.sms.decide`; this module only loads its facts and applies its decision.
A background sweeper expires drafts (with a text saying so) and answers, through the outbox,
any stored text whose processing never finished.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Mapping
from xml.sax.saxutils import escape

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

import db.conversations
import db.orders
import db.outbox
import db.people
from db import hotpath
from db.hotpath import HotPath
from db.models import Order, utcnow
from db.session import is_unavailable
from gateway.conversation import reply_text as sms_text
from gateway.conversation import sms as conv
from gateway.orders.events import announce_created
from gateway.orders.pricing import PriceBook, money, order_total
from gateway.errors import Unavailable
from gateway.language.locales import normalize_locale
from gateway.services import SERVICES, Services, services_of
from gateway.channels.twilio.signature import twiml_response, verified_form

log = logging.getLogger(__name__)

CHANNEL = "sms"
ACTOR = "resident:sms"
RATE_WINDOW = timedelta(minutes=10)
MAX_REPLY_PARTS = 3
SWEEP_SECONDS = 30.0
STALE_AFTER = timedelta(minutes=2)  # a stored text not answered by then is answered by SMS
SEPARATOR = {"zh-CN": "", "ko-KR": " "}
STEPS = "doorstep_sms_steps_total"  # by stage (store, answer), path (hot, orm), why not hot


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

    def _hot(self) -> HotPath | None:
        return self.services.db.hot if self.settings.sms_hot_path else None

    @asynccontextmanager
    async def _orm_inbound(self) -> AsyncIterator[_OrmInbound]:
        async with self._tx() as s:
            yield _OrmInbound(s)

    @asynccontextmanager
    async def _hot_inbound(self) -> AsyncIterator[HotPath]:
        hot = self._hot()
        assert hot is not None
        if self._sqlite_writer is None:
            yield hot
            return
        async with self._sqlite_writer:
            yield hot

    async def receive(self, msg: InboundSms) -> str:
        """Store the text, then answer it; the reply text ("" for none)."""
        body = sms_text.clean(msg.body)
        stored: db.conversations.Stored | str | None = None
        why = "off"
        if self._hot() is not None:
            try:
                stored = await self._store(self._hot_inbound, msg, body)
                self.services.metrics.inc(STEPS, stage="store", path="hot", why="")
            except hotpath.Disconnected as exc:
                log.warning("SMS %s: storing on the hot path failed (%s); using the ORM path",
                            msg.sid, exc)
                why = "disconnected"
        if stored is None:
            stored = await self._store(self._orm_inbound, msg, body)
            self.services.metrics.inc(STEPS, stage="store", path="orm", why=why)
        if isinstance(stored, str):
            return stored
        return await self.process(stored.id, msg.phone, body, prefetched=stored.prefetched)

    async def _store(self, inbound: Any, msg: InboundSms, body: str
                     ) -> db.conversations.Stored | str:
        """Store the text raw: what was stored, or the answer when there is one already (a
        retry of a text answered before) or at once (rate limit, size limit)."""
        limit = self.settings.sms_rate_limit
        async with inbound() as st:
            stored = await st.store_inbound(channel=CHANNEL, vendor_id=msg.sid, phone=msg.phone,
                                            body=body, raw=msg.raw,
                                            rate_window=RATE_WINDOW if limit else None)
            if stored.processed_at is not None:
                return stored.response or ""
            early: str | None = None
            n = stored.recent  # counted for a new text when there is a limit
            if n is not None and n > limit:  # say it once per window, then stay quiet
                early = self._render_one(await self._locale_of(st, msg.phone),
                                         "rate_limited") if n == limit + 1 else ""
            if early is None and len(body) > self.settings.sms_max_body:
                early = self._render_one(await self._locale_of(st, msg.phone), "too_long")
            if early is not None:
                await st.touch_inbound(stored.id, response=early, order_id=None)
                return early
        return stored

    async def _locale_of(self, st: Any, phone: str) -> str:
        locale = await st.resident_locale(phone)
        return normalize_locale(locale) if locale else \
            guess_locale(phone, self.settings.default_locale)

    async def process(self, inbound_id: int, phone: str, body: str, *,
                      prefetched: db.conversations.Loaded | None = None) -> str:
        """Run the conversation for a stored text. A failure is kept for a person, except the
        database being away, which raises Unavailable (the stored text is processed again).
        `prefetched`: the conversation as read when the text was stored, if it was."""
        try:
            async with self._number(phone):
                reply, confirmed, queued = await self._process(inbound_id, phone, body,
                                                               prefetched)
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

    @asynccontextmanager
    async def _orm_step(self) -> AsyncIterator[_OrmStep]:
        async with self._tx() as s:
            yield _OrmStep(s)

    def _hot_step(self, prefetched: db.conversations.Loaded | None) -> Any:
        @asynccontextmanager
        async def step() -> AsyncIterator[_HotStep]:
            async with self._hot_inbound() as hot:
                async with hot.transaction() as tx:
                    yield _HotStep(tx, prefetched)
        return step

    async def _process(self, inbound_id: int, phone: str, body: str,
                       prefetched: db.conversations.Loaded | None = None
                       ) -> tuple[str, bool, bool]:
        """(reply, whether an order was confirmed, whether the outbox got a message). A plain
        text (no carrier keyword) goes the hot path; what that cannot do (orders, status,
        repeat, unknown senders) rolls it back and goes the ORM path."""
        metrics = self.services.metrics
        if self._hot() is None:
            why = "off"
        elif conv.keyword(body) is not None:
            why = "keyword"
        else:
            try:
                done = await self._step(self._hot_step(prefetched), inbound_id, phone, body)
                metrics.inc(STEPS, stage="answer", path="hot", why="")
                return done
            except _NeedsSession as exc:
                why = exc.why
            except hotpath.Conflict:
                why = "conflict"
            except hotpath.Disconnected as exc:
                log.warning("SMS %s: the hot path lost its connection (%s); using the ORM path",
                            inbound_id, exc)
                why = "disconnected"
        done = await self._step(self._orm_step, inbound_id, phone, body)
        metrics.inc(STEPS, stage="answer", path="orm", why=why)
        return done

    async def _step(self, open_step: Any, inbound_id: int, phone: str,
                    body: str) -> tuple[str, bool, bool]:
        now = utcnow()
        guessed = guess_locale(phone, self.settings.default_locale)
        prices = await self._prices()
        async with open_step() as step:
            loaded = await step.load(phone, inbound_id, guessed)
            row = loaded.row
            if row.answered:
                return row.answer or "", False, False  # a concurrent retry answered it
            known = loaded.resident_locale is not None
            locale = normalize_locale(loaded.resident_locale) if known else guessed
            state = conv.State.from_json(row.state, row.draft, row.failures, row.expires_at)
            opted_out = loaded.resident_opted_out if known else state.opted_out
            parsed = None
            if known and not opted_out and conv.keyword(body) is None:
                parsed = conv.Parsed.of((await step.language(self.services, locale)).parse(body))
            latest = last = None
            need = conv.needs(parsed)
            if need == "latest":
                o = await db.orders.latest_for_phone(step.session(), phone)
                latest = _facts(o) if o is not None and o.status != "draft" else None
            elif need == "repeat" or need == "last":
                o = await db.conversations.last_order_with_items(step.session(), phone)
                last = _facts(o) if o is not None else None
            decision = conv.decide(state, conv.Inbound(
                text=body, now=now, known=known, parsed=parsed,
                resident_opted_out=loaded.resident_opted_out, latest=latest, last=last),
                self.rules)
            order = None
            if decision.opt_out is not None and known:
                step.set_opted_out(decision.opt_out)
            if decision.order is not None:
                order = await self._apply_order(step.session(), decision.order, phone, locale,
                                                step.resident(), now)
            reply = self.render(locale, decision.replies, order=order, prices=prices)
            new = decision.state
            await step.finish(row, state=new.state, draft=new.draft_json(),
                              failures=new.failures, expires_at=new.expires_at, locale=locale,
                              inbound_id=inbound_id, response=reply,
                              order_id=order.id if order else None)
            confirmed = order is not None and order.status == "confirmed"
        return reply, confirmed, step.queued()

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

    async def _prices(self) -> PriceBook | None:
        """The catalogue's prices for read-backs (None when the database cannot say)."""
        try:
            return await self.services.prices.get(self.services.db)
        except Exception:  # the text is still answered, without a total
            log.warning("no prices for the read-back", exc_info=True)
            return None

    def render(self, locale: str, replies: tuple[conv.Reply, ...], *,
               order: Order | None = None, prices: PriceBook | None = None) -> str:
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
        # The amount: the kept prices of a confirmed order, or today's for a draft.
        ctx.setdefault("amount", money(order_total(order)) if order is not None and order.items
                       else money(prices.total(items)) if prices is not None else None)
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


class _NeedsSession(Exception):
    """The hot path cannot take this text (it needs an order, a fact or a resident object)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _OrmInbound:
    """The storing step's statements on an ORM session (one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def store_inbound(self, *, rate_window: timedelta | None = None,
                            **kw: Any) -> db.conversations.Stored:
        stored = await db.conversations.store_inbound(self.s, **kw)
        if not stored.new or rate_window is None:
            return stored
        return replace(stored, recent=await db.conversations.recent_count(
            self.s, kw["channel"], kw["phone"], rate_window))

    async def resident_locale(self, phone: str) -> str | None:
        resident = await db.people.resident_by_phone(self.s, phone)
        return resident.locale if resident is not None else None

    async def touch_inbound(self, inbound_id: int, *, response: str | None,
                            order_id: int | None) -> None:
        await db.conversations.touch_inbound(self.s, inbound_id, response=response,
                                             order_id=order_id)


class _OrmStep:
    """One conversation step on an ORM session: everything a text can ask for."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session
        self._resident: Any = None

    async def load(self, phone: str, inbound_id: int, guessed: str) -> db.conversations.Loaded:
        self._resident = r = await db.people.resident_by_phone(self.s, phone)
        locale = normalize_locale(r.locale) if r is not None else guessed
        row = await db.conversations.lock_row(self.s, CHANNEL, phone, locale=locale,
                                              inbound_id=inbound_id)
        return db.conversations.Loaded(row, r.locale if r is not None else None,
                                       bool(r.opted_out) if r is not None else False)

    async def language(self, services: Services, locale: str) -> Any:
        return await services.languages.get(self.s, locale)

    def session(self) -> AsyncSession:
        return self.s

    def resident(self) -> Any:
        return self._resident

    def set_opted_out(self, value: bool) -> None:
        self._resident.opted_out = value

    async def finish(self, row: db.conversations.ConversationRow, *, inbound_id: int,
                     response: str, order_id: int | None, **state: Any) -> None:
        await db.conversations.save_row(self.s, row.id, **state)
        await db.conversations.touch_inbound(self.s, inbound_id, response=response,
                                             order_id=order_id)

    def queued(self) -> bool:
        return db.outbox.queued_in(self.s)


class _HotStep:
    """One conversation step on the hot path: a plain text from a registered resident that
    changes the draft; anything else raises _NeedsSession (the transaction rolls back)."""

    def __init__(self, tx: hotpath.HotTransaction,
                 prefetched: db.conversations.Loaded | None = None) -> None:
        self.tx, self.prefetched = tx, prefetched

    async def load(self, phone: str, inbound_id: int, guessed: str) -> db.conversations.Loaded:
        loaded = self.prefetched or await self.tx.load(CHANNEL, phone, locale=guessed,
                                                       inbound_id=inbound_id)
        if loaded.resident_locale is None or loaded.resident_opted_out:
            raise _NeedsSession("sender")  # kept as an order for an operator
        return loaded

    async def language(self, services: Services, locale: str) -> Any:
        language = services.languages.cached(locale, services.db)
        if language is None:
            raise _NeedsSession("catalogue")  # not compiled yet, or the catalogue changed
        return language

    def session(self) -> AsyncSession:
        raise _NeedsSession("orders")  # an order to make, or one to look up

    def resident(self) -> Any:
        raise _NeedsSession("orders")

    def set_opted_out(self, value: bool) -> None:
        raise _NeedsSession("opt-out")

    async def finish(self, row: db.conversations.ConversationRow, *, inbound_id: int,
                     response: str, order_id: int | None, **state: Any) -> None:
        await self.tx.finish(row, inbound_id=inbound_id, response=response, **state)

    def queued(self) -> bool:
        return False


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
    services.metrics.describe(STEPS, "counter", "SMS steps (store, answer) by path (hot: the "
                              "bare driver; orm: the session) and why a step was not hot")
    app.router.add_post("/twilio/sms", inbound_sms)
    app.cleanup_ctx.append(gateway.lifecycle)
    from gateway.channels.twilio import rest as twilio_rest

    twilio_rest.register(app, services)
