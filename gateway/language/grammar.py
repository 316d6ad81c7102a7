"""Tokens to meaning: quantities joined to the goods they count, then the intent of the text."""

from __future__ import annotations

from decimal import Decimal

from .lexicon import (
    CONTEXT,
    EACH,
    HALF,
    INTENT,
    NUM,
    PARTICLE,
    PRODUCT,
    SEP,
    UNIT,
    UNKNOWN,
    VERB,
    Lexicon,
)
from .model import ParsedItem, ParseResult
from .scan import Tok

ONE = Decimal(1)
HALF_Q = Decimal("0.5")
APPROX = frozenset(("来", "多", "余", "几", "把"))


class Qty:
    __slots__ = ("text", "unit", "value")

    def __init__(self, value: Decimal, unit: str | None, text: str) -> None:
        self.value, self.unit, self.text = value, unit, text


class Noun:
    """A product said, or an unknown word that may be goods."""

    __slots__ = ("before", "context", "qty", "skus", "text")

    def __init__(self, skus: tuple[str, ...] | None, text: str, context: bool) -> None:
        self.skus, self.text, self.context = skus, text, context
        self.qty: Qty | None = None
        self.before = False   # the quantity was said before the noun


class Mark:
    """A separator ("S", with `conj` for 和/、/하고), an order verb ("V") or 各 ("E")."""

    __slots__ = ("conj", "kind")

    def __init__(self, kind: str, conj: bool = False) -> None:
        self.kind, self.conj = kind, conj


# Marks are never changed: one of each, shared by every parse.
MARK_S, MARK_CONJ, MARK_V, MARK_E = Mark("S"), Mark("S", True), Mark("V"), Mark("E")

Element = Noun | Qty | Mark


def _compose(a: Decimal, b: Decimal) -> Decimal | None:
    """Two number words said apart as one number: 열 두 (12), 이 십 (20), 스물 다섯 (25)."""
    if b in (10, 100, 1000) and 0 < a < 10:
        return a * b
    if a >= 10 and a % 10 == 0 and 0 < b < 10 or a >= 100 and a % 100 == 0 and 0 < b < 100:
        return a + b
    return None


def group(tokens: list[Tok], not_counts: frozenset[str] = frozenset(),
          ordinals: frozenset[str] = frozenset()) -> tuple[list[Element], list[str]]:
    """Quantity phrases (一斤半, 두 개, 半斤, bare 袋 before a product) and marks; the intents."""
    els: list[Element] = []
    append = els.append
    intents: list[str] = []
    context = False
    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        k = t.kind
        if k == PRODUCT:
            append(Noun(t.value, t.text, context))  # type: ignore[arg-type]
        elif k == NUM:
            after = tokens[i + 1] if i + 1 < n else None
            if after is not None and (after.kind == CONTEXT or after.text in not_counts
                                      or after.kind == UNKNOWN
                                      and after.text[:1] in not_counts) \
                    or i > 0 and tokens[i - 1].text in ordinals \
                    or len(t.text) >= 6 and t.text.isdigit():
                i += 2 if after is not None and after.text in not_counts else 1
                continue  # 三组, 三点, 十块钱, 두 시, a phone number: not a count of goods
            value: Decimal = t.value  # type: ignore[assignment]
            text = t.text
            unit: str | None = None
            i += 1
            while i < n and tokens[i].kind == NUM and not tokens[i].text.isdigit() \
                    and not text.isdigit():
                joined = _compose(value, tokens[i].value)  # type: ignore[arg-type]
                if joined is None:
                    break
                value, text = joined, text + tokens[i].text  # 열 두 = 12, 삼 십 = 30
                i += 1
            if i + 1 < n and tokens[i].text in APPROX and tokens[i + 1].kind == UNIT:
                i += 1  # 十来斤, 二十多个: about that many
            if i < n and tokens[i].kind == UNIT:
                unit = tokens[i].value  # type: ignore[assignment]
                text += tokens[i].text
                i += 1
                if i < n and tokens[i].kind == HALF:
                    value = value + HALF_Q
                    text += tokens[i].text
                    i += 1
            elif i < n and tokens[i].kind == HALF:
                value = HALF_Q if value == ONE else value + HALF_Q
                text += tokens[i].text
                i += 1
                if i < n and tokens[i].kind == UNIT:
                    unit = str(tokens[i].value)
                    text += tokens[i].text
                    i += 1
            append(Qty(value, unit, text))
            continue
        elif k == UNKNOWN:
            append(Noun(None, t.text, context))
        elif k == UNIT:
            # A bare counter counts one, but only right before a product: 来袋米, 要包盐.
            if i + 1 < n and tokens[i + 1].kind == PRODUCT:
                append(Qty(ONE, t.value, t.text))  # type: ignore[arg-type]
        elif k == SEP:
            if t.list_sep:
                append(MARK_CONJ)
            else:
                append(MARK_S)
                context = False
        elif k == HALF:
            if i + 1 < n and tokens[i + 1].kind == UNIT:
                append(Qty(HALF_Q, tokens[i + 1].value, t.text + tokens[i + 1].text))  # type: ignore[arg-type]
                i += 2
                continue
        elif k == PARTICLE:
            if t.list_sep:
                append(MARK_CONJ)
        elif k == VERB:
            if t.value:
                append(MARK_S)
            append(MARK_V)
            context = False
        elif k == EACH:
            append(MARK_E)
        elif k == CONTEXT:
            context = True
        elif k == INTENT:
            intents.append(t.value)  # type: ignore[arg-type]
        i += 1
    return els, intents


def _neighbour(els: list[Element], k: int, step: int) -> tuple[Noun | None, int]:
    """The noun next to els[k] and how far apart: 0 adjacent, 1 an order verb before the
    quantity ("张大爷 要 两袋 米": the verb starts a new item), 2 a separator."""
    j = k + step
    gap = 0
    n = len(els)
    while 0 <= j < n:
        e = els[j]
        if type(e) is Noun:
            return e, gap
        if e is MARK_V:
            if step < 0 and gap < 1:
                gap = 1
            j += step
            continue
        if (e is MARK_S or e is MARK_CONJ) and gap < 2:
            gap = 2
            j += step
            continue
        return None, gap
    return None, gap


def _fits(lex: Lexicon, q: Qty, noun: Noun) -> bool:
    if noun.skus is None or len(noun.skus) != 1:
        return True
    return lex.fits(q.unit, lex.products[noun.skus[0]])


def attach(els: list[Element], lex: Lexicon) -> None:
    """Give each quantity to the noun it counts: before or after it, by adjacency and unit."""
    last = len(els) - 1
    for k, q in enumerate(els):
        if type(q) is not Qty:
            continue
        before_each = k > 0 and els[k - 1] is MARK_E
        if before_each or k < last and els[k + 1] is MARK_E:
            # 酱油和醋各一瓶 / 간장하고 식초 한 병씩: one count for each good listed before.
            j = k - 2 if before_each else k - 1
            while j >= 0:
                e = els[j]
                if type(e) is Noun:
                    if e.qty is not None:
                        break
                    e.qty = q
                elif type(e) is not Mark or e.kind == "E":
                    break
                j -= 1
            continue
        prev, pgap = _neighbour(els, k, -1)
        nxt, ngap = _neighbour(els, k, +1)
        if prev is not None and prev.qty is not None:
            prev = None
        if nxt is not None and nxt.qty is not None:
            nxt = None
        if prev is not None and nxt is not None:
            if pgap == 0 and ngap == 0:
                fp, fn = _fits(lex, q, prev), _fits(lex, q, nxt)
                if fp != fn:
                    target = prev if fp else nxt
                elif (prev.skus is None) != (nxt.skus is None):
                    target = nxt if prev.skus is None else prev  # a known product over a stranger
                else:
                    target = prev  # "大米两袋面粉": the count follows the name it counts
            else:
                # Nearest first; on a tie the noun before (a count usually follows its name).
                target = prev if pgap <= ngap else nxt
        elif prev is not None:
            target = prev
        elif nxt is not None:
            target = nxt
        else:
            continue
        target.qty = q
        target.before = target is nxt


def _goods_like(els: list[Element], k: int, noun: Noun) -> bool:
    """An unknown word is goods when counted, ordered ("还要葱") or listed with goods."""
    if noun.qty is not None:
        return True
    if k > 0 and isinstance(els[k - 1], Mark) and els[k - 1].kind == "V":  # type: ignore[union-attr]
        nxt = els[k + 1] if k + 1 < len(els) else None
        return nxt is None or isinstance(nxt, Mark) and nxt.kind == "S"
    if noun.context:
        return False
    if 0 < k < len(els) - 1 and isinstance(els[k - 1], Noun) and isinstance(els[k + 1], Noun):
        return True  # 油盐酱醋: listed between goods
    for step in (-1, 1):
        j = k + step
        if 0 <= j < len(els) and isinstance(els[j], Mark) and els[j].conj:  # type: ignore[union-attr]
            other = els[j + step] if 0 <= j + step < len(els) else None
            if isinstance(other, Noun) and other.skus is not None:
                return True
    return False


def interpret(tokens: list[Tok], lex: Lexicon, spaced: bool, priority: list[str]) -> ParseResult:
    els, intents = group(tokens, lex.not_counts, lex.ordinals)
    attach(els, lex)
    items: list[ParsedItem] = []
    unmatched: list[str] = []
    joiner = " " if spaced else ""
    for k, e in enumerate(els):
        if type(e) is not Noun:
            continue
        skus = e.skus
        if skus is None:
            if _goods_like(els, k, e):
                unmatched.append(e.text)
            continue
        q = e.qty
        if len(skus) != 1 or q is not None and q.value <= 0:
            unmatched.append(e.text)   # two products share the word, or "zero" of it
            continue
        p = lex.products[skus[0]]
        if q is None:
            items.append(ParsedItem(p.sku, p.name, ONE, p.unit, e.text))
            continue
        unit = p.unit if q.unit is None else lex.resolve_unit(q.unit, p)
        source = q.text + joiner + e.text if e.before else e.text + joiner + q.text
        items.append(ParsedItem(p.sku, p.name, q.value, unit, source))
    if items or unmatched:
        intent = "order"
        for special in ("cancel", "status", "repeat"):
            if special in intents:
                intent = special
                break
        if intent in ("cancel", "status"):
            items, unmatched = [], []  # the goods named are a reference, not an order
        return ParseResult(intent, items, unmatched)
    for intent in priority:
        if intent in intents:
            return ParseResult(intent, items, unmatched)
    return ParseResult("unknown", items, unmatched)
