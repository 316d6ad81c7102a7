"""Number words: Chinese numeral runs and Korean native and Sino-Korean numbers."""

from __future__ import annotations

from decimal import Decimal


def read_han_numeral(run: str, digits: dict[str, int], multipliers: dict[str, int]) -> int | None:
    """Value of a numeral run such as 一百零五, 两千, 十二, 一百五 (=150); None if malformed."""
    total = 0          # completed 万 groups
    section = 0        # value below 万
    digit: int | None = None
    last_mult = 0
    prev_digit = False
    for ch in run:
        if ch in digits:
            d = digits[ch]
            if prev_digit and digit is not None and d != 0 and digit != 0:
                # "两三", "三四": a range; keep the first number said.
                continue
            digit = d
            prev_digit = True
            continue
        m = multipliers.get(ch)
        if m is None:
            return None
        prev_digit = False
        if m >= 10000:
            section += digit or 0
            total = (total + (section or 1)) * m
            section, digit, last_mult = 0, None, m
            continue
        section += (1 if digit is None else digit) * m
        digit, last_mult = None, m
    if digit is not None:
        if prev_digit and last_mult >= 100 and digit != 0 and run[-2:-1] in multipliers:
            # 一百五 = 150, 两千三 = 2300: a trailing digit right after 百/千 is one order below.
            section += digit * (last_mult // 10)
        else:
            section += digit
    value = total + section
    return value


def korean_number_words(native_ones: dict[str, int], native_tens: dict[str, int],
                        sino_digits: dict[str, int], sino_mults: dict[str, int],
                        limit: int = 999) -> dict[str, int]:
    """Every native (1..99) and Sino-Korean (1..limit) number word, compounds included."""
    words: dict[str, int] = {}
    for w, v in native_ones.items():
        words[w] = v
    for tw, tv in native_tens.items():
        words[tw] = tv
        for ow, ov in native_ones.items():
            words.setdefault(tw + ow, tv + ov)
    inv_digit: dict[int, list[str]] = {}
    for w, v in sino_digits.items():
        inv_digit.setdefault(v, []).append(w)
    mult_word = {v: w for w, v in sorted(sino_mults.items(), key=lambda kv: kv[1])}

    def spell(n: int) -> list[str]:
        out = [""]
        for m in sorted(mult_word, reverse=True):
            q, n = divmod(n, m)
            if q:
                heads = [""] if q == 1 else inv_digit.get(q, [])
                out = [o + h + mult_word[m] for o in out for h in heads]
        if n:
            out = [o + d for o in out for d in inv_digit.get(n, [])]
        return out

    for n in range(1, limit + 1):
        for w in spell(n):
            if w:
                words.setdefault(w, n)
    return words


def half_of(value: Decimal | None) -> Decimal:
    """The quantity for "… and a half" (value + 0.5), or a bare half (0.5)."""
    return Decimal("0.5") if value is None else value + Decimal("0.5")
