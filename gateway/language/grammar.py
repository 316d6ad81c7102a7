"""Tokens to meaning: quantities joined to the goods they count, then the intent of the text."""

from __future__ import annotations

from decimal import Decimal

from .lexicon import (
    CHANGE,
    CONTEXT,
    EACH,
    HALF,
    INTENT,
    NUM,
    PARTICLE,
    PRODUCT,
    REMOVE,
    SEP,
    UNIT,
    UNKNOWN,
    VERB,
    Lexicon,
)
from .model import Correction, ParsedItem, ParseResult
from .scan import TIMES, Tok

ONE = Decimal(1)
HALF_Q = Decimal("0.5")
LIST_INDEX = frozenset(".、)）")  # "1.白菜" "2、鸡蛋" "1）西红柿": a list number before them
OPEN, CLOSE = frozenset("(（[【"), frozenset(")）]】")
SPECS, PAIRS = 1, 2  # what group() saw: package sizes to drop, nouns side by side
PRICE = "price"  # a price question (多少钱): goods named without a count are asked about


class Qty:
    __slots__ = ("soft", "spec", "text", "unit", "value")

    def __init__(self, value: Decimal, unit: str | None, text: str) -> None:
        self.value, self.unit, self.text = value, unit, text
        self.spec = False  # a package size (10斤装, 100g*12, 15구짜리), not the count
        self.soft = False  # the unit comes with the number word (俩 = 两个, 仨 = 三个): pieces,
        # kept as said like any unit the product does not list; it fits any noun


class Noun:
    """A product said, or an unknown word that may be goods."""

    __slots__ = ("before", "context", "qty", "removed", "replaces", "said", "skus", "text")

    def __init__(self, skus: tuple[str, ...] | None, text: str, context: bool) -> None:
        self.skus, self.text, self.context = skus, text, context
        self.qty: Qty | None = None
        self.before = False    # the quantity was said before the noun
        self.removed = False   # taken back (萝卜不要了): no line, and earlier lines dropped
        self.replaces = False  # a changed count (改成三根): earlier lines of it dropped
        self.said = ""         # the correction's words, for the read-back


class Mark:
    """A separator ("S", with `conj` for 和/、/하고), an order verb ("V"), 各 ("E"), or a
    correction: a word taking goods back ("R", 不要了/빼고) or changing a count ("C", 改成/아니),
    with the intent it has when it corrects nothing (`fallback`)."""

    __slots__ = ("conj", "fallback", "kind", "text", "used")

    def __init__(self, kind: str, conj: bool = False, text: str = "",
                 fallback: str | None = None) -> None:
        self.kind, self.conj, self.text, self.fallback = kind, conj, text, fallback
        self.used = False


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


def group(tokens: list[Tok], lex: Lexicon) -> tuple[list[Element], list[str], list[Mark], int]:
    """Quantity phrases (一斤半, 두 개, 半斤, bare 袋 before a product) and marks; the intents,
    the correction marks, and which later passes the text needs (SPECS, PAIRS)."""
    not_counts, ordinals = lex.not_counts, lex.ordinals
    spec_markers, titles, compounds = lex.spec_markers, lex.titles, lex.compounds
    address_digits = lex.address_digits
    price_words = lex.price_words
    els: list[Element] = []
    append = els.append
    intents: list[str] = []
    marks: list[Mark] = []  # corrections said (R, C)
    needs = 0  # SPECS: a package size or two quantities in a row; PAIRS: two nouns in a row
    context = False
    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        k = t.kind
        if k == PRODUCT:
            if i + 1 < n and tokens[i + 1].text in titles \
                    or i > 0 and tokens[i - 1].text in lex.name_markers:
                i += 1  # 姜阿姨, 김 할머니, 我姓米: a name, not goods
                continue
            if els and type(els[-1]) is Noun:
                needs |= PAIRS
            append(Noun(t.value, t.text, context))  # type: ignore[arg-type]
        elif k == NUM:
            after = tokens[i + 1] if i + 1 < n else None
            text = t.text
            start = i
            if after is not None and (after.kind == CONTEXT or after.text in not_counts
                                      or after.kind == UNKNOWN
                                      and after.text[:1] in not_counts) \
                    or i > 0 and tokens[i - 1].text in ordinals \
                    or len(text) >= 6 and text.isdigit() \
                    or address_digits and len(text) >= address_digits and text.isdigit() \
                    and (after is None or after.kind != UNIT) \
                    or after is not None and after.kind == SEP and after.text in LIST_INDEX \
                    and (i == 0 or tokens[i - 1].kind not in (PRODUCT, UNKNOWN)):
                # 三组, 三点, 十块钱, 두 시, a phone number, a room (602), a list number (1.):
                # not a count of goods
                i += 2 if after is not None and after.text in not_counts else 1
                continue
            if text[0] in TIMES and els and type(els[-1]) is Qty and els[-1].unit is not None \
                    and tokens[i - 1].kind == UNIT:
                els[-1].spec = True  # 100g*12, 250ml×24: a package, the count comes after
                needs |= SPECS
                i += 1
                continue
            value: Decimal = t.value  # type: ignore[assignment]
            unit: str | None = None
            i += 1
            while i < n and tokens[i].kind == NUM and not tokens[i].text.isdigit() \
                    and not text.isdigit():
                joined = _compose(value, tokens[i].value)  # type: ignore[arg-type]
                if joined is None:
                    break
                value, text = joined, text + tokens[i].text  # 열 두 = 12, 삼 십 = 30
                i += 1
            if i + 1 < n and tokens[i].text in lex.approx and tokens[i + 1].kind == UNIT:
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
            if unit is not None and i + 1 < n and tokens[i].kind == NUM \
                    and tokens[i + 1].kind == UNIT \
                    and (unit, str(tokens[i + 1].value)) in compounds:
                # 一斤三两: the smaller unit adds to the bigger one
                factor = compounds[(unit, str(tokens[i + 1].value))]
                value += tokens[i].value * factor  # type: ignore[operator]
                text += tokens[i].text + tokens[i + 1].text
                i += 2
            soft = unit is None and t.text in lex.word_units
            if soft:
                unit = lex.word_units[t.text]  # 俩 = 两个, 仨 = 三个
            q = Qty(value, unit, text)
            q.soft = soft
            if i < n and tokens[i].text in spec_markers:
                q.spec = True  # 10斤装, 5连包, 15구짜리
                i += 1
            if start > 0 and tokens[start - 1].text in OPEN and i < n and tokens[i].text in CLOSE:
                q.spec = True  # 鸡蛋十个（一打）, 卫生纸（10卷）一提: an aside, not the count
            if start > 0 and tokens[start - 1].text in price_words \
                    or i < n and tokens[i].text in price_words:
                continue  # 多少钱一斤, 一斤多少钱: the price's unit, not a count
            if q.spec or els and (type(els[-1]) is Qty or els[-1] is MARK_V and len(els) > 1
                                  and type(els[-2]) is Qty):
                needs |= SPECS
            append(q)
            continue
        elif k == UNKNOWN:
            if i > 0 and tokens[i - 1].kind == PRODUCT and t.text.isascii() \
                    and t.text.isalnum() and els and type(els[-1]) is Noun:
                i += 1  # 건전지 AA 네 개, 电池AA两节: a model or size of the product, not goods
                continue
            if els and type(els[-1]) is Noun:
                needs |= PAIRS
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
            if t.text in price_words:
                intents.append(PRICE)
        elif k == REMOVE or k == CHANGE:
            m = Mark("R" if k == REMOVE else "C", text=t.text,
                     fallback=t.value)  # type: ignore[arg-type]
            append(m)
            marks.append(m)
        i += 1
    return els, intents, marks, needs


def _neighbour(els: list[Element], k: int, step: int) -> tuple[Noun | None, int]:
    """The noun next to els[k] and how far apart: 0 adjacent, 1 an order verb before the
    quantity ("张大爷 要 两袋 米": the verb starts a new item) or a change word (黄瓜改成三根),
    2 a separator."""
    j = k + step
    gap = 0
    n = len(els)
    while 0 <= j < n:
        e = els[j]
        if type(e) is Noun:
            return e, gap
        if e is MARK_V or step < 0 and type(e) is Mark and e.kind == "C":
            if step < 0 and gap < 1:
                gap = 1
            j += step
            continue
        if (e is MARK_S or e is MARK_CONJ) and (gap < 2 or els[j - step] is MARK_S
                                                 or els[j - step] is MARK_CONJ):
            gap = 2  # one separator; "，再来" (a comma, then a separating verb) is one too
            j += step
            continue
        return None, gap
    return None, gap


def _fits(lex: Lexicon, q: Qty, noun: Noun) -> bool:
    if noun.skus is None or len(noun.skus) != 1 or q.soft:
        return True
    return lex.fits(q.unit, lex.products[noun.skus[0]])


def _noun_by(els: list[Element], k: int, step: int) -> Noun | None:
    """The noun right beside els[k] (a verb mark in between allowed), else None."""
    j = k + step
    while 0 <= j < len(els) and els[j] is MARK_V:
        j += step
    e = els[j] if 0 <= j < len(els) else None
    return e if type(e) is Noun else None


def drop_specs(els: list[Element], lex: Lexicon) -> list[Element]:
    """Package sizes are not counts: a quantity marked as one (10斤装, 100g*12, 15구짜리) goes,
    and of two quantities said one after the other (花生油5L一桶, 물 500ml 한 묶음) the one
    the product is not sold by goes, else the first (面粉25斤一袋)."""
    out = els
    for e in els:
        if type(e) is Qty and e.spec:
            out = [e for e in els if type(e) is not Qty or not e.spec]
            break
    k = 0
    while k < len(out):
        a = out[k]
        if type(a) is not Qty:
            k += 1
            continue
        j = k + 1
        while j < len(out) and out[j] is MARK_V:
            j += 1
        b = out[j] if j < len(out) else None
        if type(b) is not Qty or b.unit is None or a.unit is None:
            k += 1
            continue
        if out is els:
            out = list(els)  # never change the caller's list
        noun = _noun_by(out, k, -1) or _noun_by(out, j, +1)
        drop = k
        if noun is not None and noun.skus is not None and len(noun.skus) == 1:
            if _fits(lex, a, noun) and not _fits(lex, b, noun):
                drop = j
        del out[drop]
    return out


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
        if target.skus is None and target is prev and pgap > 0 and q.unit is not None:
            # "西红柿熟了没？熟了就要两斤": a clause between the product and its count; the
            # count goes to the last product before it that has none and is sold by that unit.
            for j in range(k - 1, -1, -1):
                e = els[j]
                if type(e) is Noun and e.skus is not None and len(e.skus) == 1:
                    if e.qty is None and _fits(lex, q, e):
                        target = e
                    break
        target.qty = q
        target.before = target is nxt


def _same_line(lex: Lexicon, a: Noun, b: Noun) -> Noun | None:
    """Two products said side by side that are one line: one's word is part of the other's
    name (국거리 소고기 with 소고기 국거리 in the catalogue). The more specific one, or None."""
    if a.skus is None or b.skus is None or len(a.skus) != 1 or len(b.skus) != 1 \
            or a.skus == b.skus:
        return None
    fa, fb = lex.forms.get(a.skus[0], ()), lex.forms.get(b.skus[0], ())
    ta, tb = a.text.replace(" ", ""), b.text.replace(" ", "")
    # 국거리 소고기 (소고기 국거리 is 국거리's name); 돼지고기 앞다리 (돼지, pork's alias, is in
    # 돼지 앞다리, the cut's alias)
    if any(len(w) >= 2 and any(w in f and f != w for f in fa) for w in (tb, *fb)):
        return a
    if any(len(w) >= 2 and any(w in f and f != w for f in fb) for w in (ta, *fa)):
        return b
    return None


def merge_same(els: list[Element], lex: Lexicon) -> None:
    """Side-by-side products that are one line (국거리 소고기): the specific one keeps it."""
    a: Element | None = None
    for b in els:
        if type(a) is Noun and type(b) is Noun:
            one = _same_line(lex, a, b)
            if one is not None:
                other = b if one is a else a
                if one.qty is None and other.qty is not None:
                    one.qty, one.before = other.qty, other.before
                other.qty, other.skus, other.removed = None, None, True
        a = b


def correct(els: list[Element], lex: Lexicon, joiner: str = "") -> None:
    """Apply the corrections said: a product taken back (萝卜不要了, 不要菜籽油, 콩나물은 빼
    주세요), a count changed (黄瓜改成三根, 두 모… 아니 한 모만, 양파 한 망 말고 두 개만), one
    product instead of another (콩나물 말고 숙주로 한 봉지). A mark that changes nothing is
    left unused (its intent word then counts: 不要了 alone cancels)."""
    n = len(els)
    for k, m in enumerate(els):
        if type(m) is not Mark or m.kind not in "RC":
            continue
        j = k - 1
        while j >= 0 and (type(els[j]) is Qty or els[j] is MARK_S or els[j] is MARK_V
                          or els[j] is MARK_CONJ) and not (m.kind == "R" and els[j] is MARK_S):
            j -= 1
        prev = els[j] if j >= 0 and type(els[j]) is Noun else None
        if m.kind == "R":
            target = prev
            if target is None and k + 1 < n and type(els[k + 1]) is Noun:
                target = els[k + 1]  # 不要菜籽油
            if target is None and k + 1 < n and type(els[k + 1]) is Qty:
                m.used = True  # 豆腐要三块，不要两块: "not that many", the count said stands
                continue
            if target is not None:
                target.removed = True
                target.said = target.text + joiner + m.text if prev is target \
                    else m.text + joiner + target.text
                m.used = True
            continue
        # A change: what follows it, before the next correction.
        nxt_q: Qty | None = None
        nxt_n: Noun | None = None
        for e in els[k + 1:]:
            if type(e) is Mark and e.kind in "RC":
                break
            if type(e) is Noun:
                nxt_n = e
                break
            if type(e) is Qty:
                nxt_q = e
                break
        if nxt_q is not None and prev is not None and prev.skus is not None:
            owner = prev if prev.qty is nxt_q else None
            if owner is None and not any(type(e) is Noun and e.qty is nxt_q for e in els):
                prev.qty, owner = nxt_q, prev
            if owner is not None:
                owner.replaces = True
                owner.said = m.text + joiner + nxt_q.text
                m.used = True
        elif nxt_n is not None:
            if prev is not None and prev.skus is not None and nxt_n.skus is not None \
                    and prev.skus != nxt_n.skus:
                prev.removed = True  # 콩나물 말고 숙주로
                prev.said = prev.text + joiner + m.text
            elif prev is not None and prev.skus == nxt_n.skus:
                nxt_n.replaces = True
                nxt_n.said = m.text + joiner + nxt_n.text
            m.used = True


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
    els, intents, marks, needs = group(tokens, lex)
    if needs & SPECS:
        els = drop_specs(els, lex)
    attach(els, lex)
    if marks:
        correct(els, lex, " " if spaced else "")
        intents.extend(m.fallback for m in marks if not m.used and m.fallback)
    if needs & PAIRS:
        merge_same(els, lex)
    items: list[ParsedItem] = []
    unmatched: list[str] = []
    corrections: list[Correction] = []
    joiner = " " if spaced else ""
    counted: set[str] = set()  # skus whose line has a count said
    lined: set[str] = set()    # skus with a line
    for k, e in enumerate(els):
        if type(e) is not Noun:
            continue
        skus = e.skus
        if e.removed:
            if skus is not None and len(skus) == 1 and e.said:
                p = lex.products[skus[0]]
                items = [i for i in items if i.sku != p.sku]
                counted.discard(p.sku)
                lined.discard(p.sku)
                corrections.append(Correction("removed", p.sku, p.name, e.said, word=e.text))
            continue
        if skus is None:
            if _goods_like(els, k, e):
                unmatched.append(e.text)
            continue
        q = e.qty
        if len(skus) != 1 or q is not None and q.value <= 0:
            unmatched.append(e.text)   # two products share the word, or "zero" of it
            continue
        p = lex.products[skus[0]]
        if p.sku in lined:
            if q is None:
                continue  # 猪肉两斤，要瘦肉: said again without a count, the same line
            if e.replaces or p.sku not in counted:
                items = [i for i in items if i.sku != p.sku]  # the count said replaces it
        lined.add(p.sku)
        if q is None:
            items.append(ParsedItem(p.sku, p.name, ONE, p.unit, e.text))
            continue
        if q.unit is None:
            value, unit = q.value, p.unit
        else:
            value, unit = lex.convert(q.value, q.unit, p)
        source = q.text + joiner + e.text if e.before else e.text + joiner + q.text
        items.append(ParsedItem(p.sku, p.name, value, unit, source))
        counted.add(p.sku)
        if e.replaces:
            corrections.append(Correction("changed", p.sku, p.name, e.said, value, unit,
                                          word=e.text))
    if PRICE in intents and not counted and not corrections \
            or not items and ("help" in intents or "greeting" in intents):
        # 黄瓜多少钱一斤: a question about goods, not an order; 你好 / 你好，我想订菜，怎么弄: how to
        return ParseResult("help", [], [])
    if items or unmatched:
        intent = "order"
        for special in ("cancel", "status", "repeat"):
            if special in intents:
                intent = special
                break
        if intent in ("cancel", "status"):
            items, unmatched, corrections = [], [], []  # the goods named are a reference
        return ParseResult(intent, items, unmatched, corrections)
    if corrections:
        return ParseResult("order", items, unmatched, corrections)  # only taken back
    for intent in priority:
        if intent in intents:
            return ParseResult(intent, items, unmatched)
    return ParseResult("unknown", items, unmatched)
