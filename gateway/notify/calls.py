"""Outbound calls, the domain: callbacks after missed calls, spoken notices about orders.

Each `VoiceCall` is tried up to `max_tries` times (`call_retry_minutes` apart), each try one
outbox row on channel "call" (key `call:<id>:<try>`, due at the try's time), so a restart or a
vendor outage delays a try but loses none, and the outbox's claim keeps two gateways from
placing one try twice. A try is never due inside the quiet hours: it waits for their end.
Twilio's status callback ends a try (`ended`), a key 1 during a notice makes it `heard`.

A notice to someone who takes calls only keeps its text in the outbox, held (due later than
the next try): a heard notice settles it (recorded as delivered by the call), a notice nobody
heard releases it, and operators are told. The held row carries the text's own idempotency key
(`order:<id>:event:<id>:sms`), so whatever looks for "was the resident told" still finds it.

No web, Telegram or Twilio imports: the Twilio channel (gateway.channels.twilio.calls) places
the calls and turns webhooks into calls of this module.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

import db.outbox
from db.models import Order, Outbox, Resident, VoiceCall, utcnow
from gateway.settings import Settings
from gateway.templates import Templates

log = logging.getLogger(__name__)

CHANNEL = "call"  # the outbox channel of outbound call tries
# Calls that say something and may hold a text back for when nobody hears: a notice ("press 1
# if you heard this") and a question (a standing order's "press 1 as usual, 2 to skip").
SPOKEN = ("notice", "question")
OPEN = ("pending", "calling")
# Twilio's final call statuses that mean nobody (or only a machine) picked up.
NOT_ANSWERED = ("busy", "no-answer", "failed", "canceled")
# A held text waits this long after its notice's try is due: a try whose outcome never comes
# (the gateway gone for good) still ends in the text.
HOLD_MARGIN = timedelta(hours=1)
# A try still "calling" this long after it was placed has lost its status callback.
STALE_AFTER = timedelta(minutes=15)


# --- time -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuietHours:
    """The co-operative's quiet hours ("21:00-07:00" in its time zone; none when empty)."""

    tz: ZoneInfo
    start: time | None = None
    end: time | None = None

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo) -> QuietHours:
        text = text.strip()
        if not text:
            return cls(tz)
        a, sep, b = text.partition("-")
        if not sep:
            raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM")
        return cls(tz, time.fromisoformat(a.strip()), time.fromisoformat(b.strip()))

    def contains(self, at: datetime) -> bool:
        if self.start is None or self.end is None or self.start == self.end:
            return False
        t = at.astimezone(self.tz).time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # across midnight

    def defer(self, at: datetime) -> datetime:
        """`at`, or the end of the quiet hours it falls in (UTC)."""
        if not self.contains(at) or self.end is None:
            return at
        local = at.astimezone(self.tz)
        end = datetime.combine(local.date(), self.end, self.tz)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


def retry_delays(text: str) -> tuple[timedelta, ...]:
    """`call_retry_minutes` ("5,20": a second try 5 minutes after the first, a third 20 after
    the second) as the waits between tries."""
    return tuple(timedelta(minutes=float(p)) for p in text.split(",") if p.strip())


# --- what Twilio says -------------------------------------------------------------------------

@dataclass(frozen=True)
class Ended:
    """How one call ended, from Twilio's status callback (or a status read back)."""

    status: str  # CallStatus: completed, busy, no-answer, failed, canceled
    duration: float = 0.0
    answered_by: str = ""  # set with answering-machine detection: human, machine_start, …

    @property
    def answered(self) -> bool:
        return self.status in ("completed", "in-progress") \
            and not self.answered_by.startswith(("machine", "fax"))

    @property
    def final(self) -> bool:
        return self.status == "completed" or self.status in NOT_ANSWERED


def missed(ended: Ended, *, short_seconds: float, ordered: bool) -> str | None:
    """Why a resident's own call asks for a callback: it ended unanswered, or they hung up
    within `short_seconds` without an order; None when it does not."""
    if ended.status in NOT_ANSWERED:
        return ended.status
    if ended.status == "completed" and ended.duration <= short_seconds and not ordered:
        return "short"
    return None


@dataclass(frozen=True)
class Try:
    """What the sender is to do with the outbox row of one try."""

    action: str  # place | skip | placed | wait
    voice_call_id: int = 0
    number: int = 0
    kind: str = ""
    phone: str = ""
    call_sid: str | None = None  # placed: the call this try made already
    until: datetime | None = None  # wait: the end of the quiet hours
    # Placing this try failed mid-way before (after `since`): the call may have gone out.
    ambiguous: bool = False
    since: datetime | None = None


class OperatorAlerts(Protocol):
    """The operators' side (gateway.channels.telegram.alerts.OperatorAlerts)."""

    messages: Any

    async def unknown_caller(self, session: AsyncSession, phone: str, channel: str,
                             text: str = "") -> bool: ...


def try_key(vc_id: int, number: int) -> str:
    """The outbox key of try `number` of voice call `vc_id`."""
    return f"call:{vc_id}:{number}"


# --- the calls ----------------------------------------------------------------------------------

class Calls:
    """Schedules callbacks and notices and moves their tries on; every method works inside the
    caller's transaction."""

    def __init__(self, settings: Settings, templates: Templates,
                 alerts: Callable[[], OperatorAlerts | None] = lambda: None) -> None:
        self.settings = settings
        self.templates = templates
        self.alerts = alerts
        self.tz = ZoneInfo(settings.console_timezone)
        self.quiet = QuietHours.parse(settings.quiet_hours, self.tz)
        self.delays = retry_delays(settings.call_retry_minutes)

    @classmethod
    def of(cls, services: Any) -> Calls:
        return cls(services.settings, services.templates, lambda: services.operator_alerts)

    @property
    def can_call(self) -> bool:
        """Whether calls can be placed at all; without, notices are texts as before. Simulated
        calls (`serve --demo`) need only the webhooks that end them."""
        s = self.settings
        if s.simulated_calls:
            return bool(s.twilio_auth_token)
        return bool(s.twilio_account_sid and s.twilio_auth_token and s.twilio_from_number)

    @property
    def max_tries(self) -> int:
        return len(self.delays) + 1

    # -- making them ---------------------------------------------------------------------------

    async def _create(self, session: AsyncSession, **values: Any) -> VoiceCall | None:
        """A new VoiceCall, once per key (None when the key exists: a webhook delivered twice,
        or to two gateways)."""
        now = utcnow()
        values.update(tries=0, status="pending", created_at=now, updated_at=now)
        values.setdefault("max_tries", self.max_tries)
        for name in ("text", "fallback_text", "last_outcome"):
            values.setdefault(name, "")
        ins = pg_insert(VoiceCall) if _dialect(session) == "postgresql" \
            else sqlite_insert(VoiceCall)
        new_id = (await session.execute(
            ins.values(**values).on_conflict_do_nothing(index_elements=["key"])
            .returning(VoiceCall.id))).scalar_one_or_none()
        return None if new_id is None else await session.get(VoiceCall, new_id)

    async def _queue_try(self, session: AsyncSession, vc: VoiceCall, number: int,
                         due: datetime) -> datetime:
        due = self.quiet.defer(due)
        await db.outbox.enqueue(session, channel=CHANNEL, recipient=vc.phone, body=vc.kind,
                                idempotency_key=try_key(vc.id, number), not_before=due,
                                payload={"voice_call": vc.id, "try": number})
        await self._hold(session, vc, due + HOLD_MARGIN)
        return due

    async def callback(self, session: AsyncSession, *, phone: str, call_sid: str,
                       resident: Resident | None, why: str) -> VoiceCall | None:
        """Call back a resident whose call was missed (`why`); an unknown number goes to the
        operators. None when nothing new was scheduled (callbacks are off, one is already
        waiting for this number, or this call was seen before)."""
        if self.settings.callback_mode == "off":
            return None
        if resident is None:
            alerts = self.alerts()
            if alerts is not None:
                await alerts.unknown_caller(session, phone, "voice")
            return None
        waiting = await session.execute(select(exists().where(
            VoiceCall.phone == phone, VoiceCall.kind == "callback",
            VoiceCall.status.in_(OPEN))))
        if waiting.scalar():
            return None
        vc = await self._create(session, kind="callback", key=f"callback|{call_sid}",
                                phone=phone, resident_id=resident.id, locale=resident.locale,
                                last_outcome=why[:32])
        if vc is not None:
            await self._queue_try(session, vc, 1, utcnow())
            log.info("missed call %s from %s (%s): calling back", call_sid, phone, why)
        return vc

    def say(self, locale: str, kind: str, **ctx: Any) -> str:
        """The spoken sentence of a notice (`voice/notice_says.xml.j2`), as plain text."""
        ctx.setdefault("who", "")
        ctx.setdefault("f", None)
        ctx.setdefault("items", [])
        xml = self.templates.render(locale, "voice/notice_says.xml.j2", kind=kind, **ctx)
        return " ".join(html.unescape(xml).split())

    async def notice(self, session: AsyncSession, *, order: Order, kind: str, phone: str,
                     text: str, text_key: str, hold: str | None) -> bool:
        """A spoken notice of `text` to `phone` about `order`. `hold`: the text to send instead
        if nobody hears it (queued now, held), for someone who takes calls only; None when
        they get the text anyway. False when this notice exists already."""
        return await self._spoken(
            session, "notice", phone=phone, text=text, text_key=text_key, hold=hold,
            resident_id=order.resident_id, order_id=order.id, locale=order.locale,
            last_outcome=kind[:32]) is not None

    async def question(self, session: AsyncSession, *, phone: str, resident_id: int | None,
                       locale: str, text: str, text_key: str, hold: str | None
                       ) -> VoiceCall | None:
        """A spoken question answered with a key (gateway.orders.standing asks "as usual this
        week?"), keyed like the text that asks it in writing (`text_key`, which names what is
        asked). Like a notice, `hold` is that text, sent instead when nobody answers; None
        when they get it anyway. None when asked already."""
        return await self._spoken(session, "question", phone=phone, text=text,
                                  text_key=text_key, hold=hold, resident_id=resident_id,
                                  locale=locale, last_outcome="asked")

    async def _spoken(self, session: AsyncSession, kind: str, *, phone: str, text: str,
                      text_key: str, hold: str | None, **values: Any) -> VoiceCall | None:
        """A call of `kind` (SPOKEN) saying `text`, keyed like the text `text_key`; its first
        try queued and `hold` queued held back. None when it exists already."""
        vc = await self._create(session, kind=kind, key=f"{kind}|{text_key}", phone=phone,
                                text=text, fallback_text=hold or "", **values)
        if vc is None:
            return None
        if hold is not None:
            await db.outbox.enqueue(session, channel="sms", recipient=phone, body=hold,
                                    idempotency_key=text_key,
                                    not_before=utcnow() + HOLD_MARGIN,
                                    payload={"order_id": values.get("order_id"),
                                             "held_by_call": vc.id})
        await self._queue_try(session, vc, 1, utcnow())
        return vc

    # -- the held text -------------------------------------------------------------------------

    @staticmethod
    def held_key(vc: VoiceCall) -> str | None:
        """The outbox key of the text a notice or a question holds back, if any."""
        return vc.key.split("|", 1)[1] if vc.kind in SPOKEN and vc.fallback_text else None

    async def _hold(self, session: AsyncSession, vc: VoiceCall, until: datetime) -> None:
        key = self.held_key(vc)
        if key is not None:
            await session.execute(update(Outbox).where(
                Outbox.idempotency_key == key, Outbox.status == "pending",
                Outbox.next_attempt_at < until).values(next_attempt_at=until))

    async def _release(self, session: AsyncSession, vc: VoiceCall) -> bool:
        key = self.held_key(vc)
        if key is None:
            return False
        result = await session.execute(update(Outbox).where(
            Outbox.idempotency_key == key, Outbox.status == "pending")
            .values(next_attempt_at=utcnow()))
        if result.rowcount:  # type: ignore[attr-defined]
            session.info[db.outbox.QUEUED] = True  # the caller wakes the worker
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _settle(self, session: AsyncSession, vc: VoiceCall, call_sid: str) -> None:
        """The held text was delivered by the call: recorded as sent, with the call's sid."""
        key = self.held_key(vc)
        if key is not None:
            await session.execute(update(Outbox).where(
                Outbox.idempotency_key == key, Outbox.status == "pending").values(
                status="sent", sent_at=utcnow(), vendor_id=call_sid[:128],
                last_error="not sent: heard on a call"))

    # -- the tries -------------------------------------------------------------------------------

    async def _lock(self, session: AsyncSession, vc_id: int) -> VoiceCall | None:
        """The call's row, locked for this transaction: a write first (SQLite takes its lock
        before reading; PostgreSQL locks the row), then the read."""
        await session.execute(update(VoiceCall).where(VoiceCall.id == vc_id)
                              .values(updated_at=VoiceCall.updated_at))
        return (await session.execute(
            select(VoiceCall).where(VoiceCall.id == vc_id)
            .execution_options(populate_existing=True))).scalar_one_or_none()

    async def placing(self, session: AsyncSession, vc_id: int, number: int,
                      now: datetime | None = None) -> Try:
        """Before try `number` is placed: whether to place it (and it is marked `calling`),
        skip it (the call was heard, answered, cancelled, or this try is stale), report the
        call it already made, or wait for the end of the quiet hours."""
        now = now or utcnow()
        vc = await self._lock(session, vc_id)
        if vc is None or vc.status not in OPEN or number < vc.tries \
                or (number == vc.tries and vc.status == "pending"):
            return Try("skip")
        base: dict[str, Any] = {"voice_call_id": vc.id, "number": number, "kind": vc.kind,
                                "phone": vc.phone}
        if number == vc.tries and vc.call_sid:
            return Try("placed", call_sid=vc.call_sid, **base)
        if vc.kind == "callback" and await self._ordered_since(session, vc):
            vc.status, vc.last_outcome = "cancelled", "ordered"
            return Try("skip")
        if self.quiet.contains(now):
            return Try("wait", until=self.quiet.defer(now), **base)
        ambiguous = number == vc.tries and vc.status == "calling"
        since = vc.updated_at  # when the earlier attempt marked it calling
        vc.tries, vc.status, vc.call_sid = number, "calling", None
        return Try("place", ambiguous=ambiguous, since=since if ambiguous else None, **base)

    async def _ordered_since(self, session: AsyncSession, vc: VoiceCall) -> bool:
        """The resident placed an order after the missed call (they rang again, or texted)."""
        return bool((await session.execute(select(exists().where(
            Order.phone == vc.phone, Order.created_at >= vc.created_at,
            Order.status != "draft")))).scalar())

    async def placed(self, session: AsyncSession, vc_id: int, number: int,
                     call_sid: str) -> None:
        vc = await self._lock(session, vc_id)
        if vc is not None and vc.tries == number and not vc.call_sid:
            vc.call_sid = call_sid[:64]

    async def ended(self, session: AsyncSession, vc_id: int, number: int, ended: Ended,
                    call_sid: str = "", now: datetime | None = None) -> str:
        """Try `number` ended: `answered` (a callback picked up), `retry` (the next try is
        queued), `gave_up`, or `stale` (a repeated or out-of-date status)."""
        vc = await self._lock(session, vc_id)
        if vc is None or vc.tries != number or vc.status != "calling" or not ended.final:
            return "stale"
        if call_sid and not vc.call_sid:
            vc.call_sid = call_sid[:64]
        vc.last_outcome = (ended.status if not ended.answered_by.startswith(("machine", "fax"))
                           else "machine")[:32]
        if ended.answered:
            if vc.kind == "callback":
                vc.status = "answered"
                return "answered"
            vc.last_outcome = "unheard"  # picked up, but 1 was never pressed
        return await self._next(session, vc, now or utcnow())

    async def failed(self, session: AsyncSession, vc_id: int, number: int, error: str,
                     now: datetime | None = None) -> str:
        """Try `number` could not be placed at all (a refused number, the vendor away longer
        than the outbox keeps trying): the call gives up."""
        vc = await self._lock(session, vc_id)
        if vc is None or vc.status not in OPEN or number < vc.tries:
            return "stale"
        vc.tries = max(vc.tries, number)
        vc.last_outcome = "failed"
        log.warning("voice call %s try %s could not be placed: %s", vc_id, number, error)
        await self._give_up(session, vc)
        return "gave_up"

    async def _next(self, session: AsyncSession, vc: VoiceCall, now: datetime) -> str:
        if vc.tries >= vc.max_tries or not self.delays:
            await self._give_up(session, vc)
            return "gave_up"
        vc.status = "pending"
        wait = self.delays[min(vc.tries, len(self.delays)) - 1]
        await self._queue_try(session, vc, vc.tries + 1, now + wait)
        return "retry"

    async def _give_up(self, session: AsyncSession, vc: VoiceCall) -> None:
        vc.status = "gave_up"
        if vc.kind == "callback":
            log.info("callback %s to %s: not answered after %d tries", vc.id, vc.phone, vc.tries)
            return
        await self._release(session, vc)
        if vc.kind != "notice":  # a question nobody answered: the texted question asks it
            return
        alerts = self.alerts()
        if alerts is None or not self.settings.notice_fallback_operator:
            return
        order = await session.get(Order, vc.order_id) if vc.order_id is not None else None
        line = self.say(self.settings.default_locale, "operator", phone=vc.phone,
                        tries=vc.tries, texted=bool(vc.fallback_text))
        await alerts.messages.operator_alert(session, line, key=f"{vc.key}:operator",
                                             order=order, text=vc.text)

    async def heard(self, session: AsyncSession, vc_id: int, call_sid: str) -> bool:
        """Key 1 during a notice (or an answer to a question): heard; its held text is
        settled, never sent."""
        vc = await self._lock(session, vc_id)
        if vc is None or vc.kind not in SPOKEN or vc.status not in OPEN:
            return False
        vc.status, vc.last_outcome = "heard", "heard"
        vc.call_sid = vc.call_sid or call_sid[:64]
        await self._settle(session, vc, call_sid or vc.call_sid or "")
        return True

    async def text_of(self, session: AsyncSession, vc_id: int) -> VoiceCall | None:
        """A notice as its call plays it."""
        return await session.get(VoiceCall, vc_id)

    async def stale(self, session: AsyncSession, now: datetime | None = None,
                    limit: int = 50) -> list[tuple[int, int, str]]:
        """Tries placed long ago whose status never came: (id, try, call sid)."""
        before = (now or utcnow()) - STALE_AFTER
        rows = (await session.execute(select(VoiceCall.id, VoiceCall.tries, VoiceCall.call_sid)
                                      .where(VoiceCall.status == "calling",
                                             VoiceCall.call_sid.is_not(None),
                                             VoiceCall.updated_at <= before)
                                      .order_by(VoiceCall.id).limit(limit))).all()
        return [(int(i), int(n), str(sid)) for i, n, sid in rows]


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    return "postgresql" if bind is not None and bind.dialect.name == "postgresql" else "sqlite"
