"""SMS length rules: GSM-7 or UCS-2 encoding, parts of 160/153 or 70/67, and fitting read-backs.

A Chinese or Korean text is UCS-2: one part holds 70 UTF-16 units, and once split every part
holds 67 (the rest is the concatenation header). Residents pay per part, so a read-back is
kept within a budget of parts by summarising its items ("大米2袋、醋2瓶等5样").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# C0/C1 controls except tab, newline and carriage return; also lone surrogates and noncharacters
# that XML and PostgreSQL text refuse.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets or UTF-16 code units
    parts: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def _unit_sizes(text: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if c in GSM7_EXTENDED else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def measure(text: str) -> SmsLength:
    """Encoding, length in units and number of billed parts of `text`."""
    gsm = is_gsm7(text)
    sizes = _unit_sizes(text, gsm)
    units = sum(sizes)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        return SmsLength("GSM-7" if gsm else "UCS-2", units, 1 if units else 0)
    # Fill parts greedily: an escape pair or a surrogate pair is never split across parts.
    parts, used = 1, 0
    for size in sizes:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return SmsLength("GSM-7" if gsm else "UCS-2", units, parts)


def parts(text: str) -> int:
    return measure(text).parts


def clean(text: str) -> str:
    """Text without control characters (kept: tab, newline); newlines normalised, trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def truncate(text: str, max_parts: int, ellipsis: str = "…") -> str:
    """Cut `text` so it fits in `max_parts` parts, ending with `ellipsis` when cut."""
    if parts(text) <= max_parts:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits together with the ellipsis
        mid = (lo + hi + 1) // 2
        if parts(text[:mid] + ellipsis) <= max_parts:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + ellipsis


def fit_items(render: Callable[[Sequence[str], int], str], items: Sequence[str], *,
              max_parts: int = 3) -> str:
    """The fullest rendering that fits: `render(shown, total)` is called with all item texts,
    then fewer (the template says "…等N样" when `len(shown) < total`), and cut as a last resort."""
    total = len(items)
    for k in range(total, 0, -1):
        text = render(items[:k], total)
        if parts(text) <= max_parts:
            return text
    return truncate(render(items[:1], total) if items else render([], 0), max_parts)
