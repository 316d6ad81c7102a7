"""Pinyin fallback for unknown Chinese words: typos and misrecognitions that sound like a name."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

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
        # Per character (bounded by the script, not by the texts): pypinyin and loosen() are
        # the cost of a lookup, and every window repeats the characters of its neighbours.
        self._readings: dict[str, tuple[str, ...]] = {}
        self._loose: dict[str, tuple[str, ...]] = {}
        self.exact: dict[tuple[str, ...], set[str]] = {}
        self.loose: dict[tuple[str, ...], set[str]] = {}
        self.lengths: set[int] = set()
        # Name length -> the syllables keyed at each position: a window whose character at some
        # position has none of them cannot hit that table, so most windows cost a few set
        # probes instead of every reading combination.
        self.exact_at: dict[int, list[set[str]]] = {}
        self.loose_at: dict[int, list[set[str]]] = {}
        for word, skus in lex.product_names.items():
            if len(word) < 2 or len(skus) != 1 or not _all_han(word):
                continue
            self.lengths.add(len(word))
            for table, at, loose in ((self.exact, self.exact_at, False),
                                     (self.loose, self.loose_at, True)):
                for key in self._keys(word, loose):
                    table.setdefault(key, set()).add(skus[0])
                    for syllables, syllable in zip(
                            at.setdefault(len(key), [set() for _ in key]), key):
                        syllables.add(syllable)
        # Third tier, names of three characters or more: one syllable may be off by one letter
        # (胡萝不 for 胡萝卜). Keyed by the other syllables.
        self.near: dict[tuple[int, tuple[str, ...]], set[tuple[str, str]]] = {}
        for word, skus in lex.product_names.items():
            if len(word) < 3 or len(skus) != 1 or not _all_han(word):
                continue
            for key in self._keys(word, loose=True):
                for p in range(len(key)):
                    rest = key[:p] + key[p + 1:]
                    self.near.setdefault((p, rest), set()).add((key[p], skus[0]))
        # Each name by its usual reading (the first reading of each character): when two names
        # share a key through a rarer reading (白 bái/bó makes 白菜 sound like 菠菜), the one
        # whose usual reading it is wins.
        self.usual: dict[tuple[str, ...], set[str]] = {}
        self.usual_loose: dict[tuple[str, ...], set[str]] = {}
        for word, skus in lex.product_names.items():
            if len(word) < 2 or len(skus) != 1 or not _all_han(word):
                continue
            key = self._usual(word)
            if key is not None:
                self.usual.setdefault(key, set()).add(skus[0])
                self.usual_loose.setdefault(tuple(map(loosen, key)), set()).add(skus[0])
        self.max_len = max(self.lengths, default=0)
        self.sizes = tuple(sorted(self.lengths, reverse=True))

    def readings(self, ch: str) -> tuple[str, ...]:
        r = self._readings.get(ch)
        if r is None:
            found = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
            r = tuple(dict.fromkeys(found[0])) if found and found[0] else ()
            self._readings[ch] = r
        return r

    def _usual(self, word: str) -> tuple[str, ...] | None:
        key = []
        for ch in word:
            rs = self.readings(ch)
            if not rs:
                return None
            key.append(rs[0])
        return tuple(key)

    def loose_readings(self, ch: str) -> tuple[str, ...]:
        r = self._loose.get(ch)
        if r is None:
            r = self._loose[ch] = tuple(dict.fromkeys(loosen(x) for x in self.readings(ch)))
        return r

    def _keys(self, word: str, loose: bool) -> Iterable[tuple[str, ...]]:
        per_char = []
        for ch in word:
            rs = self.loose_readings(ch) if loose else self.readings(ch)
            if not rs:
                return []
            per_char.append(rs)
        return itertools.islice(itertools.product(*per_char), MAX_KEYS)

    def _hits(self, window: str, loose: bool,
              table: Mapping[tuple[str, ...], set[str]]) -> set[str]:
        """The skus under any key of `window` in `table` (the exact or the loose keys)."""
        found: set[str] = set()
        for key in self._keys(window, loose=loose):
            hit = table.get(key)
            if hit:
                found |= hit
        return found

    def lookup(self, window: str) -> str | None:
        """The one sku whose name sounds like `window`; None if none or several do."""
        size = len(window)
        exact_at = self.exact_at.get(size)
        loose_at = self.loose_at.get(size)
        if exact_at is None or loose_at is None:
            return None  # no name of this length: no key of any tier has it
        exact_ok = True
        misses = 0  # positions whose loose readings no name of this length has there
        for p, ch in enumerate(window):
            rs = self.readings(ch)
            if not rs:
                return None  # no key at all (as _keys)
            if exact_ok and exact_at[p].isdisjoint(rs):
                exact_ok = False
            if loose_at[p].isdisjoint(self.loose_readings(ch)):
                misses += 1
        if not exact_ok and (misses > 1 or misses == 1 and size < 3):
            return None
        # Exact readings first, then loose ones; a tier that finds anything decides.
        tiers = ((exact_ok, False, self.exact), (misses == 0, True, self.loose))
        for usable, loose, table in tiers:
            if usable and (found := self._hits(window, loose, table)):
                # A name sounds as it is usually read: a rare reading of one of its characters
                # is no likeness (土鸡 dǔ jī is not 独居, 白菜 bó cài is not 菠才). The window
                # may use any reading of its characters (a typo writes the sound meant).
                key = self._usual(window)
                if key is not None and loose:
                    key = tuple(map(loosen, key))
                usual_table = self.usual_loose if loose else self.usual
                by_name: set[str] = set()
                for k in self._keys(window, loose=loose):
                    by_name |= usual_table.get(k, set())
                found &= by_name
                if found and key is not None:
                    # and the window sounds as it is usually read too: 无骨 is wú gǔ, not mó gū
                    found &= table.get(key, set())
                if not found:
                    continue
                if len(found) == 1:
                    return next(iter(found))
                # Two alike: the one the window reads as by the usual readings, else no guess.
                usual = usual_table.get(key, set()) & found if key is not None else set()
                return next(iter(usual)) if len(usual) == 1 else None
        # Near keys of a length are the loose keys of the names of that length: all positions
        # but the one off must match.
        if size < 3 or misses > 1:
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


def _all_han(text: str) -> bool:
    """Every character is Han (True for ""), by two C-level scans instead of a generator."""
    return not text or "\u3400" <= min(text) and max(text) <= "\u9fff"


_GLUE = frozenset((PRODUCT, UNIT, VERB, FILLER, NUM))  # one-character words a misheard name
# may have swallowed


def _han_unknown(t: Tok) -> bool:
    return t.kind == UNKNOWN and _all_han(t.text)


def _glue(t: Tok) -> bool:
    """A one-character word a misheard name may have swallowed (酱由 -> 由, 啤九 -> 九)."""
    return t.kind in _GLUE and len(t.text) == 1 and _is_han(t.text)


def _in_run(t: Tok) -> bool:
    """`_han_unknown(t) or _glue(t)`, in one call: repair tests every token of a text."""
    text = t.text
    if t.kind == UNKNOWN:
        return not text or "\u3400" <= min(text) and max(text) <= "\u9fff"
    return len(text) == 1 and t.kind in _GLUE and "\u3400" <= text <= "\u9fff"


def repair(tokens: list[Tok], index: PinyinIndex) -> list[Tok]:
    """Replace unknown Han words (with glued one-character words) by products they sound like."""
    out: list[Tok] = []
    k = 0
    n = len(tokens)
    runs = [_in_run(t) for t in tokens]  # each token tested once
    while k < n:
        if not runs[k]:
            out.append(tokens[k])
            k += 1
            continue
        j = k
        while j < n and runs[j]:
            j += 1
        run = tokens[k:j]
        if not any(x.kind == UNKNOWN for x in run):
            out.extend(run)
        else:
            out.extend(_repair_run(run, index))
        k = j
    return out


def _repair_run(run: list[Tok], index: PinyinIndex) -> list[Tok]:
    s = "".join(t.text for t in run)
    origins = [t for t in run for _ in t.text]  # the token each character comes from
    unknown_before = [0]  # unknown characters before each position: a window's count in O(1)
    for t in origins:
        unknown_before.append(unknown_before[-1] + (t.kind == UNKNOWN))
    out: list[Tok] = []
    pending = ""  # unknown characters not replaced
    n = len(s)
    i = 0
    while i < n:
        hit = None
        for size in index.sizes:  # longest first, all at least 2
            if size > n - i:
                continue
            if (unknown_before[i + size] - unknown_before[i]) * 2 < size:
                continue  # mostly known words: not a misheard name
            sku = index.lookup(s[i:i + size])
            if sku is not None:
                hit = (size, sku)
                break
        if hit:
            if pending:
                out.append(Tok(UNKNOWN, pending))
                pending = ""
            size, sku = hit
            out.append(Tok(PRODUCT, s[i:i + size], (sku,)))
            i += size
            continue
        origin = origins[i]
        if origin.kind == UNKNOWN:
            pending += s[i]
            i += 1
        else:
            if pending:
                out.append(Tok(UNKNOWN, pending))
                pending = ""
            out.append(origin)
            i += len(origin.text)
    if pending:
        out.append(Tok(UNKNOWN, pending))
    return out


def _short(t: Tok | None) -> bool:
    return t is not None and t.kind == PRODUCT and len(t.text) == 1 and _is_han(t.text)


def merge_compounds(tokens: list[Tok]) -> list[Tok]:
    """A one-character name glued to an unknown word is part of another word: 牛+肉, 米+粉,
    面+包. The whole is unknown goods, never the short name. A lone unknown character between
    two one-character names is a list instead (葱姜蒜)."""
    out: list[Tok] = []
    append = out.append
    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        k = t.kind
        if k != PRODUCT and k != UNIT or len(t.text) != 1 or not _is_han(t.text):
            append(t)  # only one-character Han names and counters ever merge
            i += 1
            continue
        if k == PRODUCT:
            left = out[-1] if out else None
            right = tokens[i + 1] if i + 1 < n else None
            after = tokens[i + 2] if i + 2 < n else None
            if left is not None and _han_unknown(left) and not (
                    len(left.text) == 1 and _short(out[-2] if len(out) > 1 else None)):
                out[-1] = Tok(UNKNOWN, left.text + t.text)
                i += 1
                continue
            if right is not None and (_han_unknown(right) and not (
                    len(right.text) == 1 and _short(after))
                    or right.kind == UNIT and len(right.text) == 1
                    and (after is None or after.kind != PRODUCT)):
                append(Tok(UNKNOWN, t.text + right.text))
                i += 2
                continue
        else:
            # A counter glued to an unknown word is part of it (包子, 饭盒), unless it counts.
            prev = out[-1] if out else None
            right = tokens[i + 1] if i + 1 < n else None
            after = tokens[i + 2] if i + 2 < n else None
            counted = prev is not None and prev.kind in (NUM, HALF)
            if not counted and right is not None and _han_unknown(right):
                append(Tok(UNKNOWN, t.text + right.text))
                i += 2
                continue
            if prev is not None and _han_unknown(prev) and right is not None \
                    and right.kind in (NUM, HALF):
                out[-1] = Tok(UNKNOWN, prev.text + t.text)  # 饭盒两个
                i += 1
                continue
        append(t)
        i += 1
    return out
