"""The compiled vocabulary: every word of a locale and catalogue, indexed for longest-match scans."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.language.catalog import CatalogItem

from .locales import LocaleData
from .numbers import korean_number_words

# Token kinds. Plain ints: the scanner compares them in its inner loop.
PRODUCT, UNIT, NUM, HALF, INTENT, VERB, SEP, EACH, CONTEXT, FILLER, PARTICLE, UNKNOWN, \
    REMOVE, CHANGE = range(14)
KIND_NAMES = ("product", "unit", "num", "half", "intent", "verb", "sep", "each", "context",
              "filler", "particle", "unknown", "remove", "change")


@dataclass(frozen=True, slots=True)
class Entry:
    """One meaning of a word. `value`: skus (product), unit, Decimal (num), intent name."""

    kind: int
    value: object = None
    weak: bool = False      # a number word that is a number only right before a counter
    list_sep: bool = False  # a conjunction (和, 、, 하고): joins goods in a list


@dataclass
class Product:
    """What the parser needs of a catalogue item."""

    sku: str
    name: str
    unit: str
    units: tuple[str, ...]


@dataclass
class Lexicon:
    """Words by first character, longest first; products, units and synonyms of one language."""

    data: LocaleData
    normalize: Callable[[str], str]
    entries: dict[str, tuple[Entry, ...]] = field(default_factory=dict)
    lengths: dict[str, tuple[int, ...]] = field(default_factory=dict)  # first char -> sizes
    products: dict[str, Product] = field(default_factory=dict)
    product_names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # word -> skus
    forms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # sku -> its names, solid
    unit_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)    # unit -> group
    glue_prefixes: set[str] = field(default_factory=set)  # proper prefixes of names
    not_counts: frozenset[str] = frozenset()  # 三点, 五号, 두 시: not a count of goods
    ordinals: frozenset[str] = frozenset()    # 第三: not a count either
    spec_markers: frozenset[str] = frozenset()  # 10斤装, 15구짜리: the quantity is a package size
    price_words: frozenset[str] = frozenset()  # 多少钱一斤: the quantity is the price's unit
    titles: frozenset[str] = frozenset()      # 姜阿姨, 김 할머니: the word before is a name
    name_markers: frozenset[str] = frozenset()  # 我姓米: the word after is a name
    address_digits: int = 0                   # a bare number this long is a room, not a count
    approx: frozenset[str] = frozenset()      # 十来斤, 二十多个: "about", between number and unit
    word_units: dict[str, str] = field(default_factory=dict)  # 俩 = 两个: the unit a word implies
    # said unit -> ((catalogue unit, factor), ...): 公斤 -> 斤 x2, only when the product lacks it
    conversions: dict[str, tuple[tuple[str, Decimal], ...]] = field(default_factory=dict)
    # (bigger unit, smaller unit) -> factor: 一斤三两 = 1.3 斤
    compounds: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    def add(self, word: str, entry: Entry) -> None:
        word = self.normalize(word)
        if not word:
            return
        old = self.entries.get(word, ())
        if entry not in old:
            self.entries[word] = (*old, entry)

    def finish(self) -> None:
        """Index by first character (word lengths, longest first); order each word's meanings."""
        lengths: dict[str, set[int]] = {}
        for word in self.entries:
            lengths.setdefault(word[0], set()).add(len(word))
        self.lengths = {c: tuple(sorted(ls, reverse=True)) for c, ls in lengths.items()}
        self.entries = {w: tuple(sorted(es, key=lambda e: e.kind)) for w, es in self.entries.items()}

    def words_at(self, text: str, pos: int) -> Iterator[str]:
        """The lexicon words starting at text[pos], longest first: a few dict probes per
        position, whatever the size of the catalogue."""
        entries = self.entries
        for size in self.lengths.get(text[pos:pos + 1], ()):
            w = text[pos:pos + size]
            if len(w) == size and w in entries:
                yield w

    def resolve_unit(self, said: str, product: Product) -> str:
        """The product's spelling of the unit said; the unit as said if the product lacks it."""
        if said in product.units:
            return said
        for other in self.unit_groups.get(said, ()):
            if other in product.units:
                return other
        return said

    def fits(self, said: str | None, product: Product) -> bool:
        return said is None or self.resolve_unit(said, product) in product.units

    def convert(self, value: Decimal, said: str, product: Product) -> tuple[Decimal, str]:
        """The quantity in the product's unit: a synonym is respelled (千克 -> 公斤), a unit the
        product does not sell by is converted when the data says how (2 公斤 -> 4 斤, 半打 ->
        6 个), else kept as said."""
        unit = self.resolve_unit(said, product)
        if unit in product.units:
            return value, unit
        for alias in self.unit_groups.get(said, (said,)):
            for target, factor in self.conversions.get(alias, ()):
                if target in product.units:
                    return (value * factor).normalize(), target
        return value, said


_BRACKETS = re.compile(r"[(\[【（][^)\]】）]*[)\]】）]")
_SPEC = re.compile(r"[\s\-_/*×x]*\d+(?:\.\d+)?\s*(?:[a-z]{1,3}|[\u3400-\u9fff]{1,2})?(?:装)?$")


def _name_forms(names: Iterable[str], normalize: Callable[[str], str]) -> list[str]:
    """The names as written, then as said: 金龙鱼菜籽油(5L) and 大米10kg are also 金龙鱼菜籽油
    and 大米. The first form is the product's own name."""
    forms: list[str] = []
    for name in names:
        w = normalize(name)
        if not w:
            continue
        forms.append(w)
        short = _BRACKETS.sub("", w).strip()
        while True:  # 蒙牛纯牛奶 250ml*24 -> 蒙牛纯牛奶 250ml -> 蒙牛纯牛奶
            shorter = _SPEC.sub("", short).strip()
            if not shorter or shorter == short:
                break
            short = shorter
        if short and short != w:
            forms.append(short)
    return list(dict.fromkeys(forms))


def build_lexicon(data: LocaleData, catalog: Sequence[CatalogItem],
                  normalize: Callable[[str], str]) -> Lexicon:
    """Compile locale data and the active catalogue items into one lexicon."""
    lex = Lexicon(data=data, normalize=normalize)
    words = data.section("words")
    intents = data.section("intents")
    numbers = data.section("numbers")
    units = data.section("units")

    def each_word(values: Iterable[object]) -> Iterable[str]:
        for v in values:
            w = normalize(str(v))
            if w:
                yield w

    # Products: name and aliases; a word shared by two products keeps both skus (ambiguous).
    shared: dict[str, list[str]] = {}
    for item in catalog:
        if not item.active:
            continue
        p_units = tuple(dict.fromkeys(normalize(u) for u in item.all_units if normalize(u)))
        lex.products[item.sku] = Product(item.sku, item.name, p_units[0] if p_units else "",
                                         p_units)
        names = _name_forms(item.all_names, normalize)
        lex.forms[item.sku] = tuple(w.replace(" ", "") for w in names)
        for i, w in enumerate(names):
            skus = shared.setdefault(w, [])
            if item.sku not in skus:
                # A product's own name beats another product's alias of the same spelling.
                skus.insert(0, item.sku) if i == 0 else skus.append(item.sku)
    for w, skus in shared.items():
        owners = [s for s in skus if normalize(lex.products[s].name) == w]
        chosen = tuple(owners[:1]) if len(owners) == 1 else tuple(skus)
        lex.product_names[w] = chosen
        lex.add(w, Entry(PRODUCT, chosen))
        if data.spaced:
            lex.add(w.replace(" ", ""), Entry(PRODUCT, chosen))
            # "돼지 고기" for 돼지고기: a word that begins a name may be glued to the next.
            solid = w.replace(" ", "")
            for k in range(1, len(solid)):
                lex.glue_prefixes.add(solid[:k])

    # Units: the common ones, every catalogue unit, and synonyms grouped.
    all_units = set(each_word(units.get("common", [])))
    for p in lex.products.values():
        all_units.update(p.units)
    for group in units.get("synonyms", []):
        g = tuple(each_word(group))
        for u in g:
            lex.unit_groups[u] = g
            all_units.add(u)
    for u in all_units:
        lex.add(u, Entry(UNIT, u))

    # Numbers.
    if data.spaced:
        weak = set(each_word(numbers.get("weak", [])))
        table = korean_number_words(numbers.get("native_ones", {}), numbers.get("native_tens", {}),
                                    numbers.get("sino_digits", {}),
                                    numbers.get("sino_multipliers", {}))
        for w, v in table.items():
            lex.add(w, Entry(NUM, Decimal(v), weak=w in weak))
    else:
        for w, v in numbers.get("words", {}).items():
            lex.add(w, Entry(NUM, Decimal(v)))
    for w in each_word(numbers.get("half", [])):
        lex.add(w, Entry(HALF))
    lex.not_counts = frozenset(each_word(numbers.get("not_counts", [])))
    lex.spec_markers = frozenset(each_word(numbers.get("spec_markers", [])))
    lex.address_digits = int(numbers.get("address_digits", 0))
    lex.approx = frozenset(each_word(numbers.get("approx", [])))
    lex.word_units = {normalize(w): normalize(u) for w, u in numbers.get("word_units", {}).items()}
    for said, target, factor in units.get("conversions", []):
        key = normalize(said)
        lex.conversions[key] = (*lex.conversions.get(key, ()),
                                (normalize(target), Decimal(str(factor))))
    for big, small, factor in units.get("compounds", []):
        lex.compounds[(normalize(big), normalize(small))] = Decimal(str(factor))
    lex.titles = frozenset(each_word(words.get("titles", [])))
    lex.price_words = frozenset(each_word(intents.get("price", [])))
    lex.name_markers = frozenset(each_word(words.get("name_markers", [])))
    lex.ordinals = frozenset(each_word(numbers.get("ordinals", [])))
    for w in lex.ordinals:
        lex.add(w, Entry(FILLER))
    for w in lex.not_counts:
        if data.spaced or len(w) > 1:  # a lone 月 or 排 would break 月饼 and 排骨 apart
            lex.add(w, Entry(FILLER))

    # Corrections: a word that takes back goods (萝卜不要了, 콩나물은 빼 주세요) or changes a
    # count (改成三根, 아니 한 모만). Said with nothing to take back or change, a word that is
    # also an intent word keeps that intent (不要了 alone cancels).
    intent_of: dict[str, str] = {}
    for intent in ("confirm", "cancel", "status", "repeat", "help", "price", "greeting"):
        for w in each_word(intents.get(intent, [])):
            intent_of.setdefault(w, "help" if intent == "price" else intent)
    corrections: dict[str, int] = {}
    for w in each_word(words.get("remove", [])):
        corrections[w] = REMOVE
    for w in each_word(words.get("change", [])):
        corrections.setdefault(w, CHANGE)
    for w, kind in corrections.items():
        lex.add(w, Entry(kind, intent_of.get(w)))

    # Intents, then the function words.
    for w, intent in intent_of.items():
        if w not in corrections:
            lex.add(w, Entry(INTENT, intent))
    seps = set(each_word(words.get("separators", [])))
    conj = set(each_word(words.get("conjunctions", [])))
    for w in each_word(words.get("order_verbs", [])):
        lex.add(w, Entry(VERB, w in seps))
    for w in seps:
        lex.add(w, Entry(SEP, list_sep=w in conj))
    for w in each_word(words.get("each", [])):
        lex.add(w, Entry(EACH))
    for w in (*each_word(words.get("context", [])), *lex.titles, *lex.name_markers):
        lex.add(w, Entry(CONTEXT))
    for w in lex.spec_markers:
        lex.add(w, Entry(FILLER))
    for w in each_word(words.get("fillers", [])):
        lex.add(w, Entry(FILLER))
    for w in each_word(words.get("particles", [])):
        lex.add(w, Entry(PARTICLE, list_sep=w in conj))
    lex.finish()
    return lex
