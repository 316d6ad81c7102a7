"""Pinyin fallback for unknown Chinese words: typos and misrecognitions that sound like a name."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from pypinyin import Style, pinyin

from .lexicon import FILLER, HALF, NUM, PRODUCT, UNIT, UNKNOWN, VERB, Lexicon
from .scan import Tok

MAX_KEYS = 16   # heteronym combinations kept per name
# Sounds that pinyin keyboards, dialects and recognisers confuse: the "bounded distance".
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("l", "n"), ("r", "n"), ("f", "h"))
_FINALS = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"),
           ("ong", "on"))


def loosen(syllable: str) -> str:
    """A syllable with the commonly confused sounds merged (zh=z, n=l, ing=in ...)."""
    for a, b in _INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a):]
            break
    for a, b in _FINALS:
        if syllable.endswith(a):
            return syllable[: -len(a)] + b
    return syllable


class PinyinIndex:
    """Product names of two characters or more, keyed by their toneless and loosened pinyin."""

    def __init__(self, lex: Lexicon) -> None:
        self._readings: dict[str, tuple[str, ...]] = {}
        self.exact: dict[tuple[str, ...], set[str]] = {}
        self.loose: dict[tuple[str, ...], set[str]] = {}
        self.lengths: set[int] = set()
        for word, skus in lex.product_names.items():
            if len(word) < 2 or len(skus) != 1 or not all(_is_han(c) for c in word):
                continue
            self.lengths.add(len(word))
            for key in self._keys(word, loose=False):
                self.exact.setdefault(key, set()).add(skus[0])
            for key in self._keys(word, loose=True):
                self.loose.setdefault(key, set()).add(skus[0])
        # Third tier, names of three characters or more: one syllable may be off by one letter
        # (胡萝不 for 胡萝卜). Keyed by the other syllables.
        self.near: dict[tuple[int, tuple[str, ...]], set[tuple[str, str]]] = {}
        for word, skus in lex.product_names.items():
            if len(word) < 3 or len(skus) != 1 or not all(_is_han(c) for c in word):
                continue
            for key in self._keys(word, loose=True):
                for p in range(len(key)):
                    rest = key[:p] + key[p + 1:]
                    self.near.setdefault((p, rest), set()).add((key[p], skus[0]))
        self.max_len = max(self.lengths, default=0)

    def readings(self, ch: str) -> tuple[str, ...]:
        r = self._readings.get(ch)
        if r is None:
            found = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
            r = tuple(dict.fromkeys(found[0])) if found and found[0] else ()
            self._readings[ch] = r
        return r

    def _keys(self, word: str, loose: bool) -> Iterable[tuple[str, ...]]:
        per_char = []
        for ch in word:
            rs = self.readings(ch)
            if not rs:
                return []
            per_char.append(tuple(dict.fromkeys(loosen(r) for r in rs)) if loose else rs)
        return itertools.islice(itertools.product(*per_char), MAX_KEYS)

    def lookup(self, window: str) -> str | None:
        """The one sku whose name sounds like `window`; None if none or several do."""
        for table, loose in ((self.exact, False), (self.loose, True)):
            found: set[str] = set()
            for key in self._keys(window, loose):
                found |= table.get(key, set())
            if len(found) == 1:
                return next(iter(found))
            if found:
                return None  # two products sound alike: never guess
        if len(window) < 3:
            return None
        near: set[str] = set()
        for key in self._keys(window, loose=True):
            for p in range(len(key)):
                for syllable, sku in self.near.get((p, key[:p] + key[p + 1:]), ()):
                    if _one_edit(syllable, key[p]):
                        near.add(sku)
        return next(iter(near)) if len(near) == 1 else None


def _one_edit(a: str, b: str) -> bool:
    """a and b differ by exactly one inserted, deleted or replaced letter."""
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    if len(a) > len(b):
        a, b = b, a
    return any(b[:i] + b[i + 1:] == a for i in range(len(b)))


def _is_han(c: str) -> bool:
    return "\u3400" <= c <= "\u9fff"


_GLUE = (PRODUCT, UNIT, VERB, FILLER)  # one-character words a misheard name may have swallowed


def _han_unknown(t: Tok) -> bool:
    return t.kind == UNKNOWN and all(_is_han(c) for c in t.text)


def _glue(t: Tok) -> bool:
    """A one-character word a misheard name may have swallowed (酱由 -> 由, 啤九 -> 九)."""
    return (t.kind in _GLUE or t.kind == NUM) and len(t.text) == 1 and _is_han(t.text)


def repair(tokens: list[Tok], index: PinyinIndex) -> list[Tok]:
    """Replace unknown Han words (with glued one-character words) by products they sound like."""
    out: list[Tok] = []
    k = 0
    n = len(tokens)
    while k < n:
        t = tokens[k]
        if not (_han_unknown(t) or _glue(t)):
            out.append(t)
            k += 1
            continue
        j = k
        while j < n and (_han_unknown(tokens[j]) or _glue(tokens[j])):
            j += 1
        run = tokens[k:j]
        if not any(x.kind == UNKNOWN for x in run):
            out.extend(run)
        else:
            out.extend(_repair_run(run, index))
        k = j
    return out


def _repair_run(run: list[Tok], index: PinyinIndex) -> list[Tok]:
    chars: list[tuple[str, Tok]] = [(c, t) for t in run for c in t.text]
    s = "".join(c for c, _ in chars)
    out: list[Tok] = []
    pending = ""  # unknown characters not replaced

    def flush() -> None:
        nonlocal pending
        if pending:
            out.append(Tok(UNKNOWN, pending))
            pending = ""

    i = 0
    while i < len(s):
        hit = None
        for size in range(min(index.max_len, len(s) - i), 1, -1):
            if size not in index.lengths:
                continue
            unknown = sum(1 for x in range(i, i + size) if chars[x][1].kind == UNKNOWN)
            if unknown * 2 < size:
                continue  # mostly known words: not a misheard name
            sku = index.lookup(s[i:i + size])
            if sku is not None:
                hit = (size, sku)
                break
        if hit:
            flush()
            size, sku = hit
            out.append(Tok(PRODUCT, s[i:i + size], (sku,)))
            i += size
            continue
        c, origin = chars[i]
        if origin.kind == UNKNOWN:
            pending += c
            i += 1
        else:
            flush()
            out.append(origin)
            i += len(origin.text)
    flush()
    return out


def merge_compounds(tokens: list[Tok]) -> list[Tok]:
    """A one-character name glued to an unknown word is part of another word: 牛+肉, 米+粉,
    面+包. The whole is unknown goods, never the short name. A lone unknown character between
    two one-character names is a list instead (葱姜蒜)."""
    out: list[Tok] = []
    n = len(tokens)
    i = 0

    def short(t: Tok | None) -> bool:
        return t is not None and t.kind == PRODUCT and len(t.text) == 1 and _is_han(t.text)

    while i < n:
        t = tokens[i]
        if short(t):
            left = out[-1] if out else None
            right = tokens[i + 1] if i + 1 < n else None
            after = tokens[i + 2] if i + 2 < n else None
            if left is not None and _han_unknown(left) and not (
                    len(left.text) == 1 and short(out[-2] if len(out) > 1 else None)):
                out[-1] = Tok(UNKNOWN, left.text + t.text)
                i += 1
                continue
            if right is not None and (_han_unknown(right) and not (
                    len(right.text) == 1 and short(after))
                    or right.kind == UNIT and len(right.text) == 1
                    and (after is None or after.kind != PRODUCT)):
                out.append(Tok(UNKNOWN, t.text + right.text))
                i += 2
                continue
        if t.kind == UNIT and len(t.text) == 1 and _is_han(t.text):
            # A counter glued to an unknown word is part of it (包子, 饭盒), unless it counts.
            prev = out[-1] if out else None
            right = tokens[i + 1] if i + 1 < n else None
            after = tokens[i + 2] if i + 2 < n else None
            counted = prev is not None and prev.kind in (NUM, HALF)
            if not counted and right is not None and _han_unknown(right):
                out.append(Tok(UNKNOWN, t.text + right.text))
                i += 2
                continue
            if prev is not None and _han_unknown(prev) and right is not None \
                    and right.kind in (NUM, HALF):
                out[-1] = Tok(UNKNOWN, prev.text + t.text)  # 饭盒两个
                i += 1
                continue
        out.append(t)
        i += 1
    return out
