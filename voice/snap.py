"""Snapping a dictated Chinese transcript to the nearest thing the order grammar allows.

Whisper writes what it hears as free text: Traditional characters, homophones (大米凉袋),
made-up words. A caller orders from a small catalogue in a few sentence shapes, so the
transcript is mapped to the closest sequence of order words by toneless pinyin:

    utterance := intent word                          (是, 对, 不是, 取消 …: the whole text)
               | (filler | separator)* item ((filler | separator)* item)*
    item      := number unit product | product (number unit?)?

The distance is an edit distance over syllables, where replacing one syllable by another
costs their letter edit distance divided by the longer length (da/ta = 0.5, mi/ni = 0.5,
liang/lian = 0.2), and a syllable left out or added costs 1. Unmatched syllables (noise,
names) cost SKIP each. The words come from the order language (`snap_phrases()` in
gateway.language), sent to the worker with each stream; this module knows no catalogue.

Pure functions, no I/O; opencc and pypinyin are dependencies of the project.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

SKIP = 0.9  # an input syllable matched to nothing
FILLER_COST = 0.05  # a filler loses a tie with a content word (带 dai / 袋 dai)
PRODUCT_MAX = 0.4  # per syllable: a name matched more loosely is no name (对 dui / 水 shui)
MAX_RATIO = 0.45  # snapped only when the cost is at most this per input syllable
INTENT_BIAS = 0.05  # an intent must beat an order by this much (per input syllable)
CONFUSABLE = 0.5  # a count or unit this near what was heard is offered too (si/ci, jin/xin)
# Snapping is asked several ways and the recogniser's model chooses among the answers
# (whisper_engine rescoring): fillers costly, so a syllable is not lost into a filler
# (向由五瓶: 想 + 油五瓶 vs 酱油五瓶), and a product said without a count costly, so a connective
# is not heard as two products (环有: 蒜，油 vs 还有).
VARIANTS = ((FILLER_COST, 0.0), (0.4, 0.0), (FILLER_COST, 0.3), (0.4, 0.3))
# Only the start of a transcript is snapped: three items are under 20 syllables, and Whisper's
# loops (面条两把，面条两把，…) would otherwise cost seconds of matching.
MAX_SYLLABLES = 24
MEMO = 512  # snapped transcripts remembered per Snapper
CLASSES = ("product", "number", "unit", "filler", "separator", "intent")
_DIGITS = "零一二三四五六七八九"
_HAN_RE = re.compile(r"[\u3400-\u9fff]")


@lru_cache(maxsize=4)
def _t2s() -> object:
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """NFKC (full-width digits and punctuation), Traditional to Simplified characters."""
    text = unicodedata.normalize("NFKC", text)
    if _HAN_RE.search(text):
        text = _t2s().convert(text)  # type: ignore[attr-defined]
    return text


def _number_words(match: re.Match[str]) -> str:
    digits = match.group(0)
    if len(digits) > 3:  # a phone number or a year: read digit by digit
        return "".join(_DIGITS[int(d)] for d in digits)
    n = int(digits)
    if n < 10:
        return "两" if n == 2 else _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    return "".join(_DIGITS[int(d)] for d in digits)


def pinyin(text: str) -> list[str]:
    """Toneless pinyin syllables of the Chinese characters (and digits) in `text`."""
    from pypinyin import Style, lazy_pinyin

    text = re.sub(r"\d+", _number_words, simplified(text))
    han = "".join(c for c in text if _HAN_RE.match(c))
    return [s for s in lazy_pinyin(han, style=Style.NORMAL, errors="ignore") if s]


@lru_cache(maxsize=65536)
def syllable_cost(a: str, b: str) -> float:
    """Letter edit distance between two syllables over the longer length (0 … 1)."""
    if a == b:
        return 0.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] / max(len(a), len(b))


@lru_cache(maxsize=262144)
def align(said: tuple[str, ...], word: tuple[str, ...]) -> float:
    """Edit distance between two syllable sequences (substitution by `syllable_cost`)."""
    prev = [float(j) for j in range(len(word) + 1)]
    for i, s in enumerate(said, 1):
        cur = [float(i)]
        for j, w in enumerate(word, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + syllable_cost(s, w)))
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class Snapped:
    text: str
    cost: float  # total distance
    per_syllable: float
    intent: bool = False
    said: str = ""  # every word matched, fillers too (我要青菜九把): what a model scores
    bare: int = 0  # items without a count
    odd: int = 0  # items in a unit other than the product's usual one (units_of: the first)
    # (text, said, odd) of the readings one confusable word away: a count or a unit heard
    # loosely (卫生纸刺提: 四提 as well as 一提), a unit the product is not sold in (苹果两瓶: each
    # unit it is sold in); the recogniser's model chooses among them
    others: tuple[tuple[str, str, int], ...] = ()

    @property
    def spoken(self) -> str:
        return self.said or self.text


# Grammar states: S start/between items, N a number before a product, NU number and unit,
# P product (a count may follow), PN product and number(s), C a complete item, F after an
# item and a filler/separator (a product was said: may end). Final: P, PN, C, F.
_FINAL = {"P", "PN", "C", "F"}
_MOVES: dict[tuple[str, str], str] = {
    ("S", "filler"): "S", ("S", "separator"): "S", ("S", "number"): "N", ("S", "product"): "P",
    ("F", "filler"): "F", ("F", "separator"): "F", ("F", "number"): "N", ("F", "product"): "P",
    ("N", "unit"): "NU",  # a count before the name takes its measure word: 十把青菜, not 十八青菜
    ("NU", "product"): "C",
    ("P", "number"): "PN", ("P", "filler"): "F", ("P", "separator"): "F", ("P", "product"): "P",
    ("PN", "unit"): "C", ("PN", "filler"): "F",
    ("PN", "separator"): "F", ("PN", "product"): "P",
    ("C", "filler"): "F", ("C", "separator"): "F", ("C", "number"): "N", ("C", "product"): "P",
}
# Leaving P (a product with no count) for another word, or ending there: a bare item.
_BARE = {("P", "filler"), ("P", "separator"), ("P", "product")}
# A new item starts without a word between: a comma keeps the parser from joining them.
_NEW_ITEM = {("P", "product"), ("PN", "product"), ("C", "number"), ("C", "product")}


@dataclass(frozen=True)
class _Step:
    """One word of a snapped path: its part of the order's text ("" for a filler), the word,
    its class, the syllables it was matched to, and that match's cost."""

    text: str
    word: str
    cls: str
    heard: tuple[str, ...]
    cost: float


def _spoken(path: list[_Step], fixed: list[str]) -> str:
    """The words said: the order's words (`fixed`, units fixed) with the fillers between."""
    said = iter(fixed)
    return "".join(next(said).lstrip("，") if st.text else st.word for st in path)


def _once(text: str) -> str:
    """Each item once: Whisper loops (面条两把，面条两把，…); nobody lists a thing twice."""
    items = [t for t in text.split("，") if t]
    return "，".join(dict.fromkeys(items))


def _numerals(numbers: set[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Counts of two syllables or more, as words: 十一 … 九十九. A count is one number word,
    so two digits in a row are not a count (大葱一八 is 大葱一把, not 18)."""
    if "十" not in numbers:
        return []
    digits = [d for d in "一二三四五六七八九" if d in numbers]
    out = [f"十{d}" for d in digits] + [f"{d}十" for d in digits if d != "一"] + \
        [f"{a}十{b}" for a in digits if a != "一" for b in digits]
    return [(w, tuple(pinyin(w))) for w in out if w not in numbers]


class Snapper:
    """Built once per word set (the worker caches it); `snap(text)` is pure."""

    def __init__(self, phrases: Mapping[str, Sequence[str]]) -> None:
        self._memo: dict[tuple[str, tuple[tuple[float, float], ...]], list[Snapped | None]] = {}
        self.words: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for cls in CLASSES:
            seen: dict[str, tuple[str, ...]] = {}
            for w in phrases.get(cls, ()):
                syl = tuple(pinyin(w))
                if syl and w not in seen:
                    seen[w] = syl
            self.words[cls] = list(seen.items())
        self.words["number"] += _numerals({w for w, _ in self.words["number"]})
        self.units_of: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for line in phrases.get("units_of", ()):
            name, _, units = line.partition(":")
            self.units_of[name] = [(u, tuple(pinyin(u))) for u in units.split(",") if u]
        # the unit and number words, for the checks each reading makes (not rebuilt per call)
        self.unit_words = {w for w, _ in self.words["unit"]}
        self.number_words = {w for w, _ in self.words["number"]}
        self.longest = max((len(ws) for ws_list in self.words.values() for _, ws in ws_list),
                           default=1)

    def _matches(self, syl: list[str]) -> list[list[tuple[int, str, str, float]]]:
        """For each start: (end, class, word, cost) of every order word near that span (a
        filler's own cost is added by the caller: it is what the variants change)."""
        n = len(syl)
        spans = {(i, length): tuple(syl[i:i + length]) for i in range(n)
                 for length in range(1, min(n - i, self.longest + 1) + 1)}
        out: list[list[tuple[int, str, str, float]]] = [[] for _ in range(n)]
        for cls in ("product", "number", "unit", "filler", "separator"):
            for word, ws in self.words[cls]:
                k = len(ws)
                limit = PRODUCT_MAX * k if cls == "product" else math.inf
                for i in range(n):
                    best: tuple[float, int] | None = None
                    for length in (k - 1, k, k + 1):
                        span = spans.get((i, length))
                        if span is None:
                            continue
                        c = align(span, ws)
                        if c < length * SKIP and c <= limit and (best is None or c < best[0]):
                            best = (c, i + length)
                    if best is not None:
                        out[i].append((best[1], cls, word, best[0]))
        return out

    def snap_order(self, syl: list[str], *, filler: float = FILLER_COST, bare: float = 0.0,
                   matches: list[list[tuple[int, str, str, float]]] | None = None,
                   ) -> Snapped | None:
        """The cheapest order for `syl`; `filler` is added per filler word, `bare` per product
        said without a count; `matches` are `_matches(syl)` when the caller has them."""
        n = len(syl)
        if not n:
            return None
        inf = math.inf
        # per end position and grammar state: (cost, start, previous state, the order's text,
        # the word said, its class, its own cost)
        best: list[dict[str, tuple[float, int, str, str, str, str, float]]] = \
            [{} for _ in range(n + 1)]
        best[0]["S"] = (0.0, -1, "", "", "", "", 0.0)
        matches = self._matches(syl) if matches is None else matches
        for i in range(n):
            for state, (cost, *_rest) in list(best[i].items()):
                # skip one syllable
                cur = best[i + 1].get(state)
                if cur is None or cost + SKIP < cur[0]:
                    best[i + 1][state] = (cost + SKIP, i, state, "", "", "", 0.0)
                for end, cls, word, c in matches[i]:
                    nxt = _MOVES.get((state, cls))
                    if nxt is None:
                        continue
                    total = cost + (c + (filler if cls == "filler" else 0.0)) + \
                        (bare if (state, cls) in _BARE else 0.0)
                    cur = best[end].get(nxt)
                    if cur is None or total < cur[0]:
                        sep = "，" if (state, cls) in _NEW_ITEM else ""
                        text = "" if cls == "filler" else sep + word
                        best[end][nxt] = (total, i, state, text, word, cls, c)
        finals = [(v[0] + (bare if s == "P" else 0.0), s) for s, v in best[n].items()
                  if s in _FINAL]
        if not finals:
            return None
        cost, state = min(finals)
        if cost == inf:
            return None
        path: list[_Step] = []
        bare = 1 if state == "P" else 0
        pos = n
        while pos > 0:
            _c, prev_pos, prev_state, text, word, cls, c = best[pos][state]
            if word:
                path.append(_Step(text, word, cls, tuple(syl[prev_pos:pos]), c))
                bare += (prev_state, cls) in _BARE
            pos, state = prev_pos, prev_state
        path.reverse()
        fixed = self._fix_units([st.text for st in path if st.text])
        joined = "".join(fixed)
        text = _once(joined)
        if text != joined:  # a loop cut: scored as the text
            return Snapped(text, cost, cost / n, bare=bare)
        return Snapped(text, cost, cost / n, said=_spoken(path, fixed), bare=bare,
                       odd=self._odd(fixed), others=tuple(self._confusions(path, fixed)))

    def _odd(self, parts: list[str]) -> int:
        """How many items of `parts` are in a unit other than their product's usual one."""
        words = [p.lstrip("，") for p in parts]
        odd = 0
        for i, w in enumerate(words):
            sold = self.units_of.get(self._product_of(words, parts, i)) \
                if w in self.unit_words else None
            odd += bool(sold) and sold[0][0] != w  # type: ignore[index]
        return odd

    def _confusions(self, path: list[_Step], fixed: list[str]) -> list[tuple[str, str, int]]:
        """The readings one word away from `fixed`: see `Snapped.others`."""
        steps = [st for st in path if st.text]
        words = [f.lstrip("，") for f in fixed]
        out: list[tuple[str, str, int]] = []
        for k, st in enumerate(steps):
            alts: list[str] = []
            if st.cls == "number" and st.cost > 0 and len(st.heard) == 1:
                alts = [w for w, ws in self.words["number"] if len(ws) == 1 and w != st.word
                        and syllable_cost(st.heard[0], ws[0]) <= CONFUSABLE]
            elif st.cls == "unit":
                sold = self.units_of.get(self._product_of(words, fixed, k), [])
                alts = [u for u, us in sold if u != words[k] and
                        (words[k] != st.word or (st.cost > 0 and align(st.heard, us) <= CONFUSABLE))]
            for a in alts:
                new = list(fixed)
                new[k] = fixed[k].replace(words[k], a)
                out.append(("".join(new), _spoken(path, new), self._odd(new)))
        return out

    def _product_of(self, words: list[str], parts: list[str], i: int) -> str:
        """The product of the unit at `i`: the one before its count (鸡肉两件), else the next
        word (两件鸡肉), else the nearest one before."""
        if i >= 2 and words[i - 1] in self.number_words and words[i - 2] in self.units_of and \
                not parts[i - 1].startswith("，"):
            return words[i - 2]
        if i + 1 < len(words) and words[i + 1] in self.units_of and \
                not parts[i + 1].startswith("，"):
            return words[i + 1]
        return next((words[j] for j in range(i - 1, -1, -1) if words[j] in self.units_of
                     or parts[j].startswith("，")), "")

    def _fix_units(self, parts: list[str]) -> list[str]:
        """A counter the product is not sold in becomes the nearest one it is (by pinyin):
        the parser would otherwise keep the misheard one (鸡肉两件)."""
        parts = list(parts)
        if not self.units_of:
            return parts
        words = [p.lstrip("，") for p in parts]
        for i, w in enumerate(words):
            if w not in self.unit_words:
                continue
            sold = self.units_of.get(self._product_of(words, parts, i))
            if sold and w not in {u for u, _ in sold}:
                said = tuple(pinyin(w))
                nearest = min(sold, key=lambda u: (align(said, u[1]), u[0]))
                if align(said, nearest[1]) <= 0.5:
                    parts[i] = parts[i].replace(w, nearest[0])
        return parts


    def snap_intent(self, syl: list[str]) -> Snapped | None:
        if not syl or not self.words["intent"]:
            return None
        cost, word = min((align(tuple(syl), ws), w) for w, ws in self.words["intent"])
        return Snapped(word, cost, cost / len(syl), intent=True)

    def snap(self, text: str, *, filler: float = FILLER_COST,
             bare: float = 0.0) -> Snapped | None:
        """The nearest order or intent to `text`, or None when nothing is near enough."""
        return self._ways(text, ((filler, bare),))[0]

    def _ways(self, text: str, variants: Sequence[tuple[float, float]]) -> list[Snapped | None]:
        """`snap(text)` for each (filler, bare) in `variants`; the pinyin, the word matches and
        the intent are worked out once for all of them. Remembered: Whisper's passes with and
        without the prompt often write the same transcript, and a call says the same things
        again (the last `MEMO` texts)."""
        key = (text, tuple(variants))
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= MEMO:
                self._memo.clear()
            hit = self._memo[key] = self._ways_now(text, variants)
        return hit

    def _ways_now(self, text: str, variants: Sequence[tuple[float, float]]) -> list[Snapped | None]:
        syl = pinyin(text)[:MAX_SYLLABLES]
        matches, intent = self._matches(syl), self.snap_intent(syl)
        out: list[Snapped | None] = []
        for filler, bare in variants:
            order = self.snap_order(syl, filler=filler, bare=bare, matches=matches)
            found = [x for x in (order, intent) if x is not None and x.per_syllable <= MAX_RATIO]
            out.append(min(found, key=lambda x: x.per_syllable + (INTENT_BIAS if x.intent else 0.0))
                       if found else None)
        return out

    def snap_all(self, texts: Sequence[str], variants: Sequence[tuple[float, float]] = VARIANTS[:1],
                 ) -> list[Snapped]:
        """Each text snapped (those near enough) each way in `variants` ((filler, bare) costs),
        best first, each snapped text once (at its lowest cost)."""
        out: dict[str, Snapped] = {}
        for t in texts:
            for s in self._ways(t, variants):
                if s is not None and (s.text not in out or s.cost < out[s.text].cost):
                    out[s.text] = s
        # a tie goes to fewer items: 一斤鸡肉 rather than 一斤鸡，肉
        return sorted(out.values(), key=lambda s: (s.per_syllable, s.text.count("，")))
