"""The Vosk engine: each model loaded once per process, one KaldiRecognizer per stream.

A stream with a word list gets a runtime grammar (those words the model knows, plus "[unk]"
when the model has it), which is both faster and far more accurate than free dictation for
a catalogue of a few hundred words.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

from voice.audio import RATE
from voice.recognizer import Alternative, EngineUnavailable

log = logging.getLogger(__name__)

UNK = "[unk]"


def _vosk() -> Any:
    import vosk

    vosk.SetLogLevel(-1)
    return vosk


class VoskEngine:
    """`models` maps a locale to a model directory; every model is loaded at construction."""

    def __init__(self, models: Mapping[str, str | Path], *, alternatives: int = 5,
                 grammar_cache: int = 32) -> None:
        vosk = _vosk()
        self._vosk = vosk
        self.alternatives = alternatives
        self.models: dict[str, Any] = {}
        for locale, path in models.items():
            self.models[locale] = vosk.Model(str(path))
            log.info("loaded Vosk model for %s from %s", locale, path)
        self._grammars: OrderedDict[tuple[str, tuple[str, ...]], str] = OrderedDict()
        self._grammar_cache = grammar_cache

    def locales(self) -> list[str]:
        return list(self.models)

    def _model(self, locale: str) -> Any:
        model = self.models.get(locale)
        if model is None:
            raise EngineUnavailable(f"no Vosk model for {locale}")
        return model

    def known(self, locale: str, words: Sequence[str]) -> list[str]:
        model = self._model(locale)
        return [w for w in words if w and model.vosk_model_find_word(w) >= 0]

    def grammar(self, locale: str, words: Sequence[str]) -> str:
        """The JSON grammar for `words`, dropping the model's unknown words; cached."""
        key = (locale, tuple(words))
        hit = self._grammars.get(key)
        if hit is not None:
            self._grammars.move_to_end(key)
            return hit
        usable = list(dict.fromkeys(self.known(locale, list(words) + [UNK])))
        dropped = len(set(words)) - len([w for w in usable if w != UNK])
        if dropped:
            log.info("grammar for %s: %d words unknown to the model dropped", locale, dropped)
        grammar = json.dumps(usable, ensure_ascii=False)
        self._grammars[key] = grammar
        if len(self._grammars) > self._grammar_cache:
            self._grammars.popitem(last=False)
        return grammar

    def stream(self, locale: str, words: Sequence[str] | None) -> VoskStream:
        model = self._model(locale)
        if words:
            rec = self._vosk.KaldiRecognizer(model, RATE, self.grammar(locale, words))
        else:
            rec = self._vosk.KaldiRecognizer(model, RATE)
        rec.SetWords(True)
        rec.SetMaxAlternatives(self.alternatives)
        return VoskStream(rec)


def _alternatives(result: dict[str, Any]) -> list[Alternative]:
    if "alternatives" in result:
        out = [Alternative(_clean(a.get("text", "")), float(a.get("confidence", 0.0)))
               for a in result["alternatives"]]
    else:
        out = [Alternative(_clean(result.get("text", "")), 1.0)]
    seen: set[str] = set()
    unique = []
    for a in out:
        if a.text and a.text not in seen:
            seen.add(a.text)
            unique.append(a)
    return unique


def _clean(text: str) -> str:
    return " ".join(w for w in text.split() if w != UNK)


class VoskStream:
    """One utterance. Kaldi may close a segment on its own mid-utterance; the best text of
    earlier segments is then prefixed to every alternative of the last one."""

    def __init__(self, rec: Any) -> None:
        self.rec = rec
        self._done: list[str] = []

    def accept(self, pcm: bytes) -> None:
        if self.rec.AcceptWaveform(pcm):
            alts = _alternatives(json.loads(self.rec.Result()))
            if alts:
                self._done.append(alts[0].text)

    def finish(self) -> list[Alternative]:
        alts = _alternatives(json.loads(self.rec.FinalResult()))
        if not self._done:
            return alts
        prefix = " ".join(self._done)
        if not alts:
            return [Alternative(prefix, 1.0)]
        return [Alternative(f"{prefix} {a.text}", a.confidence) for a in alts]
