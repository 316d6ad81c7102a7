"""The SMS conversation as a pure function: where a resident stands + what they wrote → decision.

No web, Twilio or database here: the adapter loads the state and the facts a decision needs
(is the sender registered, the latest order, the last order's items), calls `decide`, then
stores the new state, creates the order it asks for and renders the replies from templates.

States: `idle` (nothing pending) or `draft` (items gathered over one or more texts, read back
after each, waiting for a confirmation). A draft expires `ttl` after its last change.
A `1` or `2` may answer a standing order's question instead (`answers_question` says which).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

IDLE, DRAFT = "idle", "draft"

# Carrier keywords, matched on the whole text (case and trailing punctuation ignored).
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "end", "quit", "退订", "td",
                        "取消订阅", "수신거부", "거부"})
START_WORDS = frozenset({"start", "unstop", "subscribe", "订阅", "恢复", "수신동의", "시작"})
# After a read-back naming goods out of stock: drop them (1 keeps them as a back-order).
DROP_SHORT = frozenset({"2", "２"})
HELP_WORDS = frozenset({"help", "info", "?", "？", "帮助", "도움말", "도움"})
_EDGE_PUNCT = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)


def keyword(text: str) -> str | None:
    """'stop', 'start' or 'help' when the whole text is one of the carrier keywords."""
    t = text.strip().lower()
    if t in HELP_WORDS:
        return "help"
    t = _EDGE_PUNCT.sub("", t)
    if t in STOP_WORDS:
        return "stop"
    if t in START_WORDS:
        return "start"
    if t in HELP_WORDS:
        return "help"
    return None


@dataclass(frozen=True)
class Item:
    """One line of a draft: plain data, stored as JSON in the conversation row."""

    sku: str
    name: str
    quantity: Decimal
    unit: str
    source: str = ""

    @classmethod
    def of(cls, obj: Any) -> Item:
        """From a parsed item, an order item row or a dict."""
        get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
        return cls(sku=str(get("sku")), name=str(get("name") or get("sku")),
                   quantity=Decimal(str(get("quantity", 1))), unit=str(get("unit") or ""),
                   source=str(get("source") or get("source_text") or ""))

    def to_json(self) -> dict[str, str]:
        return {"sku": self.sku, "name": self.name, "quantity": str(self.quantity),
                "unit": self.unit, "source": self.source}


@dataclass(frozen=True)
class State:
    """Where one phone number's conversation stands."""

    state: str = IDLE
    items: tuple[Item, ...] = ()
    texts: tuple[str, ...] = ()  # the texts that built the draft, for the order's transcript
    failures: int = 0
    failed_texts: tuple[str, ...] = ()
    expires_at: datetime | None = None
    opted_out: bool = False  # for senders who are not registered residents

    @classmethod
    def from_json(cls, state: str, draft: dict[str, Any] | None, failures: int,
                  expires_at: datetime | None) -> State:
        d = draft or {}
        items = []
        for raw in d.get("items", ()):
            try:
                items.append(Item.of(raw))
            except (InvalidOperation, TypeError, ValueError):
                continue
        return cls(state=state if state in (IDLE, DRAFT) else IDLE, items=tuple(items),
                   texts=tuple(d.get("texts", ())), failures=failures,
                   failed_texts=tuple(d.get("failed_texts", ())), expires_at=expires_at,
                   opted_out=bool(d.get("opted_out", False)))

    def draft_json(self) -> dict[str, Any]:
        return {"items": [i.to_json() for i in self.items], "texts": list(self.texts),
                "failed_texts": list(self.failed_texts), "opted_out": self.opted_out}


@dataclass(frozen=True)
class Rules:
    ttl: timedelta = timedelta(hours=2)
    max_failures: int = 3
    max_items: int = 50


@dataclass(frozen=True)
class Parsed:
    """What the order language understood (a copy of its ParseResult as plain data)."""

    intent: str
    items: tuple[Item, ...] = ()
    unmatched: tuple[str, ...] = ()
    corrections: tuple[Any, ...] = ()  # what the text took back or changed (language.Correction)

    @classmethod
    def of(cls, result: Any) -> Parsed:
        return cls(intent=result.intent, items=tuple(Item.of(i) for i in result.items),
                   unmatched=tuple(result.unmatched),
                   corrections=tuple(getattr(result, "corrections", ())))


@dataclass(frozen=True)
class OrderFacts:
    id: int
    status: str
    items: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Inbound:
    text: str
    now: datetime
    known: bool  # a registered resident
    parsed: Parsed | None = None  # None for keywords and senders who are not parsed
    resident_opted_out: bool = False
    latest: OrderFacts | None = None  # for `status`
    last: OrderFacts | None = None  # for `repeat`: the last order with items
    out_of_stock: frozenset[str] = frozenset()  # skus out of stock in the sender's village


@dataclass(frozen=True)
class Reply:
    template: str  # under templates/<locale>/sms/
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewOrder:
    status: str  # confirmed | needs_review
    items: tuple[Item, ...] = ()
    transcript: str = ""
    reason: str = ""
    append_to_open_review: bool = False  # add to this sender's open review order if any


@dataclass(frozen=True)
class Decision:
    state: State
    replies: tuple[Reply, ...] = ()
    order: NewOrder | None = None
    opt_out: bool | None = None  # set the resident's flag to this


NEEDS_FACTS = {"status": "latest", "repeat": "last"}


def needs(parsed: Parsed | None) -> str | None:
    """Which fact `decide` will want for this text: 'latest', 'last' or None."""
    return NEEDS_FACTS.get(parsed.intent) if parsed is not None else None


def merge(items: Iterable[Item], more: Iterable[Item]) -> tuple[Item, ...]:
    """Add `more` to a draft: the same product in the same unit adds up, order kept."""
    out: list[Item] = list(items)
    for it in more:
        for i, cur in enumerate(out):
            if cur.sku == it.sku and cur.unit == it.unit:
                out[i] = replace(cur, quantity=cur.quantity + it.quantity,
                                 source=" / ".join(s for s in (cur.source, it.source) if s))
                break
        else:
            out.append(it)
    return tuple(out)


def amend(items: Iterable[Item], parsed: Parsed) -> tuple[Item, ...]:
    """A draft after one more text: what the text took back goes, a line it changed replaces
    the draft's line of that product, and the rest adds up (`merge`)."""
    dropped = {c.sku for c in parsed.corrections if c.kind in ("removed", "changed")}
    return merge((i for i in items if i.sku not in dropped), parsed.items)


def expired(state: State, now: datetime) -> bool:
    return state.state == DRAFT and state.expires_at is not None and now >= state.expires_at


def expire(state: State) -> State:
    """The state after its draft ran out of time (failures are forgotten too)."""
    return replace(state, state=IDLE, items=(), texts=(), failures=0, failed_texts=(),
                   expires_at=None)


def _idle(state: State) -> State:
    return replace(state, state=IDLE, items=(), texts=(), expires_at=None)


def _ok(state: State) -> State:
    return replace(state, failures=0, failed_texts=())


def decide(state: State, msg: Inbound, rules: Rules = Rules()) -> Decision:
    """The whole conversation: one text in, new state + replies + order to create out."""
    pre: list[Reply] = []
    if expired(state, msg.now):
        state = expire(state)
        pre.append(Reply("draft_expired"))
    text = msg.text
    kw = keyword(text)
    opted_out = msg.resident_opted_out if msg.known else state.opted_out

    if kw == "stop":
        return Decision(replace(_idle(_ok(state)), opted_out=True if not msg.known else
                                state.opted_out), (Reply("stopped"),), opt_out=True)
    if kw == "start":
        return Decision(replace(state, opted_out=False), (*pre, Reply("started")), opt_out=False)
    if opted_out:  # no replies to an opted-out number; the text is kept for a person
        return Decision(state, (), NewOrder("needs_review", transcript=text,
                                            reason="text from an opted-out number",
                                            append_to_open_review=True))
    if not msg.known:
        return Decision(state, (Reply("unknown_sender"),),
                        NewOrder("needs_review", transcript=text, reason="unknown sender",
                                 append_to_open_review=True))
    if kw == "help":
        return Decision(state, (*pre, Reply("help", {"draft": list(state.items)})))

    parsed = msg.parsed or Parsed("unknown")
    intent = parsed.intent
    ttl_end = msg.now + rules.ttl
    short = [i for i in state.items if i.sku in msg.out_of_stock]

    if state.state == DRAFT and short and text.strip() in DROP_SHORT:
        # "2" after a read-back that named goods out of stock: drop them, read back the rest.
        items = tuple(i for i in state.items if i.sku not in msg.out_of_stock)
        if not items:
            return Decision(_ok(_idle(state)), (*pre, Reply("draft_cancelled")))
        new = _ok(replace(state, items=items, texts=(*state.texts, text), expires_at=ttl_end))
        return Decision(new, (*pre, Reply("readback", {"items": list(items), "unmatched": [],
                                                       "dropped": short})))

    if intent == "order" and (parsed.items or parsed.corrections and state.items):
        items = amend(state.items, parsed)[: rules.max_items]
        if not items:  # the text took back all that was in the draft
            return Decision(_ok(_idle(state)), (*pre, Reply("draft_cancelled")))
        new = _ok(replace(state, state=DRAFT, items=items, texts=(*state.texts, text),
                          expires_at=ttl_end))
        return Decision(new, (*pre, Reply("readback", {"items": list(items),
                                                       "unmatched": list(parsed.unmatched),
                                                       "corrections": list(parsed.corrections),
                                                       "short": _short(items, msg)})))
    if intent == "confirm":
        if state.state == DRAFT and state.items:
            order = NewOrder("confirmed", state.items, "\n".join((*state.texts, text)),
                             reason="confirmed by SMS")
            return Decision(_ok(_idle(state)), (*pre, Reply("confirmed", {"items":
                                                                          list(state.items)})),
                            order)
        return Decision(_ok(state), (*pre, Reply("nothing_to_confirm")))
    if intent == "cancel":
        if state.state == DRAFT and state.items:
            return Decision(_ok(_idle(state)), (*pre, Reply("draft_cancelled")))
        return Decision(_ok(state), (*pre, Reply("nothing_to_cancel",
                                                 {"latest": msg.latest})))
    if intent == "status":
        return Decision(_ok(state), (*pre, Reply("status", {"latest": msg.latest,
                                                            "draft": list(state.items)})))
    if intent == "repeat":
        if msg.last is not None and msg.last.items:  # 还是上次那些，再加一袋盐: plus the salt
            items = amend(merge(state.items, msg.last.items), parsed)[: rules.max_items]
            new = _ok(replace(state, state=DRAFT, items=items, texts=(*state.texts, text),
                              expires_at=ttl_end))
            return Decision(new, (*pre, Reply("readback", {"items": list(items), "unmatched": [],
                                                           "repeat": True,
                                                           "short": _short(items, msg)})))
        return Decision(_ok(state), (*pre, Reply("nothing_to_repeat")))
    if intent == "help":
        return Decision(_ok(state), (*pre, Reply("help", {"draft": list(state.items)})))

    # Not understood (unknown intent, or an order naming nothing in the catalogue).
    failed = (*state.failed_texts, text)
    if len(failed) >= rules.max_failures:
        order = NewOrder("needs_review", state.items, "\n".join(failed),
                         reason=f"not understood {len(failed)} times")
        new = replace(_idle(state), failures=0, failed_texts=())
        return Decision(new, (*pre, Reply("handed_over")), order)
    new = replace(state, failures=len(failed), failed_texts=failed,
                  expires_at=ttl_end if state.state == DRAFT else state.expires_at)
    return Decision(new, (*pre, Reply("not_understood", {"unmatched": list(parsed.unmatched),
                                                         "draft": list(state.items)})))


def answers_question(state: State, asked_at: datetime, now: datetime, rules: Rules = Rules(),
                     *, menu: bool = False) -> bool:
    """Whether a `1` or `2` answers a standing order's question asked at `asked_at` rather
    than the conversation under way: a live draft (or a proxy's menu, `menu`) that changed
    after the question was asked keeps its `1`; an older one yields to the question."""
    if state.expires_at is None or now >= state.expires_at:
        return True
    busy = (state.state == DRAFT and bool(state.items)) or menu
    return not busy or state.expires_at - rules.ttl <= asked_at


def _short(items: Iterable[Item], msg: Inbound) -> list[Item]:
    """The draft's goods out of stock in the sender's village, for the read-back to say."""
    return [i for i in items if i.sku in msg.out_of_stock]


def transcript_lines(texts: Sequence[str]) -> str:
    return "\n".join(t for t in texts if t)
