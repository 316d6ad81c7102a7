"""Event reasons: stored as plain English sentences of a fixed form (the Telegram alerts and the
API show them as they are), read back here as a code and parameters, so the console can say
them in the operator's language.

`reason(code, **params)` writes a sentence; `parse(text)` finds (code, params) again for the
known forms, including "main (trigger)" nesting; anything else (an operator's own words) is
kept as it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

# code -> English form; {name} parameters. The forms are what the gateway has always stored.
FORMS: dict[str, str] = {
    "confirmed_sms": "confirmed by SMS",
    "confirmed_phone": "confirmed on the phone",
    "confirmed_operator": "confirmed by an operator",
    "phone_entry": "taken by phone and read back to the caller",
    "confirmed": "confirmed",
    "offered": "offered to leader {leader} at {km} km",
    "offered_preferred": "offered to leader {leader} at {km} km (preferred)",
    "no_answer": "no answer from leader {leader}",
    "declined": "declined by leader {leader}",
    "leader_available": "a leader became available",
    "location_unknown": "the resident's location is unknown",
    "no_leader": "no leader on duty with room within reach",
    "no_leaders": "there are no team leaders",
    "not_joined": "nearest leader {leader} at {km} km has not joined Telegram",
    "off_duty": "nearest leader {leader} at {km} km is off duty",
    "full": "nearest leader {leader} at {km} km has no room",
    "too_far": "nearest leader {leader} is {km} km away, beyond their {radius} km",
    "all_tried": "every leader within reach has had it (nearest: leader {leader} at {km} km)",
    "reassigned": "reassigned to {name}",
    "back_to_dispatcher": "back to the dispatcher",
    "items_corrected": "items corrected: {before} → {after}",
    "not_understood_n": "not understood {n} times",
    "not_understood_twice": "not understood twice",
    "unknown_sender": "unknown sender",
    "opted_out": "text from an opted-out number",
    "not_processed": "the text could not be processed",
    "speech_failed": "speech recognition failed",
    "left_message": "the caller chose to leave a message",
    "hung_up": "the caller hung up",
    # village runs and pickup points (gateway.orders.fulfilment)
    "on_run_at": "on run {run} at {stop}",
    "on_run": "on run {run}",
    "run_scheduled": "the run was scheduled",
    "run_added": "added to the run's picking list",
    "run_moved": "run {run} moved",
    "run_cancelled": "run {run} cancelled",
    "picking_sent": "picking list sent to the run's leader",
    "handed_over_run": "handed over on run {run}",
    "not_home_why": "not home at the stop of run {run}: {why}",
    "not_home": "not home at the stop of run {run}",
    "pickup_slot": "pickup at {point}, {day} {start}–{end}, number {number}",
    "collected": "collected at the pickup point, number {number}",
}

_NUM = {"leader", "km", "radius", "n", "run"}


def reason(code: str, **params: object) -> str:
    return FORMS[code].format(**params)


def _regex(form: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", form):
        out.append(re.escape(form[pos:m.start()]))
        name = m.group(1)
        out.append(rf"(?P<{name}>[0-9.]+)" if name in _NUM else rf"(?P<{name}>.+?)")
        pos = m.end()
    out.append(re.escape(form[pos:]))
    return re.compile("".join(out) + r"\Z", re.S)


_PATTERNS = [(code, _regex(form)) for code, form in FORMS.items()]
_TRIGGER = re.compile(r"(?P<main>.+?) \((?P<sub>[^()]*(?:\([^()]*\)[^()]*)*)\)\Z", re.S)


def parse(text: str) -> tuple[str, dict[str, str]] | None:
    """(code, params) of a whole sentence in one of the known forms, else None."""
    for code, rx in _PATTERNS:
        m = rx.match(text)
        if m:
            return code, m.groupdict()
    return None


def render(text: str, say: Callable[[str, Mapping[str, str]], str | None]) -> str:
    """The reason in another language: `say(code, params)` gives a known form's words (None if
    it has none); "main (trigger)" renders both parts; unknown text is kept as written."""
    if not text:
        return ""
    found = parse(text)
    if found is not None:
        said = say(*found)
        if said is not None:
            return said
    m = _TRIGGER.match(text)
    if m:
        return f"{render(m.group('main'), say)}（{render(m.group('sub'), say)}）"
    return text
