"""Twilio SMS adapter: POST /twilio/sms → validate, store raw, run the conversation, answer TwiML.

Webhook hygiene: the signature is checked before anything is read into the database; the text
is stored raw (unique on MessageSid) in its own transaction before any work, so a retry of the
same MessageSid gets the stored answer and changes nothing. The conversation itself is
`gateway.conversation.sms.decide`; this module only loads its facts and applies its decision.
Storage is `db.sms_store`'s protocol: each part is tried on the bare driver first and done on
the ORM session when that raises (docs/reliability.md). A background sweeper expires drafts
(with a text saying so) and answers, through the outbox, any stored text whose processing never
finished.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

import db.conversations
import db.inbound
import db.orders
import db.outbox
import db.people
import db.proxies
import db.standing
from db import sms_store
from db.models import Order, utcnow
from db.session import is_unavailable
from gateway.channels.twilio.signature import twiml_response, verified_form
from gateway.conversation import reply_text as sms_text
from gateway.conversation import sms as conv
from gateway.errors import Unavailable
from gateway.language.locales import normalize_locale
from gateway.observe.periodic import cancel, repeat
from gateway.orders import fulfilment, proxies, standing
from gateway.orders.events import announce_created
from gateway.orders.pricing import PriceBook, money, order_total
from gateway.services import SERVICES, Services, services_of

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
        self.store = sms_store.SmsStore(services.db, channel=CHANNEL,
                                        bare=self.settings.sms_hot_path,
                                        normalize=normalize_locale)
        self._sweeper: asyncio.Task[None] | None = None
        self.standing = standing.Standing.of(services)

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

    def _tx(self) -> Any:
        """A write transaction on the ORM session (on SQLite one at a time)."""
        return self.store.transaction()

    # --- inbound -------------------------------------------------------------------------------

    async def receive(self, msg: InboundSms) -> str:
        """Store the text, then answer it; the reply text ("" for none)."""
        body = sms_text.clean(msg.body)
        stored: sms_store.Stored | str | None = None
        why = "off"
        if self.store.driver is not None:
            try:
                stored = await self._store(True, msg, body)
                self.services.metrics.inc(STEPS, stage="store", path="hot", why="")
            except sms_store.Disconnected as exc:
                log.warning("SMS %s: storing on the hot path failed (%s); using the ORM path",
                            msg.sid, exc)
                why = "disconnected"
        if stored is None:
            stored = await self._store(False, msg, body)
            self.services.metrics.inc(STEPS, stage="store", path="orm", why=why)
        if isinstance(stored, str):
            return stored
        return await self.process(stored.id, msg.phone, body, prefetched=stored.prefetched)

    async def _store(self, bare: bool, msg: InboundSms, body: str) -> sms_store.Stored | str:
        """Store the text raw: what was stored, or the answer when there is one already (a
        retry of a text answered before) or at once (rate limit, size limit)."""
        limit = self.settings.sms_rate_limit
        async with self.store.intake(bare=bare) as st:
            stored = await st.store(channel=CHANNEL, vendor_id=msg.sid, phone=msg.phone,
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
                await st.answer(stored.id, response=early, order_id=None)
                return early
        return stored

    async def _locale_of(self, st: sms_store.Intake, phone: str) -> str:
        locale = await st.resident_locale(phone)
        return normalize_locale(locale) if locale else \
            guess_locale(phone, self.settings.default_locale)

    async def process(self, inbound_id: int, phone: str, body: str, *,
                      prefetched: sms_store.Loaded | None = None) -> str:
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

    async def _process(self, inbound_id: int, phone: str, body: str,
                       prefetched: sms_store.Loaded | None = None
                       ) -> tuple[str, bool, bool]:
        """(reply, whether an order was confirmed, whether the outbox got a message). A plain
        text (no carrier keyword) goes the hot path; what that cannot do (orders, status,
        repeat, unknown senders) rolls it back and goes the ORM path."""
        metrics = self.services.metrics
        if self.store.driver is None:
            why = "off"
        elif conv.keyword(body) is not None:
            why = "keyword"
        else:
            try:
                done = await self._step(True, inbound_id, phone, body, prefetched)
                metrics.inc(STEPS, stage="answer", path="hot", why="")
                return done
            except sms_store.NeedsSession as exc:
                why = exc.why
            except sms_store.Conflict:
                why = "conflict"
            except sms_store.Disconnected as exc:
                log.warning("SMS %s: the hot path lost its connection (%s); using the ORM path",
                            inbound_id, exc)
                why = "disconnected"
        done = await self._step(False, inbound_id, phone, body)
        metrics.inc(STEPS, stage="answer", path="orm", why=why)
        return done

    async def _step(self, bare: bool, inbound_id: int, phone: str, body: str,
                    prefetched: sms_store.Loaded | None = None) -> tuple[str, bool, bool]:
        now = utcnow()
        guessed = guess_locale(phone, self.settings.default_locale)
        prices = await self._prices()
        async with self.store.step(bare=bare, prefetched=prefetched) as step:
            loaded = await step.load(phone, inbound_id, guessed)
            row = loaded.row
            if row.answered:
                return row.answer or "", False, False  # a concurrent retry answered it
            known = loaded.resident_locale is not None
            locale = normalize_locale(loaded.resident_locale) if known else guessed
            state = conv.State.from_json(row.state, row.draft, row.failures, row.expires_at)
            opted_out = loaded.resident_opted_out if known else state.opted_out
            # A family member or carer ordering for a resident (gateway.orders.proxies).
            # (`_for`: the live draft is for a resident the sender looks after)
            live = {} if conv.expired(state, now) else (row.draft or {})
            if bare and (not known or proxies.named(body) is not None
                         or live.get("_for") is not None):
                raise sms_store.NeedsSession("proxy")
            # Standing orders' answers, pause and stop, 每周二一样 (gateway.orders.standing).
            # (A 1 confirming a live draft needs the session anyway, to make the order.)
            if bare and standing.concerns(body) and not (
                    body.strip() in ("1", "１") and state.state == conv.DRAFT and state.items
                    and not conv.expired(state, now)):
                raise sms_store.NeedsSession("standing")
            target = acting = None
            order_phone = phone
            if not bare:
                early = await self._standing_early(step, row, phone, body, state, known,
                                                   locale, now, inbound_id, prices)
                if early is not None:
                    return early
                target, acting, body, menu = await self._proxy(step.session(), phone, body,
                                                               known, live)
                if menu is not None:
                    await step.finish(row, state=conv.IDLE, draft=menu[1], failures=0,
                                      expires_at=now + self.rules.ttl, locale=menu[2],
                                      inbound_id=inbound_id, response=menu[0], order_id=None)
                    return menu[0], False, step.queued()
                if target is not None:
                    if live.get("_for") != target.id:
                        state = conv.State()  # another resident now: a fresh draft
                    known, order_phone = True, target.phone
                    locale = normalize_locale(target.locale)
                    opted_out = False
                said = standing.phrase(body) if known and not opted_out else None
                if said is not None:
                    reply = await self._standing_set(step, said, body, phone, order_phone,
                                                     target or step.resident(), acting, locale,
                                                     now)
                    await self._finish_as_is(step, row, locale, inbound_id, reply)
                    return reply, False, step.queued()
            parsed = None
            if known and not opted_out and conv.keyword(body) is None:
                parsed = conv.Parsed.of((await self._language(step, locale)).parse(body))
            latest = last = None
            need = conv.needs(parsed)
            if need == "latest":
                o = await db.orders.latest_for_phone(step.session(), order_phone)
                latest = _facts(o) if o is not None and o.status != "draft" else None
            elif need == "repeat" or need == "last":
                o = await db.conversations.last_order_with_items(step.session(), order_phone)
                last = _facts(o) if o is not None else None
            short = await self._out_of_stock(step, known, state, parsed, last, target)
            decision = conv.decide(state, conv.Inbound(
                text=body, now=now, known=known, parsed=parsed,
                resident_opted_out=loaded.resident_opted_out, latest=latest, last=last,
                out_of_stock=short), self.rules)
            order = None
            if decision.opt_out is not None and known and target is None:
                step.set_opted_out(decision.opt_out)
            if decision.order is not None:
                order = await self._apply_order(step.session(), decision.order, order_phone,
                                                locale, target or step.resident(), now,
                                                proxy=acting)
            fulfil = await self._fulfil(step, known, decision.replies, order, now, target)
            reply = self.render(locale, decision.replies, order=order, prices=prices,
                                fulfil=fulfil)
            new = decision.state
            draft = new.draft_json()
            if target is not None and new.state == conv.DRAFT:
                draft["_for"] = target.id  # the next text of this draft is for them too
            await step.finish(row, state=new.state, draft=draft,
                              failures=new.failures, expires_at=new.expires_at, locale=locale,
                              inbound_id=inbound_id, response=reply,
                              order_id=order.id if order else None)
            confirmed = order is not None and order.status == "confirmed"
        return reply, confirmed, step.queued()

    async def _proxy(self, s: AsyncSession, phone: str, body: str, known: bool,
                     draft: dict[str, Any]) -> tuple[Any, Any, str, tuple[str, dict[str, Any], str] | None]:
        """(resident, proxy row, the text to read, menu): whom a proxy's text is for. The
        menu (reply, draft, locale) asks which resident when that is not clear."""
        rows = list(await db.proxies.by_phone(s, phone))
        if not rows:
            return None, None, body, None
        by_resident = {p.resident_id: p for p in rows}
        said = proxies.named(body)
        if said is not None:
            p = proxies.match(rows, said.who)
            if p is not None:
                return p.resident, p, said.rest, None
            if known:
                return None, None, body, None
            body = said.rest
        elif draft.get("_for") in by_resident:  # a draft under way for someone they look after
            p = by_resident[draft["_for"]]
            return p.resident, p, body, None
        elif known:
            return None, None, body, None  # a resident orders for themselves
        elif draft.get("_choose"):
            chosen = proxies.choice(body, draft["_choose"])
            if chosen in by_resident:
                p = by_resident[chosen]
                return p.resident, p, str(draft.get("_pending") or body), None
        if len(rows) == 1:
            return rows[0].resident, rows[0], body, None
        locale = normalize_locale(rows[0].resident.locale)
        menu = self._render_one(locale, "proxy_choose",
                                options=[proxies.label(p) for p in rows])
        return None, None, body, (menu, {"_choose": [p.resident_id for p in rows],
                                         "_pending": body}, locale)

    # --- standing orders -------------------------------------------------------------------

    async def _finish_as_is(self, step: sms_store.Step, row: sms_store.ConversationRow,
                            locale: str, inbound_id: int, reply: str,
                            order_id: int | None = None) -> None:
        """Answer the text and leave the conversation (a draft, a menu) as it was."""
        await step.finish(row, state=row.state, draft=row.draft or {}, failures=row.failures,
                          expires_at=row.expires_at, locale=locale, inbound_id=inbound_id,
                          response=reply, order_id=order_id)

    async def _standing_early(self, step: sms_store.Step, row: sms_store.ConversationRow,
                              phone: str, body: str, state: conv.State, known: bool,
                              locale: str, now: datetime, inbound_id: int,
                              prices: PriceBook | None) -> tuple[str, bool, bool] | None:
        """A `1`/`2` answering a standing order's question, or 暂停/停止/继续 for the sender's
        standing orders (as a resident, or for the residents they look after); None: the
        text is for the conversation."""
        said, ctl = standing.answer(body), standing.control(body)
        if said is None and ctl is None:
            return None
        s = step.session()
        order = None
        if said is not None:
            rounds = await db.standing.open_for(s, phone, now)
            if not rounds or not conv.answers_question(
                    state, rounds[0][0].asked_at, now, self.rules,
                    menu=bool((row.draft or {}).get("_choose"))):
                return None
            rnd, so = rounds[0]
            loc = self.standing.locale(so)
            if said == "confirm":
                order = await self.standing.confirm(s, rnd, so, by=f"sms:{phone}", actor=ACTOR,
                                                    now=now)
                if order is None:
                    return None  # decided meanwhile (its deadline): the text is the chat's
                replies = (conv.Reply("confirmed",
                                      {"items": [conv.Item.of(i) for i in order.items]}),)
                fulfil = await self._fulfil(step, True, replies, order, now, so.resident)
                reply = self.render(loc, replies, order=order, prices=prices, fulfil=fulfil)
            elif await self.standing.skip(s, rnd, by=f"sms:{phone}", now=now):
                reply = self._render_one(loc, "standing_skipped", so=so, day=rnd.day)
            else:
                return None
            if len(rounds) > 1:  # the next question, answered by the next text
                nxt, nso = rounds[1]
                reply = sms_text.truncate(
                    reply + SEPARATOR.get(loc, " ") + await self.standing.ask_text(s, nso, nxt),
                    MAX_REPLY_PARTS)
        else:
            if not known and not await db.proxies.by_phone(s, phone):
                return None  # a stranger's text: kept for an operator as any other
            to = standing.STATUS_OF[str(ctl)]
            rows = list(await db.standing.of_sender(s, phone, standing.APPLIES_TO[str(ctl)]))
            loc = self.standing.locale(rows[0]) if rows and not known else locale
            for so in rows:
                await self.standing.set_status(s, so, to, by=f"sms:{phone}", now=now)
            reply = self._render_one(loc, f"standing_{to if to != 'active' else 'resumed'}",
                                     orders=rows) if rows \
                else self._render_one(loc, "standing_none", paused=ctl == "resume")
        await self._finish_as_is(step, row, locale, inbound_id, reply,
                                 order.id if order is not None else None)
        return reply, order is not None, step.queued()

    async def _standing_set(self, step: sms_store.Step, said: standing.Phrase, body: str,
                            phone: str, order_phone: str, resident: Any, proxy: Any,
                            locale: str, now: datetime) -> str:
        """每周二一样 (the last order's goods) or 每周二：大米两袋: a standing order for the
        resident, set by them or by their proxy. The reply says what and when."""
        s = step.session()
        items: Any = ()
        if said.goods:
            parsed = conv.Parsed.of((await self._language(step, locale)).parse(said.goods))
            items = parsed.items
            if not items:
                return self._render_one(locale, "standing_not_understood",
                                        unmatched=list(parsed.unmatched))
        else:
            last = await db.conversations.last_order_with_items(s, order_phone)
            items = last.items if last is not None else ()
            if not items:
                return self._render_one(locale, "standing_nothing")
        so = await self.standing.create(s, resident=resident, proxy=proxy, items=items,
                                        when=said, text=body, created_by=f"sms:{phone}",
                                        now=now)
        first = standing.next_days(so, so.start_date)[0] if so.weekday is not None else None
        return self._render_one(locale, "standing_created", so=so, first=first,
                                who=proxies.label(proxy) if proxy is not None else "")

    async def _fulfil(self, step: sms_store.Step, known: bool, replies: tuple[conv.Reply, ...],
                      order: Order | None, now: datetime, who: Any = None
                      ) -> dict[str, Any] | None:
        """What a read-back or confirmation says about a village run or pickup point (None:
        a leader brings it, as the templates say anyway). Read only while runs or points exist."""
        if not known or not replies or replies[-1].template not in ("readback", "confirmed") \
                or not await self.services.runs_active.active(self.services.db):
            return None
        return await fulfilment.tell_for(step.session(), ZoneInfo(self.settings.console_timezone),
                                         resident=who or step.resident(), order=order, now=now)

    async def _out_of_stock(self, step: sms_store.Step, known: bool, state: conv.State,
                            parsed: conv.Parsed | None, last: conv.OrderFacts | None,
                            who: Any = None) -> frozenset[str]:
        """The skus out of stock in the sender's village, when the read-back may name one."""
        if not known:
            return frozenset()
        outs = await self.services.stock.read(self.services.db)
        if outs is None:
            return frozenset()
        marked = {sku for sku, _ in outs.marks}
        skus = {i.sku for i in state.items} | {i.sku for i in (parsed.items if parsed else ())} \
            | {i.sku for i in (last.items if last else ())}
        if not marked & skus:
            return frozenset()
        resident = who or step.resident()  # NeedsSession on the hot path: the ORM path then
        return outs.out_for(resident.village if resident is not None else "")

    async def _language(self, step: sms_store.Step, locale: str) -> Any:
        """The locale's compiled order language; a bare step takes only one compiled already."""
        languages = self.services.languages
        if step.bare:
            language = languages.cached(locale, self.services.db)
            if language is None:  # not compiled yet, or the catalogue changed
                raise sms_store.NeedsSession("catalogue")
            return language
        return await languages.get(step.session(), locale)

    async def _apply_order(self, s: AsyncSession, new: conv.NewOrder, phone: str, locale: str,
                           resident: Any, now: datetime, proxy: Any = None) -> Order:
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
        if proxy is not None:  # ordered by a family member or carer: they are told too
            order.proxy_id, order.proxy = proxy.id, proxy
        await announce_created(s, order, self.services.listeners)
        return order

    async def _fail_safe(self, inbound_id: int, phone: str, body: str) -> str:
        """Processing failed: keep the text as an order for an operator and apologise."""
        locale = guess_locale(phone, self.settings.default_locale)
        reply = self._render_one(locale, "error")
        try:
            async with self._tx() as s:
                done, response = await db.inbound.answered(s, inbound_id)
                if done:
                    return response or ""
                order = await db.orders.create(
                    s, channel=CHANNEL, phone=phone, status="needs_review", actor=ACTOR,
                    locale=locale, transcript=body, reason="the text could not be processed")
                await db.inbound.answer(s, inbound_id, response=reply, order_id=order.id)
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
               order: Order | None = None, prices: PriceBook | None = None,
               fulfil: dict[str, Any] | None = None) -> str:
        """The replies as one text within MAX_REPLY_PARTS parts; item lists are summarised."""
        if not replies:
            return ""
        t = self.services.templates
        sep = SEPARATOR.get(locale, " ")
        notice = sep.join(self._render_one(locale, r.template, **r.context) for r in replies[:-1])
        main = replies[-1]
        ctx: dict[str, Any] = dict(main.context, notice=notice + sep if notice else "",
                                   order=order, ttl_minutes=self.settings.draft_ttl_minutes,
                                   f=fulfil)
        items = ctx.pop("items", None)
        if items is None:
            return self._render_one(locale, main.template, **ctx)
        # The amount: the kept prices of a confirmed order, or today's for a draft (without
        # goods out of stock: those come, and are paid, later).
        short = {i.sku for i in ctx.get("short") or ()}
        ctx.setdefault("amount", money(order_total(order)) if order is not None and order.items
                       else money(prices.total([i for i in items if i.sku not in short]))
                       if prices is not None else None)
        if order is not None:
            ctx.setdefault("waiting", [it for it in order.items if it.backorder == "waiting"])
            ctx.setdefault("supported", bool(order.supported))
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
                     for m in await db.inbound.unprocessed(s, CHANNEL, now - STALE_AFTER)]
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

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        self._sweeper = asyncio.create_task(repeat(self.sweep_once, SWEEP_SECONDS, "SMS sweep"),
                                            name="sms-sweeper")
        yield
        await cancel(self._sweeper)


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
