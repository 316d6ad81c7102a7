"""The recogniser interface: a stream takes PCM16 8 kHz and finishes with N-best alternatives.

Two levels: an `Engine` is synchronous and runs inside a worker process (Vosk, or the fake);
a `Recognizer` is what asyncio code uses (the supervised pool, or `LocalRecognizer` in tests).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Protocol, Sequence, Union


@dataclass(frozen=True)
class Alternative:
    text: str
    confidence: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "confidence": self.confidence}


@dataclass(frozen=True)
class Hints:
    """What the order language tells a recogniser about the words to expect, for every engine:
    Vosk uses `words` as its runtime grammar; a dictation engine (Whisper) uses `prompt` as its
    initial prompt and snaps its transcripts to `phrases` (class -> words, see voice.snap)."""

    words: tuple[str, ...] = ()
    prompt: str = ""
    phrases: Mapping[str, Sequence[str]] = field(default_factory=dict, hash=False)


Words = Union[Sequence[str], Hints, None]  # what `Recognizer.open` takes

# Seconds of audio from before the end-pointer's start of speech that an engine wants (the
# listener keeps it). Vosk: none (it hears an extra syllable in it); Whisper: the soft onsets.
PREROLL_S = {"vosk": 0.0, "whisper": 0.3}


def split_words(words: Words) -> tuple[list[str] | None, Hints | None]:
    """The plain word list and the hints (None when there are none beyond the words)."""
    if isinstance(words, Hints):
        hints = words if (words.prompt or words.phrases) else None
        return (list(words.words) or None), hints
    return (list(words) if words else None), None


def engine_stream(engine: Engine, locale: str, words: Sequence[str] | None,
                  hints: Hints | None) -> EngineStream:
    """`engine.stream`, with the hints for engines whose `stream` takes them."""
    import inspect

    if hints is not None:
        try:
            takes = "hints" in inspect.signature(engine.stream).parameters
        except (TypeError, ValueError):
            takes = False
        if takes:
            return engine.stream(locale, words, hints=hints)  # type: ignore[call-arg]
    return engine.stream(locale, words)


class RecognitionError(Exception):
    """Recognition did not produce a result; the call falls back to a recorded message."""


class EngineUnavailable(RecognitionError):
    """No engine for this locale (no model configured, or no worker running)."""


class WorkerCrashed(RecognitionError):
    """The worker process serving this stream died (a Kaldi abort, a kill); it is restarted."""


class RecognitionTimeout(RecognitionError):
    """The worker did not answer in time."""


class EngineStream(Protocol):
    def accept(self, pcm: bytes) -> None: ...

    def finish(self) -> list[Alternative]: ...


class Engine(Protocol):
    """Synchronous engine living in a worker process."""

    def locales(self) -> list[str]: ...

    def stream(self, locale: str, words: Sequence[str] | None) -> EngineStream:
        """A stream; engines that use hints also take `hints: Hints | None` as a keyword."""
        ...

    def known(self, locale: str, words: Sequence[str]) -> list[str]: ...


class Stream(Protocol):
    async def feed(self, pcm: bytes) -> None: ...

    async def finish(self) -> list[Alternative]: ...

    async def cancel(self) -> None: ...


class Recognizer(Protocol):
    """What the gateway uses: open a stream per utterance; ask which words a model knows."""

    def locales(self) -> list[str]: ...

    async def open(self, locale: str, words: Words = None) -> Stream: ...

    async def known(self, locale: str, words: Sequence[str]) -> set[str]: ...


# --- the fake engine: scripted answers, for fast tests ------------------------------------------

class FakeEngine:
    """Answers with scripted alternatives. `answer(pcm, words)` decides; by default the
    audio's length picks one of `texts` (so tests can steer it with the WAV they send).

    Special texts let tests exercise the worker's failure paths: "!crash" exits the process
    abruptly, "!hang" never answers."""

    def __init__(self, texts: Sequence[str] = ("네",), locales: Sequence[str] = ("zh-CN", "ko-KR"),
                 answer: Callable[[bytes, Sequence[str] | None], list[str]] | None = None,
                 known_words: Iterable[str] | None = None) -> None:
        self.texts = list(texts)
        self._locales = list(locales)
        self._answer = answer
        self._known = set(known_words) if known_words is not None else None

    def locales(self) -> list[str]:
        return list(self._locales)

    def known(self, locale: str, words: Sequence[str]) -> list[str]:
        return [w for w in words if self._known is None or w in self._known]

    def stream(self, locale: str, words: Sequence[str] | None,
               hints: Hints | None = None) -> EngineStream:
        if locale not in self._locales:
            raise EngineUnavailable(f"no model for {locale}")
        return _FakeStream(self, words)

    def decide(self, pcm: bytes, words: Sequence[str] | None) -> list[str]:
        if self._answer is not None:
            return self._answer(pcm, words)
        if not self.texts:
            return []
        return [self.texts[min(len(pcm) // 16000, len(self.texts) - 1)]]  # 1 s of audio per step


class _FakeStream:
    def __init__(self, engine: FakeEngine, words: Sequence[str] | None) -> None:
        self.engine, self.words, self.buf = engine, words, bytearray()

    def accept(self, pcm: bytes) -> None:
        self.buf += pcm

    def finish(self) -> list[Alternative]:
        texts = self.engine.decide(bytes(self.buf), self.words)
        for t in texts:
            if t == "!crash":
                import os
                os._exit(134)  # what a Kaldi assertion does to a process
            if t == "!hang":
                import time
                time.sleep(3600)
        return [Alternative(t, 1.0 - i * 0.1) for i, t in enumerate(texts)]


# --- in-process adapter ---------------------------------------------------------------------

class LocalRecognizer:
    """Runs an Engine in this process, off the event loop. For tests and tools; the gateway
    uses the pool, because a crashing engine would take this process with it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def locales(self) -> list[str]:
        return self.engine.locales()

    async def open(self, locale: str, words: Words = None) -> Stream:
        if locale not in self.engine.locales():
            raise EngineUnavailable(f"no model for {locale}")
        plain, hints = split_words(words)
        inner = await asyncio.to_thread(engine_stream, self.engine, locale, plain, hints)
        return _LocalStream(inner)

    async def known(self, locale: str, words: Sequence[str]) -> set[str]:
        return set(await asyncio.to_thread(self.engine.known, locale, list(words)))


class _LocalStream:
    def __init__(self, inner: EngineStream) -> None:
        self.inner = inner
        self.preroll_s = float(getattr(inner, "preroll_s", 0.0))
        self._pending = bytearray()

    async def feed(self, pcm: bytes) -> None:
        self._pending += pcm
        if len(self._pending) >= 3200:  # decode in 100 ms batches
            chunk, self._pending = bytes(self._pending), bytearray()
            await asyncio.to_thread(self.inner.accept, chunk)

    async def finish(self) -> list[Alternative]:
        if self._pending:
            await asyncio.to_thread(self.inner.accept, bytes(self._pending))
            self._pending.clear()
        return await asyncio.to_thread(self.inner.finish)

    async def cancel(self) -> None:
        self._pending.clear()
