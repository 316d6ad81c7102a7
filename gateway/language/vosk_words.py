"""The Vosk word list, compiled from the same lexicon as the parser."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .lexicon import NUM, UNIT
from .model import VoskWordList

if TYPE_CHECKING:
    from .compiler import OrderLanguage


def split_known(word: str, known: Callable[[str], bool]) -> list[str] | None:
    """`word` as the fewest pieces the model knows (longest first), or None if impossible."""
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(n, i, -1):
            piece = word[i:j]
            if known(piece):
                cand = best[i] + [piece]  # type: ignore[operator]
                if best[j] is None or len(cand) < len(best[j]):  # type: ignore[arg-type]
                    best[j] = cand
    return best[n]


def source_words(lang: OrderLanguage) -> list[str]:
    """Every word the parser understands that someone may say (generated numbers excepted)."""
    data = lang.data
    words: list[str] = list(lang.lexicon.product_names)
    for unit, entries in lang.lexicon.entries.items():
        if any(e.kind == UNIT for e in entries):
            words.append(unit)
    numbers = data.section("numbers")
    for key in ("digits", "multipliers", "words", "native_ones", "native_tens", "sino_digits",
                "sino_multipliers"):
        words.extend(str(w) for w in numbers.get(key, {}))
    for key in ("half", "spec_markers"):
        words.extend(str(w) for w in numbers.get(key, []))
    for key in ("fillers", "order_verbs", "separators", "each", "context", "remove", "change",
                "titles", "name_markers"):
        words.extend(data.words("words", key))
    for intent in ("confirm", "cancel", "status", "repeat", "help", "price",
                   "greeting"):
        words.extend(data.words("intents", intent))
    out: list[str] = []
    seen: set[str] = set()
    for w in words:
        w = lang.normalize(w)
        for part in w.split():
            if part and part not in seen and not part.isascii():
                seen.add(part)
                out.append(part)
    return out


def word_list(lang: OrderLanguage, known: Callable[[str], bool] | None) -> VoskWordList:
    """Words for the recogniser: each checked with `known`, split into known pieces or reported.

    A name said in pieces ("감기 약") still parses: the spaced scanner glues words that begin
    a product name, and the Han scanner ignores spaces between characters.
    """
    words = source_words(lang)
    if known is None:
        return VoskWordList(sorted(words), [])
    # Composed number words (열두, 이십오) the model knows may be said as one word.
    listed = set(words)
    for w, entries in lang.lexicon.entries.items():
        if w not in listed and not w.isascii() and any(e.kind == NUM for e in entries) \
                and known(w):
            words.append(w)
    result: list[str] = []
    missing: list[str] = []
    for w in words:
        if known(w):
            result.append(w)
            continue
        pieces = split_known(w, known)
        if pieces is None:
            missing.append(w)
        else:
            result.extend(pieces)
    return VoskWordList(sorted(dict.fromkeys(result)), sorted(dict.fromkeys(missing)))


# --- hints for a dictation engine (Whisper) -----------------------------------------------------



def _han(word: str) -> bool:
    return bool(word) and all("\u3400" <= c <= "\u9fff" for c in word)


def spoken_name(lang: OrderLanguage, sku: str) -> str:
    """The name people say for a product: its catalogue name, or else its shortest alias, in
    Chinese characters only (no packaging specs)."""
    lex = lang.lexicon
    product = lex.products[sku]
    name = lang.normalize(product.name)
    if _han(name):
        return name
    aliases = sorted((w for w, skus in lex.product_names.items() if sku in skus and _han(w)),
                     key=lambda w: (len(w), w))
    return aliases[0] if aliases else name


def whisper_prompt(lang: OrderLanguage, limit: int = 40, *, answer: bool = False) -> str:
    """An `initial_prompt` for Whisper: the kind of thing callers say, from this catalogue (every
    product in its default unit, counted); for the `answer` to a read-back, the yes and no words
    first. Whisper takes it as preceding text: names, counters and Simplified characters become
    likely. (The yes and no words cost orders: in the prompt of an order, 41 of 56 right on a
    person's voice instead of 47; at a read-back, synthetic speech's 是 needs them.) Keys
    `answer_*` in the locale's [speech] override `prompt_*` for the answer's prompt."""
    data = lang.data
    speech = dict(data.section("speech"))
    if answer:  # the answer's own intents, examples, numbers, joiner, count, where it sets them
        speech.update({"prompt_" + k.removeprefix("answer_"): v for k, v in speech.items()
                       if k.startswith("answer_")})
    said = [str(w) for w in speech.get("prompt_intents", [])]
    if "prompt_intents" not in speech:  # the shortest yes and no words of the read-back
        said = sorted(data.words("intents", "confirm"), key=len)[:2] + \
            sorted(data.words("intents", "cancel"), key=len)[:2]
    # Whisper base copies a long list from its prompt instead of listening (measured: a prompt
    # of every product made most transcripts a piece of the list): a few examples only.
    stop = "。" if not data.spaced else ". "
    end = "。" if not data.spaced else "."
    head = str(speech.get("prompt_preamble", "")) + "".join(w + stop for w in said)
    numbers = [str(n) for n in speech.get("prompt_numbers", ["2", "1", "3"])]
    gap = " " if data.spaced else ""
    parts: list[str] = []
    size = len(head) + 2
    # The examples shape what Whisper writes: the same ones whatever order the catalogue comes
    # in (from a CSV or the database): the locale's choice where sold, then by SKU.
    products = lang.lexicon.products
    by_name = {lang.normalize(p.name): sku for sku, p in products.items()}
    chosen = [by_name[n] for n in (lang.normalize(str(x)) for x in
                                   speech.get("prompt_examples", [])) if n in by_name]
    order = list(dict.fromkeys(chosen + sorted(products)))
    for i, (sku, product) in enumerate((sku, products[sku]) for sku in order):
        part = f"{spoken_name(lang, sku)}{gap}{numbers[i % len(numbers)]}{gap}{product.unit}"
        if size + len(part) + 1 > limit or len(parts) >= int(speech.get("prompt_items", 99)):
            break
        parts.append(part)
        size += len(part) + 1
    verb = str(speech.get("prompt_verb", ""))
    joiner = "，" if not data.spaced else ", "
    last = str(speech.get("prompt_last_joiner", joiner))
    body = joiner.join(parts[:-1]) + (last if len(parts) > 1 else "") + parts[-1] if parts else ""
    return head + verb + body + end


def snap_phrases(lang: OrderLanguage) -> dict[str, list[str]]:
    """What a transcript may be snapped to, by class: every product name and alias, counters,
    number words, fillers and order verbs, separators, and whole-utterance intent words. The
    snapper (voice.snap) strings these into orders (a count before or after the name)."""
    lex, data = lang.lexicon, lang.data
    numbers = data.section("numbers")

    def han(words: Iterable[object]) -> list[str]:
        return sorted({w for w in (lang.normalize(str(x)) for x in words) if _han(w)})

    units = [w for w, es in lex.entries.items() if any(e.kind == UNIT for e in es)]
    # 幺 (one, in phone numbers) is never a count, and sounds like 要
    nums = [w for w, v in numbers.get("digits", {}).items() if v and w != "幺"] + \
        list(numbers.get("multipliers", {}))[:1] + list(numbers.get("words", {})) + \
        list(numbers.get("half", []))
    intents = []
    for intent in ("confirm", "cancel", "repeat", "status", "help"):
        intents.extend(data.words("intents", intent))
    # "name:unit,unit": the units each name is sold in, so a misheard counter can be corrected
    # (鸡肉两件 -> 鸡肉两斤) instead of kept as said; its usual unit (the catalogue's) first
    units_of = []
    for word, skus in sorted(lex.product_names.items()):
        usual = [u for u in (lex.products[skus[0]].unit,) if _han(u)] if skus else []
        sold = usual + sorted({u for sku in skus for u in lex.products[sku].units
                               if _han(u)} - set(usual))
        if _han(word) and sold:
            units_of.append(f"{word}:{','.join(sold)}")
    return {
        "units_of": units_of,
        "product": han(lex.product_names),
        "number": han(nums),
        "unit": han(units),
        "filler": han(list(data.words("words", "fillers")) + list(data.words("words", "order_verbs"))),
        "separator": han(data.words("words", "separators")),
        "intent": han(intents),
    }
