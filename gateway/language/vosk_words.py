"""The Vosk word list, compiled from the same lexicon as the parser."""

from __future__ import annotations

from collections.abc import Callable
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
