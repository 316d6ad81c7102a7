"""Standing orders ("每周二一样"): the texts that set, answer, pause and stop them, when their
rounds fall, and the work on each round (ask, confirm, skip, the deadline).

A standing order repeats on a weekday (every week or every N weeks, counted from its first
day, `start_date`) or on each run of the mobile supermarket to the resident's village. Each
occurrence is a round (`standing_rounds`, unique per standing order and day): it is opened
`standing_ask_hours` before its deadline with a text asking "本周照旧吗？回复1确认，2跳过" of the
proxy who set it, else of the resident. The deadline is the day before at `standing_deadline`
in the co-operative's time zone, or, for a run, `RUN_MARGIN` before the run's cut-off (so an
order made at the deadline still goes on the run). `1` makes the order at once, exactly as a
confirmed SMS order (same listeners; the caller wakes the dispatcher); `2` skips; a round still
unanswered at its deadline is skipped or ordered as the standing order's `unconfirmed` says.
Rounds leave `asked` by a conditional update, so an answer, this gateway's deadline and
another gateway's never make two orders. A round is opened only before its deadline: if no
gateway ran through a whole ask window, that occurrence is not made.

Texts (whole text; spaces and end punctuation ignored), see `phrase`, `answer`, `control`:
- set, zh-CN: 每周X | 每星期X | 每礼拜X | 每个周X | 每逢周X (X = 一二三四五六日天 or 1-7),
  every N weeks: 每两周(的)周X | 每2周周X | 隔周(周)X | 每隔一周的周X; on runs: 每次流动超市来 |
  每趟车 | 每次车来(的时候); then 一样 | 照旧 | 照常 | 同样 | 老样子 | 和这次一样 | 跟上次一样 |
  还是这些 (the last order's goods), or the goods: 每周二：大米两袋, 每周五 鸡蛋一板;
- set, ko-KR: 매주 X요일 | X요일마다 | 격주 X요일 | 2주마다 X요일 | 두 주마다 X요일 (X = 월화수목금토일);
  on runs: 이동 슈퍼 올 때마다 | 이동 마트 올 때마다; then 똑같이 | 같은 걸로 | 그대로 | 이대로 |
  지난번과 같이 (+ 주세요/해 주세요...), or the goods: 매주 화요일: 쌀 두 포대;
- answer: 1 确认 照旧 好 是 | 네 예 확인; skip: 2 跳过 不要 这周不要 | 건너뛰기 아니요 이번 주는 안 해요;
- pause: 暂停 | 일시정지 잠시 중지; stop: 停止 取消每周 | 중지 해지 그만; resume: 继续 | 재개 다시 시작.
A proxy names the resident as for an order: 给妈妈订：每周二一样, 엄마 주문: 매주 화요일 똑같이.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

import db.orders
import db.outbox
import db.standing
from db.models import Order, Proxy, Resident, StandingOrder, StandingRound, utcnow
from db.session import is_unavailable
from gateway.language.locales import normalize_locale
from gateway.language.model import format_quantity
from gateway.observe.periodic import cancel, repeat
from gateway.orders.events import OrderListener, announce_created
from gateway.orders.pricing import money, order_total

log = logging.getLogger(__name__)

RUN_MARGIN = timedelta(minutes=15)
POLL_SECONDS = 30.0
MAX_WEEKS = 8
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# --- texts (pure) -----------------------------------------------------------------------------

_ZH_DAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
           "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_KO_DAY = {"월": 0, "화": 1, "수": 2, "목": 3, "금": 4, "토": 5, "일": 6}
_N = {"两": 2, "二": 2, "三": 3, "四": 4, "2": 2, "3": 3, "4": 4, "두": 2, "세": 3, "네": 4}
_WEEK = r"(?:周|星期|礼拜)"
_ZH = re.compile(
    r"^(?:(?:每(?:个|逢)?\s*(?:(?P<n>[两二三四2-4])\s*个?\s*" + _WEEK + r"\s*的?\s*)?"
    r"|(?P<alt>(?:每隔一?|隔)\s*" + _WEEK + r"?\s*的?\s*))" + _WEEK + r"(?P<d>[一二三四五六日天1-7])"
    r"|(?P<runs>每(?:次|趟|回)\s*(?:流动超市|超市车|大篷车|车)\s*(?:来|到)?\s*(?:的时候|时)?))"
    r"\s*(?:都|也)?\s*(?P<tail>.*)$", re.DOTALL)
_ZH_SAME = re.compile(r"^(?:送|要|订|买|来)?\s*(?:一样|照旧|照常|同样|老样子|照这个|还是这些|"
                      r"(?:和|跟)?(?:这次|上次|这回|上回)一样)(?:的|吧|啊|哦|送|来)*$")
_KO = re.compile(
    r"^(?:(?:(?P<every>매\s*주|격\s*주|(?P<n>[2-4두세네])\s*주\s*(?:마다|에\s*한\s*번)?)\s*(?:에|의)?\s*)?"
    r"(?P<d>[월화수목금토일])\s*(?:요일)?\s*(?P<mada>마다)?\s*(?:에는|엔|에)?"
    r"|(?P<runs>이동\s*(?:슈퍼|마트|장터)\s*(?:가|이)?\s*(?:올|오는)\s*때\s*마다))"
    r"\s*(?:도)?\s*(?P<tail>.*)$", re.DOTALL)
_KO_SAME = re.compile(r"^(?:똑같이|똑같은\s*걸로|같은\s*(?:걸로|것으로|거로)|같게|그대로|이대로|동일하게|"
                      r"지난\s*번(?:이랑|과|하고)?\s*(?:같이|똑같이))"
                      r"\s*(?:주문|보내|부탁)?\s*(?:해|드려)?\s*(?:주세요|줘요|줘|요|해요|드려요|합니다|할게요)?$")
_LEAD = re.compile(r"^[\s:：,，]*(?:送|要|订|买|来)?[\s:：,，]*")
_EDGE = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)

CONFIRM = frozenset({"1", "１", "确认", "确定", "照旧", "照常", "好", "好的", "是", "要", "네", "예",
                     "확인", "좋아요"})
SKIP = frozenset({"2", "２", "跳过", "不要", "不用", "这周不要", "本周不要", "这次不要", "这周跳过",
                  "本周跳过", "건너뛰기", "건너뛰어", "건너뛰어요", "아니요", "아니오", "이번주는안해요",
                  "이번주안해요", "이번엔안해요", "이번주는건너뛰어요"})
PAUSE = frozenset({"暂停", "暂停一下", "先暂停", "暂停每周", "暂停固定订单", "暂停订单", "일시정지",
                   "잠시중지", "잠깐중지", "잠시멈춤", "정기주문일시정지"})
STOP = frozenset({"停止", "停止每周", "停止固定订单", "停止订单", "取消每周", "取消固定订单", "不要每周了",
                  "중지", "정기주문중지", "정기주문해지", "해지", "그만", "그만할게요"})
RESUME = frozenset({"继续", "继续每周", "恢复每周", "恢复固定订单", "重新开始", "재개", "다시시작",
                    "정기주문재개"})


@dataclass(frozen=True)
class Phrase:
    """What a text setting a standing order said: when, and the goods ("" for the same as
    the last order)."""

    weekday: int | None
    every_weeks: int = 1
    on_runs: bool = False
    goods: str = ""


def _bare(text: str) -> str:
    return re.sub(r"\s+", "", _EDGE.sub("", text.strip().lower()))


def phrase(text: str) -> Phrase | None:
    """The standing order a text sets (每周二一样, 每周二：大米两袋, 매주 화요일 똑같이), or None."""
    t = text.strip()
    m = _ZH.match(t)
    if m:
        if m.group("runs"):
            when = Phrase(None, 1, True)
        else:
            n = _N[m.group("n")] if m.group("n") else 2 if m.group("alt") else 1
            when = Phrase(_ZH_DAY[m.group("d")], n)
        return _with_goods(when, m.group("tail"), _ZH_SAME)
    m = _KO.match(t)
    if m and (m.group("runs") or m.group("every") or m.group("mada")):
        if m.group("runs"):
            when = Phrase(None, 1, True)
        else:
            every = re.sub(r"\s", "", m.group("every") or "")
            n = _N[m.group("n")] if m.group("n") else 2 if every == "격주" else 1
            when = Phrase(_KO_DAY[m.group("d")], n)
        return _with_goods(when, m.group("tail"), _KO_SAME)
    return None


def _with_goods(when: Phrase, tail: str, same: re.Pattern[str]) -> Phrase | None:
    core = _EDGE.sub("", tail)
    if not core:
        return None  # 每周二 alone says nothing about what
    if same.match(core):
        return when
    goods = _LEAD.sub("", tail).strip()
    return Phrase(when.weekday, when.every_weeks, when.on_runs, goods) if goods else None


def answer(text: str) -> str | None:
    """'confirm' or 'skip' for an answer to a round's question, else None."""
    t = _bare(text) or text.strip()
    return "confirm" if t in CONFIRM else "skip" if t in SKIP else None


# What each control does: the status it sets, and the statuses it applies to.
STATUS_OF = {"pause": "paused", "resume": "active", "stop": "stopped"}
APPLIES_TO = {"pause": ("active",), "resume": ("paused",), "stop": ("active", "paused")}


def control(text: str) -> str | None:
    """'pause', 'stop' or 'resume' for a text that does that to the sender's standing orders."""
    t = _bare(text)
    return "pause" if t in PAUSE else "stop" if t in STOP else "resume" if t in RESUME else None


def concerns(text: str) -> bool:
    """Whether a text may be about standing orders (it then needs the database to tell)."""
    return answer(text) is not None or control(text) is not None or phrase(text) is not None


# --- when (pure) ------------------------------------------------------------------------------


def deadline_of(day: date, tz: ZoneInfo, at: str) -> datetime:
    """A weekday round's deadline: the day before at `at` (HH:MM) in the co-operative's zone."""
    hh, mm = (int(x) for x in at.split(":"))
    return datetime.combine(day - timedelta(days=1), time(hh, mm), tz).astimezone(UTC)


def first_day(weekday: int, now: datetime, tz: ZoneInfo, at: str) -> date:
    """The first `weekday` whose deadline is still ahead at `now`."""
    d = now.astimezone(tz).date()
    d += timedelta(days=(weekday - d.weekday()) % 7)
    while deadline_of(d, tz, at) <= now:
        d += timedelta(days=7)
    return d


def occurs(so: Any, day: date) -> bool:
    if so.weekday is None or day < so.start_date or day.weekday() != so.weekday:
        return False
    return ((day - so.start_date).days // 7) % max(1, so.every_weeks) == 0


def next_days(so: Any, since: date, count: int = 1) -> list[date]:
    """The weekday standing order's next `count` days from `since` on."""
    out: list[date] = []
    d = max(since, so.start_date)
    for _ in range(7 * max(1, so.every_weeks) * count + 7):
        if occurs(so, d):
            out.append(d)
            if len(out) == count:
                break
        d += timedelta(days=1)
    return out


@dataclass(frozen=True)
class Due:
    """A round to open now: its day, run and deadline."""

    standing_id: int
    day: date
    deadline: datetime
    run_id: int | None = None


def weekly_due(so: Any, now: datetime, tz: ZoneInfo, at: str, ask: timedelta) -> list[Due]:
    """The weekday rounds whose ask window [deadline - ask, deadline) holds `now`."""
    today = now.astimezone(tz).date()
    horizon = today + timedelta(days=ask.days + 2)
    d, out = max(today, so.start_date), []
    while d <= horizon:
        if occurs(so, d):
            dl = deadline_of(d, tz, at)
            if dl - ask <= now < dl:
                out.append(Due(so.id, d, dl))
        d += timedelta(days=1)
    return out


def run_due(so: Any, runs: Iterable[Any], now: datetime, tz: ZoneInfo,
            ask: timedelta) -> list[Due]:
    """The run rounds (one a day) whose ask window holds `now`."""
    out: dict[date, Due] = {}
    for run in runs:
        day = run.departs_at.astimezone(tz).date()
        dl = run.cutoff_at - RUN_MARGIN
        if day >= so.start_date and day not in out and dl - ask <= now < dl:
            out[day] = Due(so.id, day, dl, run.id)
    return list(out.values())


def schedule_words(so: Any) -> str:
    """For the command line: "every Tue", "every 2 weeks on Tue", "on each run"."""
    if so.on_runs or so.weekday is None:
        return "on each run"
    day = DAYS[so.weekday].capitalize()
    return f"every {day}" if so.every_weeks <= 1 else f"every {so.every_weeks} weeks on {day}"


# --- work (session) ---------------------------------------------------------------------------


class StandingError(ValueError):
    """A standing order that cannot be made or changed; the message says why (English, for the
    command line); `code` lets a page say it in its own language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def items_json(items: Iterable[Any]) -> list[dict[str, str]]:
    """Order lines (parsed items, order items, dicts) as the standing order keeps them."""
    out = []
    for it in items:
        get = it.get if isinstance(it, dict) else (lambda k, d=None, o=it: getattr(o, k, d))
        out.append({"sku": str(get("sku")), "name": str(get("name") or get("sku")),
                    "quantity": format_quantity(Decimal(str(get("quantity", 1)))),
                    "unit": str(get("unit") or "")})
    return out


def when_of(every: str, weeks: int = 1) -> Phrase:
    """`--every mon|tue|…|sun|run` and `--weeks N` as a schedule."""
    e = every.strip().lower()[:3]
    if e == "run":
        return Phrase(None, 1, True)
    if e not in DAYS:
        raise StandingError("bad_every", f"--every {every!r}: use one of {', '.join(DAYS)}, run")
    return Phrase(DAYS.index(e), weeks)


async def set_unconfirmed(session: AsyncSession, resident: Resident, choice: str) -> int:
    """The resident's choice for unanswered weeks, for their standing orders to come and
    those they have (not stopped); returns how many of those changed."""
    if choice not in ("skip", "confirm"):
        raise StandingError("bad_unconfirmed", "unconfirmed must be skip or confirm")
    resident.standing_unconfirmed = choice
    changed = 0
    for so in await db.standing.listing(session, resident_phone=resident.phone,
                                        statuses=("active", "paused")):
        if so.unconfirmed != choice:
            so.unconfirmed, changed = choice, changed + 1
    await session.flush()
    return changed


def ask_key(round_id: int) -> str:
    """The idempotency key of a round's question (its text, and its spoken question)."""
    return f"standing:ask:{round_id}"


def round_of_question(key: str) -> int | None:
    """The round a spoken question's key asks about (`question|standing:ask:<id>`)."""
    head, _, tail = key.partition("|")[2].rpartition(":")
    return int(tail) if head == "standing:ask" and tail.isdigit() else None


class Standing:
    """The rounds' work inside the caller's transaction; what people are told is queued in
    the outbox in that transaction. The caller wakes the dispatcher and the outbox after it."""

    def __init__(self, templates: Any, tz: ZoneInfo, *, deadline: str = "20:00",
                 ask_hours: float = 24, listeners: Sequence[OrderListener] = (),
                 calls: Any = None) -> None:
        self.templates, self.tz, self.deadline = templates, tz, deadline
        self.ask = timedelta(hours=ask_hours)
        self.listeners = listeners
        self.calls = calls  # gateway.notify.calls.Calls: asks those who take calls

    @classmethod
    def of(cls, services: Any) -> Standing:
        from gateway.notify.calls import Calls

        st = services.settings
        return cls(services.templates, ZoneInfo(st.console_timezone), deadline=st.standing_deadline,
                   ask_hours=st.standing_ask_hours, listeners=services.listeners,
                   calls=Calls.of(services))

    # -- setting and changing -------------------------------------------------------------------

    async def create(self, session: AsyncSession, *, resident: Resident, items: Iterable[Any],
                     when: Phrase, text: str = "", proxy: Proxy | None = None,
                     unconfirmed: str | None = None, created_by: str = "",
                     now: datetime | None = None) -> StandingOrder:
        """A new standing order; `unconfirmed` (skip | confirm: what an unanswered week does)
        is the resident's own choice unless given."""
        now = now or utcnow()
        if unconfirmed is None:
            unconfirmed = resident.standing_unconfirmed or "skip"
        lines = items_json(items)
        if not lines:
            raise StandingError("no_items", "a standing order needs goods from the catalogue")
        if not 1 <= when.every_weeks <= MAX_WEEKS:
            raise StandingError("bad_weeks", f"--weeks must be 1 to {MAX_WEEKS}")
        if unconfirmed not in ("skip", "confirm"):
            raise StandingError("bad_unconfirmed", "unconfirmed must be skip or confirm")
        if proxy is not None and proxy.resident_id != resident.id:
            raise StandingError("not_their_proxy", f"{proxy.phone} does not order for "
                                                   f"{resident.phone}")
        start = now.astimezone(self.tz).date() if when.weekday is None \
            else first_day(when.weekday, now, self.tz, self.deadline)
        return await db.standing.add(
            session, resident_id=resident.id, proxy_id=proxy.id if proxy else None,
            text=text or ", ".join(f"{i['name']}{i['quantity']}{i['unit']}" for i in lines),
            items=lines, weekday=when.weekday, every_weeks=when.every_weeks,
            on_runs=when.on_runs, start_date=start, status="active", unconfirmed=unconfirmed,
            created_by=created_by[:100], created_at=now)

    async def set_status(self, session: AsyncSession, so: StandingOrder, status: str, *,
                         by: str, now: datetime | None = None) -> bool:
        """Pause, stop or resume; a round waiting for an answer is skipped when the order is
        paused or stopped. False when it was so already."""
        if status not in ("active", "paused", "stopped"):
            raise StandingError("bad_status", f"unknown status {status!r}")
        if so.status == status:
            return False
        if so.status == "stopped":
            raise StandingError("stopped", f"standing order {so.id} is stopped for good; "
                                           "add a new one")
        now = now or utcnow()
        so.status = status
        if status != "active":
            for r in await db.standing.open_of(session, so.id):
                await db.standing.claim(session, r.id, "skipped", by=f"{status}:{by}", now=now)
        await session.flush()
        return True

    # -- rounds ---------------------------------------------------------------------------------

    async def contact(self, session: AsyncSession, so: StandingOrder
                      ) -> tuple[str, Proxy | None]:
        """Who is asked: the proxy who set it, else the resident."""
        p = await db.standing.proxy(session, so.proxy_id)
        return (p.phone, p) if p is not None else (so.resident.phone, None)

    def locale(self, so: StandingOrder) -> str:
        return normalize_locale(so.resident.locale if so.resident else None)

    async def ask_text(self, session: AsyncSession, so: StandingOrder, rnd: StandingRound
                       ) -> str:
        _, p = await self.contact(session, so)
        return self.templates.render(
            self.locale(so), "sms/standing_ask.j2", so=so, rnd=rnd,
            who=(p.relation or so.resident.name) if p is not None else "",
            items=so.items, day=rnd.day, deadline=rnd.deadline.astimezone(self.tz))

    async def open_due(self, session: AsyncSession, so: StandingOrder, now: datetime) -> int:
        """Open the rounds whose ask window has come and ask them; returns how many were
        asked. A round made by another gateway (or before a restart) is left alone."""
        if so.status != "active" or so.resident is None:
            return 0
        if so.on_runs:
            due = run_due(so, await db.standing.runs_ahead(session, so.resident.village, now),
                          now, self.tz, self.ask)
        else:
            due = weekly_due(so, now, self.tz, self.deadline, self.ask)
        asked = 0
        for d in due:
            rid = await db.standing.insert_round(session, standing_id=so.id, day=d.day,
                                                 run_id=d.run_id, deadline=d.deadline, now=now)
            if rid is None:
                continue
            rnd = await session.get(StandingRound, rid)
            assert rnd is not None
            asked += await self._ask(session, so, rnd)
        return asked

    async def _ask(self, session: AsyncSession, so: StandingOrder, rnd: StandingRound) -> bool:
        """Ask the round's question: a text, and for someone who takes calls a spoken question
        answered with a key (the text held back for when nobody answers, if they take calls
        only)."""
        phone, p = await self.contact(session, so)
        if p is None and so.resident.opted_out:
            return False  # no texts to them: the deadline decides
        body = (await self.ask_text(session, so, rnd)).strip()
        key = ask_key(rnd.id)
        notify = (p.notify if p is not None else so.resident.notify) or "sms"
        if notify in ("call", "both") and self.calls is not None and self.calls.can_call:
            said = self.templates.render(
                self.locale(so), "voice/standing_says.j2", so=so, items=so.items, day=rnd.day,
                who=(p.relation or so.resident.name) if p is not None else "",
                resident_name=so.resident.name if p is None else "").strip()
            vc = await self.calls.question(
                session, phone=phone, resident_id=so.resident_id, locale=self.locale(so),
                text=" ".join(said.split()), text_key=key,
                hold=body if notify == "call" else None)
            if notify == "call":
                return vc is not None
        return bool(await db.outbox.enqueue(
            session, channel="sms", recipient=phone, body=body, idempotency_key=key,
            payload={"standing_id": so.id, "round_id": rnd.id, "kind": "standing_ask"}))

    async def answer_call(self, session: AsyncSession, round_id: int, answer: str, *,
                          phone: str, now: datetime | None = None) -> tuple[str, Order | None]:
        """A key pressed on the round's spoken question: ("confirmed", order) | ("skipped",
        None) | ("decided", None) when the round was settled before (a text, the deadline,
        another gateway)."""
        rnd = await session.get(StandingRound, round_id)
        so = await db.standing.get(session, rnd.standing_id) if rnd is not None else None
        if rnd is None or so is None or rnd.state != "asked" or so.status != "active":
            return "decided", None
        by = f"call:{phone}"
        if answer == "confirm":
            order = await self.confirm(session, rnd, so, by=by, actor=by, now=now)
            return ("confirmed", order) if order is not None else ("decided", None)
        done = await self.skip(session, rnd, by=by, now=now)
        return ("skipped", None) if done else ("decided", None)

    async def confirm(self, session: AsyncSession, rnd: StandingRound, so: StandingOrder, *,
                      by: str, actor: str, now: datetime | None = None) -> Order | None:
        """Make the round's order, confirmed; None when the round was answered or decided
        already (by another text, or a deadline on another gateway)."""
        now = now or utcnow()
        if not await db.standing.claim(session, rnd.id, "confirmed", by=by, now=now):
            return None
        resident = so.resident
        p = await db.standing.proxy(session, so.proxy_id)
        locale = self.locale(so)
        note = self.templates.render(locale, "sms/standing_note.j2", so=so, day=rnd.day)
        order = await db.orders.create(
            session, channel="sms", phone=resident.phone, status="confirmed", actor=actor,
            items=so.items, locale=locale, resident=resident, transcript=so.text, note=note,
            reason=f"standing order {so.id} for {rnd.day.isoformat()}")
        if p is not None:  # set by a family member or carer: they are told too
            order.proxy_id, order.proxy = p.id, p
        await announce_created(session, order, self.listeners)
        await db.standing.set_ordered(session, rnd.id, order.id)
        return order

    async def skip(self, session: AsyncSession, rnd: StandingRound, *, by: str,
                   now: datetime | None = None) -> bool:
        return await db.standing.claim(session, rnd.id, "skipped", by=by, now=now or utcnow())

    async def at_deadline(self, session: AsyncSession, rnd: StandingRound, now: datetime
                          ) -> Order | None | bool:
        """An unanswered round at its deadline: skipped (True), or its order made and the
        asked person told (the order); False when someone decided it first."""
        so = await db.standing.get(session, rnd.standing_id)
        if so is None or so.status != "active" or so.unconfirmed == "skip":
            return await self.skip(session, rnd, by="deadline", now=now)
        order = await self.confirm(session, rnd, so, by="deadline", actor=f"standing:{so.id}",
                                   now=now)
        if order is None:
            return False
        phone, p = await self.contact(session, so)
        if p is not None or not so.resident.opted_out:
            body = self.templates.render(self.locale(so), "sms/standing_ordered.j2", so=so,
                                         order=order, day=rnd.day,
                                         who=(p.relation or so.resident.name) if p else "",
                                         amount=money(order_total(order)))
            await db.outbox.enqueue(session, channel="sms", recipient=phone, body=body,
                                    idempotency_key=f"standing:ordered:{rnd.id}",
                                    payload={"order_id": order.id, "round_id": rnd.id,
                                             "kind": "standing_ordered"})
        return order


class StandingWorker:
    """Opens due rounds (asking them) and applies deadlines, every `poll_seconds`; each
    standing order and each round in a transaction of its own."""

    def __init__(self, services: Any, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.services = services
        self.standing = Standing.of(services)
        self.poll_seconds = poll_seconds
        self._task: Any = None

    async def tick(self, now: datetime | None = None) -> dict[str, int]:
        """One pass; returns counts (asked, ordered, skipped) for logs and tests."""
        now = now or utcnow()
        database = self.services.db
        counts = {"asked": 0, "ordered": 0, "skipped": 0}
        async with database.session() as s:
            ids = [so.id for so in await db.standing.active(s)]
        for sid in ids:
            try:
                async with database.session() as s:
                    so = await db.standing.get(s, sid)
                    if so is not None:
                        counts["asked"] += await self.standing.open_due(s, so, now)
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                log.exception("standing order %s: could not open its round", sid)
        async with database.session() as s:
            due = [r.id for r in await db.standing.due(s, now)]
        for rid in due:
            try:
                async with database.session() as s:
                    rnd = await s.get(StandingRound, rid)
                    if rnd is None or rnd.state != "asked":
                        continue
                    done = await self.standing.at_deadline(s, rnd, now)
                if isinstance(done, Order):
                    counts["ordered"] += 1
                elif done:
                    counts["skipped"] += 1
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                log.exception("standing round %s: the deadline could not be applied", rid)
        if counts["ordered"]:
            self.services.wake_dispatcher()
        if counts["asked"] or counts["ordered"]:
            self.services.outbox.wake()
        return counts

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                repeat(self.tick, self.poll_seconds, "standing orders pass", wait_first=False),
                name="standing-orders")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
