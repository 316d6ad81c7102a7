"""The phone call as pure functions: where a call stands + what happened → new state + what to do.

No web, Twilio, database or recogniser here (the standard library only). The Twilio channel
loads the call's state and the facts a rule needs (can this locale be heard, the caller's last
order), turns what arrived into an event, calls `step`, then does what the result asks (create
an order) and renders the new state's prompt from `templates/<locale>/voice/`.

States: `listen` (the media socket hears the order), `readback` (items read back; keys 1/2/0
or a spoken yes), `keypad` (the keypad menu: 9 for the usual order, 1-4 for the goods most
ordered in the village, # when done, 0 for a message), `quantity` (digits for the chosen item,
# to finish; # alone takes the usual quantity), `record` (a left message), `unknown` (an
unregistered caller, asked for a message), `choose` (a proxy, a family member or carer who
orders for several residents, picks whom for with a key), `done` (an order was made), `left`
(a message was kept), `hangup`.

A proxy's call is the resident's from the moment it is known whom for (at once when they order
for one only): `phone`, `resident_id` and `village` are the resident's, `proxy_id` and
`for_whom` (how the proxy calls them, "妈妈") say who is calling.

The ways to order, in turn: speech; after two failed attempts (or when recognition fails, or
the locale has no recogniser at all, or at once on key 1 while listening) the keypad menu;
after two silences there, or on 0 at any time, a recorded message for a person. An order made on the keypad is read back without
listening; 1 confirms it, 2 goes back to the menu.

Events: `Heard` (the end of an utterance, with the recogniser's alternatives and what the
order language made of each), `Key` (a key press), `HangUp` (the caller hung up while the
socket listened), `Timeout` (Twilio came back after the media socket closed, or after a
read-back's <Gather>), `Silence` (a <Gather> for keys ended without one) and `Recorded` (a
left message arrived).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

LISTEN, READBACK, RECORD, UNKNOWN = "listen", "readback", "record", "unknown"
KEYPAD, QUANTITY = "keypad", "quantity"
CHOOSE = "choose"  # a family member or carer who orders for several: whom for (keys 1..n)
DONE, LEFT, HANGUP = "done", "left", "hangup"
MAX_ATTEMPTS = 2  # failed attempts at saying the order before the next way is offered
MAX_READBACKS = 3  # read-backs heard without an answer before a message is asked for
YES_KEY, AGAIN_KEY, MESSAGE_KEY, REPEAT_KEY = "1", "2", "0", "3"
KEYS_KEY = "1"  # while listening: order on the keypad menu instead of speaking
USUAL_KEY, DONE_KEY, MENU_KEY = "9", "#", "*"  # on the keypad menu
MENU_SIZE = 4  # goods on the keypad menu, keys 1..MENU_SIZE
MAX_KEYPAD_SILENCES = 2  # silences at the keypad menu before a message is asked for
MAX_QUANTITY_DIGITS = 2

# Why a message is recorded (`CallState.reason`) -> the reason on the order kept for a person.
REVIEW_REASONS = {"key": "the caller chose to leave a message",
                  "attempts": "not understood twice", "failed": "speech recognition failed",
                  "unknown": "unregistered caller", "no_confirm": "no confirmation",
                  "no_keys": "no keys pressed at the keypad menu",
                  "keys": "the caller chose the keypad menu"}
HUNG_UP = "the caller hung up"


@dataclass
class CallState:
    """Where a call stands; stored as the conversation row's state, failures and draft."""

    state: str = LISTEN
    locale: str = "zh-CN"
    phone: str = ""
    resident_id: int | None = None
    name: str = ""
    village: str = ""  # the caller's, for goods out of stock there (gateway.orders.stock)
    prompt: str = "first"  # first | again | no_speech | not_understood | repeat | none_to_repeat
    #                        | corrected; on the keypad: menu | added | empty | invalid | digit
    failures: int = 0
    readback_tries: int = 0
    reason: str = ""  # why a message is recorded: key | attempts | failed | unknown | no_confirm
    items: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    order_id: int | None = None
    keypad: bool = False  # ordering by keys: read-backs do not listen, 2 returns to the menu
    menu: list[dict[str, Any]] = field(default_factory=list)  # sku, name, unit, quantity
    usual: list[dict[str, Any]] = field(default_factory=list)  # the usual order, for key 9
    choice: int = -1  # index in `menu` of the item whose quantity is being keyed
    digits: str = ""  # the quantity keyed so far
    keypad_silences: int = 0
    proxy_id: int | None = None  # a proxy's call: theirs (gateway.orders.proxies)
    for_whom: str = ""  # how the proxy calls the resident ordered for
    # `choose`: the residents a proxy orders for (resident_id, phone, village, proxy_id, label)
    choices: list[dict[str, Any]] = field(default_factory=list)
    # read-backs the caller said no to (`items_key`): not offered again when the order is said
    # once more and the recogniser hears the same wrong thing; its next reading is offered
    rejected: list[list[str]] = field(default_factory=list)

    DRAFT_EXCLUDES = ("state", "failures", "locale")

    @classmethod
    def from_json(cls, state: str, draft: dict[str, Any] | None, failures: int,
                  locale: str) -> CallState:
        d = copy.deepcopy(draft or {})  # never share the loaded JSON
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**{**known, "state": state, "failures": failures, "locale": locale})

    def draft(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in self.DRAFT_EXCLUDES}


@dataclass(frozen=True)
class Alternative:
    """One recogniser alternative and what the order language made of it (intent "" when no
    language was at hand)."""

    text: str
    intent: str = ""
    items: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Heard:
    outcome: str  # speech | no_speech | failed
    alternatives: tuple[Alternative, ...] = ()


@dataclass(frozen=True)
class Key:
    digit: str
    heard: str = ""  # the best transcript, when the key ended an utterance on the socket


@dataclass(frozen=True)
class HangUp:
    spoke: bool  # the recogniser heard speech before the caller hung up
    heard: str = ""


@dataclass(frozen=True)
class Timeout:
    """Twilio came back after the media socket closed (or after a read-back's <Gather>)."""


@dataclass(frozen=True)
class Silence:
    """A <Gather> for keys ended without one."""


@dataclass(frozen=True)
class Recorded:
    new: bool  # False: no recording, or one already kept (a retried webhook)


Event = Heard | Key | HangUp | Timeout | Silence | Recorded


@dataclass(frozen=True)
class Facts:
    """What the rules may need beyond the state, loaded by the adapter."""

    can_listen: bool = True
    # None: not loaded; a step that needs it says so (`Step.needs`) and is run again with it
    last_items: tuple[dict[str, Any], ...] | None = None  # the caller's last order
    menu: tuple[dict[str, Any], ...] | None = None  # goods most ordered nearby: sku, name, unit


@dataclass(frozen=True)
class Step:
    """The new state, and the order to make: "confirmed" (its items, from the read-back) or
    "needs_review" (for a person, with `reason`); the adapter then calls `ordered`."""

    state: CallState
    order: str = ""
    reason: str = ""
    used: str = ""  # the alternative acted on ("" for none)
    needs: tuple[str, ...] = ()  # nothing was decided: run again with these Facts loaded
    needs_phone: str = ""  # whose Facts (a proxy's call: the resident just chosen)


class _Needs(Exception):
    def __init__(self, names: tuple[str, ...], phone: str = "") -> None:
        super().__init__(*names)
        self.names, self.phone = names, phone


# --- starting ----------------------------------------------------------------------------------

def start(*, locale: str, phone: str, resident_id: int | None, name: str,
          facts: Facts = Facts(), village: str = "",
          choices: list[dict[str, Any]] | None = None) -> CallState:
    """A new call: a known caller is asked for the order (by keys first when the locale cannot
    be heard: then `facts` must hold the last order and the menu), a stranger for a message.
    A proxy (`choices`: the residents they order for) orders for the one, or is asked whom
    for (the facts, then, are the resident's)."""
    st = CallState(locale=locale, phone=phone, resident_id=resident_id, name=name,
                   village=village)
    if resident_id is None and choices:
        if len(choices) == 1:
            _choose(st, choices[0], facts)
        else:
            st.state, st.prompt, st.choices = CHOOSE, "first", [dict(c) for c in choices]
    elif resident_id is None:
        st.state, st.reason = UNKNOWN, "unknown"
    elif not facts.can_listen:
        _to_keypad(st, facts, "failed")
    return st


def _choose(st: CallState, c: dict[str, Any], facts: Facts) -> None:
    """The call is now for resident `c` (a proxy chose, or orders for them only)."""
    st.resident_id, st.phone, st.village = c["resident_id"], c["phone"], c.get("village", "")
    st.proxy_id, st.for_whom, st.name, st.choices = c["proxy_id"], c.get("label", ""), "", []
    st.state, st.prompt, st.keypad_silences = LISTEN, "first", 0
    if not facts.can_listen:
        _to_keypad(st, facts, "failed")


def _choose_key(st: CallState, digit: str, facts: Facts) -> Step:
    if digit == MESSAGE_KEY:
        _to_record(st, "key")
    elif digit.isdigit() and 1 <= int(digit) <= len(st.choices):
        _choose(st, st.choices[int(digit) - 1], facts)
    else:
        st.prompt = "invalid"
    return Step(st)


def hears(st: CallState) -> bool:
    """Whether the media socket has anything to hear in this state."""
    return st.state in (LISTEN, READBACK) and not st.keypad


def ends_listening(state: str, digit: str) -> bool:
    """A key that ends what the socket is hearing: `#` (done speaking) or a choice."""
    return digit == "#" or digit in ((MESSAGE_KEY, REPEAT_KEY, KEYS_KEY) if state == LISTEN
                                     else (MESSAGE_KEY, YES_KEY, AGAIN_KEY))


def template(st: CallState, facts: Facts) -> str:
    """The template (under voice/) of what the caller hears in this state."""
    if st.state == LISTEN and not facts.can_listen:
        return "record"
    return {LISTEN: "listen", READBACK: "readback", RECORD: "record", DONE: "confirmed",
            UNKNOWN: "unknown", LEFT: "left", KEYPAD: "keypad", QUANTITY: "quantity",
            CHOOSE: "choose"}.get(
        st.state, "goodbye")


def review_reason(st: CallState) -> str:
    return REVIEW_REASONS.get(st.reason, st.reason or "message left")


def wants_message(st: CallState) -> bool:
    """Whether a left message arriving now is still to be kept (not after one was)."""
    return st.state != LEFT


def give_up(st: CallState) -> CallState:
    """Whatever broke while listening, the caller is asked for a message rather than looping."""
    st = copy.deepcopy(st)
    _to_record(st, "failed")
    return st


def ordered(st: CallState, order_id: int) -> None:
    """The adapter made the order a step asked for."""
    st.order_id = order_id


# --- the rules --------------------------------------------------------------------------------

def step(st: CallState, event: Event, facts: Facts = Facts()) -> Step:
    """Apply one event to a copy of `st`."""
    try:
        return _step(copy.deepcopy(st), event, facts)
    except _Needs as missing:
        return Step(st, needs=missing.names, needs_phone=missing.phone)


def _step(st: CallState, event: Event, facts: Facts) -> Step:
    if isinstance(event, Heard):
        return _heard(st, event, facts)
    if isinstance(event, Key):
        if event.heard:
            st.transcripts.append(event.heard)
        return _key(st, event.digit, facts)
    if isinstance(event, HangUp):
        if event.heard:
            st.transcripts.append(event.heard)
        if event.spoke or st.items:
            st.state = DONE
            return Step(st, "needs_review", HUNG_UP)
        st.state = DONE if st.order_id else HANGUP
        return Step(st)
    if isinstance(event, Timeout):
        return _timeout(st, facts)
    if isinstance(event, Silence):
        return _silence(st)
    if isinstance(event, Recorded):
        if not event.new or st.state == LEFT:
            st.state = LEFT
            return Step(st)
        reason = review_reason(st)
        st.state = LEFT
        return Step(st, "needs_review", reason)
    raise TypeError(f"not a call event: {event!r}")


def _fail(st: CallState, prompt: str, facts: Facts) -> None:
    """One failed attempt at saying the order; the second one leads to the keypad menu."""
    st.failures += 1
    if st.failures >= MAX_ATTEMPTS:
        _to_keypad(st, facts, "attempts")
    else:
        st.state, st.prompt = LISTEN, prompt


def _to_keypad(st: CallState, facts: Facts, reason: str) -> None:
    """The keypad menu: the usual order and the goods most ordered nearby, each with the
    quantity the caller usually takes. With nothing to offer, a message instead."""
    _need(facts, "last_items", "menu", phone=st.phone)
    usual = [dict(i) for i in facts.last_items or ()]
    usual_qty = {i["sku"]: (i["quantity"], i["unit"]) for i in usual}
    menu = []
    for m in (facts.menu or ())[:MENU_SIZE]:
        qty, unit = usual_qty.get(m["sku"], ("1", m.get("unit", "")))
        menu.append({"sku": m["sku"], "name": m["name"], "unit": unit, "quantity": qty,
                     "source": "keypad"})
    if not menu and not usual:
        _to_record(st, reason)
        return
    st.state, st.reason, st.prompt, st.keypad = KEYPAD, reason, "first", True
    st.menu, st.usual, st.items, st.choice, st.digits = menu, usual, [], -1, ""
    st.keypad_silences = 0


def items_key(items: Any) -> list[str]:
    """An order's items as a comparable key (sku, quantity, unit; in any order)."""
    return sorted(f"{i.get('sku')}:{i.get('quantity')}:{i.get('unit')}" for i in items)


def _need(facts: Facts, *names: str, phone: str = "") -> None:
    missing = tuple(n for n in names if getattr(facts, n) is None)
    if missing:
        raise _Needs(missing, phone)


def _to_record(st: CallState, reason: str) -> None:
    st.state, st.reason = RECORD, reason


def _read_back(st: CallState, items: list[dict[str, Any]], prompt: str) -> None:
    st.state, st.items, st.prompt, st.readback_tries = READBACK, items, prompt, 0


def _say_again(st: CallState, facts: Facts) -> None:
    """No (key 2 or a spoken no) to a read-back of speech: the read-back is not offered
    again, the order is asked for again, and it counts as a failed attempt."""
    if st.items:
        st.rejected.append(items_key(st.items))
    st.items = []
    _fail(st, "again", facts)


def _repeat(st: CallState, facts: Facts) -> None:
    _need(facts, "last_items", phone=st.phone)
    if facts.last_items:
        _read_back(st, [dict(i) for i in facts.last_items], "repeat")
    else:
        st.prompt = "none_to_repeat"


def _confirm(st: CallState) -> Step:
    st.state = DONE
    return Step(st, "confirmed", "confirmed on the phone")


def _key(st: CallState, digit: str, facts: Facts) -> Step:
    if st.state == CHOOSE:
        return _choose_key(st, digit, facts)
    if st.state == KEYPAD:
        return _menu_key(st, digit)
    if st.state == QUANTITY:
        return _quantity_key(st, digit)
    if st.state not in (LISTEN, READBACK):
        return Step(st)
    if digit == MESSAGE_KEY:
        _to_record(st, "key")
    elif st.state == LISTEN and digit == REPEAT_KEY:
        _repeat(st, facts)
    elif st.state == LISTEN and digit == KEYS_KEY:
        _to_keypad(st, facts, "keys")
    elif st.state == READBACK and digit == YES_KEY:
        return _confirm(st)
    elif st.state == READBACK and digit == AGAIN_KEY and st.keypad:
        st.state, st.prompt, st.items, st.keypad_silences = KEYPAD, "again", [], 0
    elif st.state == READBACK and digit == AGAIN_KEY:
        _say_again(st, facts)
    return Step(st)


def _menu_key(st: CallState, digit: str) -> Step:
    st.keypad_silences = 0
    if digit == MESSAGE_KEY:
        _to_record(st, "key")
    elif digit == USUAL_KEY and st.usual:
        _read_back(st, [dict(i) for i in st.usual], "repeat")
    elif digit == USUAL_KEY:
        st.prompt = "none_to_repeat"
    elif digit.isdigit() and 1 <= int(digit) <= len(st.menu):
        st.state, st.choice, st.digits, st.prompt = QUANTITY, int(digit) - 1, "", "first"
    elif digit == DONE_KEY and st.items:  # the keyed order, read back
        _read_back(st, st.items, "first")
    elif digit == DONE_KEY:
        st.prompt = "empty"
    elif digit == MENU_KEY:
        st.prompt = "menu"
    else:
        st.prompt = "invalid"
    return Step(st)


def _quantity_key(st: CallState, digit: str) -> Step:
    st.keypad_silences = 0
    if digit.isdigit():
        if len(st.digits) < MAX_QUANTITY_DIGITS:
            st.digits += digit
        st.prompt = "digit"
    elif digit == DONE_KEY:
        _take(st)
    else:  # `*`: not this one after all
        st.state, st.prompt, st.choice, st.digits = KEYPAD, "menu", -1, ""
    return Step(st)


def _take(st: CallState) -> None:
    """The keyed quantity (or, with none keyed, the usual one) of the chosen item."""
    item = dict(st.menu[st.choice])
    if st.digits:
        item["quantity"] = str(int(st.digits))
    st.items = [i for i in st.items if i["sku"] != item["sku"]]
    if item["quantity"] != "0":
        st.items.append(item)
    st.state, st.choice, st.digits = KEYPAD, -1, ""
    st.prompt = "added" if item["quantity"] != "0" else "removed"


def _heard(st: CallState, ev: Heard, facts: Facts) -> Step:
    was = st.state
    used = _meaning(st, ev, facts)
    best = ev.alternatives[0].text if ev.alternatives else ""
    if used or best:
        # the transcript keeps the alternative that was acted on, else the best one
        st.transcripts.append(used or best)
    if was == READBACK and st.state == DONE:
        return Step(st, "confirmed", "confirmed on the phone", used)
    return Step(st, used=used)


def _meaning(st: CallState, ev: Heard, facts: Facts) -> str:
    """Act on the first alternative that means something; returns it ("" for none)."""
    if st.state == LISTEN:
        if ev.outcome == "failed":
            _to_keypad(st, facts, "failed")
            return ""
        if ev.outcome == "no_speech":
            _fail(st, "no_speech", facts)
            return ""
        for alt in ev.alternatives:
            if alt.intent == "order" and alt.items and items_key(alt.items) not in st.rejected:
                _read_back(st, [dict(i) for i in alt.items], "first")
                return alt.text
            if alt.intent == "repeat":
                _repeat(st, facts)
                return alt.text
        _fail(st, "not_understood", facts)
        return ""
    if st.state != READBACK:
        return ""
    # readback: a spoken yes confirms, a no asks again; anything else reads back again
    for alt in ev.alternatives:
        if alt.intent == "confirm":
            st.state = DONE
            return alt.text
        if alt.intent == "cancel":
            _say_again(st, facts)
            return alt.text
        if alt.intent == "order" and alt.items and items_key(alt.items) not in st.rejected:
            # a correction keeps the count of read-backs, or a noisy line never ends
            st.items, st.prompt = [dict(i) for i in alt.items], "corrected"
            return alt.text
    return ""


def _timeout(st: CallState, facts: Facts) -> Step:
    if st.state == READBACK:  # read back again after silence, at most three times
        st.readback_tries += 1
        if st.readback_tries > MAX_READBACKS:
            _to_record(st, "no_confirm")
    return Step(st)


def _silence(st: CallState) -> Step:
    if st.state == READBACK:
        return _timeout(st, Facts())
    if st.state == QUANTITY and st.digits:  # keyed a number but no #: take it
        _take(st)
    elif st.state == CHOOSE:
        st.keypad_silences += 1
        if st.keypad_silences >= MAX_KEYPAD_SILENCES:
            _to_record(st, "no_keys")
        else:
            st.prompt = "again"
    elif st.state in (KEYPAD, QUANTITY):
        st.keypad_silences += 1
        if st.keypad_silences >= MAX_KEYPAD_SILENCES:
            _to_record(st, st.reason if st.reason not in ("", "keys") else "no_keys")
        else:
            st.state, st.prompt, st.choice, st.digits = KEYPAD, "menu", -1, ""
    return Step(st)


__all__ = ["Alternative", "CallState", "Facts", "HangUp", "Heard", "Key", "Recorded", "Silence",
           "Step", "Timeout", "ends_listening", "hears", "start", "step", "template"]
