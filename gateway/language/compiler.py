"""One compiler from locale data and catalogue to the parser (and the Vosk word list)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from gateway.language.catalog import CatalogItem

from .fuzzy import PinyinIndex, merge_compounds, repair
from .grammar import interpret
from .lexicon import INTENT, PRODUCT, UNKNOWN, Lexicon, build_lexicon
from .locales import LocaleData, load_locale, normalize_locale
from .model import ParseResult, VoskWordList
from .scan import HAN_SPACE_RE, HanScanner, SpacedScanner

_PUNCT = " \t\n,，、;；。.!！?？:：~～…"
# Full-width punctuation, the usual reason a Chinese text is not NFKC: replacing a character by
# its NFKC form keeps the text's NFKC the same, so when nothing else needs it the (slow, and
# linear in the whole text) unicodedata.normalize is skipped.
_FULL_WIDTH = tuple((c, unicodedata.normalize("NFKC", c)) for c in "，！？：；（）\u3000～")
MAX_TEXT = 5000  # longer texts are cut: nobody dictates more than this in one order


class _T2S:
    """OpenCC traditional-to-simplified, applied only to texts holding a character it changes."""

    def __init__(self, config: str) -> None:
        import opencc

        self._cc = opencc.OpenCC(config)
        probe = "".join(chr(c) for c in range(0x3400, 0xA000))
        converted = self._cc.convert(probe)
        self.changing = frozenset(a for a, b in zip(probe, converted) if a != b) \
            if len(converted) == len(probe) else None
        # The same test as a character class: a regex scan allocates nothing per character,
        # where set.isdisjoint(text) makes a string of each one.
        self._changing_re = re.compile("[" + re.escape("".join(sorted(self.changing))) + "]") \
            if self.changing else None

    def __call__(self, text: str) -> str:
        if self.changing is not None and (self._changing_re is None
                                          or self._changing_re.search(text) is None):
            return text
        return self._cc.convert(text)


_converters: dict[str, _T2S] = {}


def _converter(config: str) -> _T2S:
    conv = _converters.get(config)
    if conv is None:
        conv = _converters[config] = _T2S(config)
    return conv


class OrderLanguage:
    """The order language of one locale and one catalogue: `parse` texts, list Vosk words."""

    def __init__(self, data: LocaleData, catalog: Sequence[CatalogItem]) -> None:
        self.locale = data.locale
        self.data = data
        self._t2s = _converter(data.traditional) if data.traditional else None
        self.lexicon: Lexicon = build_lexicon(data, catalog, self.normalize)
        self._scanner = SpacedScanner(self.lexicon) if data.spaced else HanScanner(self.lexicon)
        self._priority = [str(p) for p in data.section("intents").get("priority", [])]
        self._pinyin: PinyinIndex | None = None
        self._fuzzy = not data.spaced

    def normalize(self, text: str) -> str:
        """NFKC (full-width digits), lower case, traditional to simplified, single spaces."""
        if not unicodedata.is_normalized("NFKC", text):
            for wide, narrow in _FULL_WIDTH:
                if wide in text:
                    text = text.replace(wide, narrow)
            if not unicodedata.is_normalized("NFKC", text):
                text = unicodedata.normalize("NFKC", text)
        text = text.lower()
        if self._t2s is not None:
            text = self._t2s(text)
        if " " in text or "\t" in text or "\n" in text:
            text = " ".join(text.split())
            if not self.data.spaced:
                text = HAN_SPACE_RE.sub("", text)  # a transcript's "大米 两 袋" is 大米两袋
        return text

    def parse(self, text: str) -> ParseResult:
        """Intent, items and unmatched goods of a text or transcript; never raises on a str."""
        try:
            return self._parse(text)
        except Exception:  # noqa: BLE001  a bug costs one text its meaning, never the call
            return ParseResult("unknown", [], [])

    def _parse(self, text: str) -> ParseResult:
        if not isinstance(text, str):
            return ParseResult("unknown", [], [])
        norm = self.normalize(text[:MAX_TEXT])
        if len(norm) <= 24:  # a whole short text that is one intent word: "1", "네", "确认。"
            bare = norm.strip(_PUNCT) if not norm.isalnum() else norm
            if not bare:
                return ParseResult("unknown", [], [])
            whole = self.lexicon.entries.get(bare)
            if whole and whole[0].kind == INTENT and whole[0].value != "greeting":
                return ParseResult(str(whole[0].value), [], [])
        tokens = self._scanner.scan(norm)
        if self._fuzzy:
            glued = False
            for t in tokens:
                kind = t.kind
                if kind == UNKNOWN:
                    tokens = repair(tokens, self.pinyin_index)
                    glued = True
                    break
                if kind == PRODUCT and len(t.text) == 1:
                    glued = True
            if glued:
                tokens = merge_compounds(tokens)
        return interpret(tokens, self.lexicon, self.data.spaced, self._priority)

    @property
    def pinyin_index(self) -> PinyinIndex:
        """Built on first use: texts that need no pinyin fallback never pay for it."""
        if self._pinyin is None:
            self._pinyin = PinyinIndex(self.lexicon)
        return self._pinyin

    def vosk_words(self, known: Callable[[str], bool] | None = None) -> VoskWordList:
        """The words a Vosk grammar needs; see `vosk_words.word_list`."""
        from .vosk_words import word_list

        return word_list(self, known)

    def whisper_prompt(self, answer: bool = False) -> str:
        """Whisper's `initial_prompt` for this catalogue (`answer`: for the answer to a
        read-back); see `vosk_words.whisper_prompt`."""
        from .vosk_words import whisper_prompt

        return whisper_prompt(self, answer=answer)

    def snap_phrases(self) -> dict[str, list[str]]:
        """What a dictated transcript is snapped to; see `vosk_words.snap_phrases`."""
        from .vosk_words import snap_phrases

        return snap_phrases(self)


def compile_language(locale: str, catalog: Sequence[CatalogItem]) -> OrderLanguage:
    """Compile once per catalogue version; inactive items are ignored."""
    return OrderLanguage(load_locale(normalize_locale(locale)), catalog)
