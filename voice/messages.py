"""The messages between the pool and a worker, typed: one frozen dataclass per kind.

On the pipe a message is a frame `<u32 header length><u32 body length><JSON header><body>`
(see `voice.worker`); `to_wire()` gives the header dict and the body, `from_wire()` reads them
back. The header's `op` names the kind; audio travels as the body, never as JSON.

Pool -> worker: Start, Audio, Finish, Cancel, Known, Ping.
Worker -> pool: Ready (once, after the engines loaded), Result, Failed, KnownWords, Pong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Union

from voice.recognizer import Alternative

Header = dict[str, Any]


class ProtocolError(ValueError):
    """A frame that is no message of this protocol."""


@dataclass(frozen=True)
class Start:
    """Open a stream: a Vosk word list, and for dictation a prompt and the snapping phrases."""

    op: ClassVar[str] = "open"
    id: str
    locale: str
    words: tuple[str, ...] | None = None
    prompt: str = ""
    phrases: Mapping[str, tuple[str, ...]] | None = field(default=None, hash=False)

    def to_wire(self) -> tuple[Header, bytes]:
        h: Header = {"op": self.op, "id": self.id, "locale": self.locale,
                     "words": list(self.words) if self.words else None}
        if self.prompt:
            h["prompt"] = self.prompt
        if self.phrases:
            h["phrases"] = {k: list(v) for k, v in self.phrases.items()}
        return h, b""

    @classmethod
    def from_wire(cls, h: Header, body: bytes = b"") -> Start:
        words = h.get("words")
        phrases = h.get("phrases")
        return cls(_id(h), str(h.get("locale", "")),
                   tuple(str(w) for w in words) if isinstance(words, list) else None,
                   str(h.get("prompt") or ""),
                   {str(k): tuple(str(w) for w in v) for k, v in phrases.items()
                    if isinstance(v, list)} if isinstance(phrases, dict) else None)


@dataclass(frozen=True)
class Audio:
    """PCM16 8 kHz mono for a stream (the body of the frame)."""

    op: ClassVar[str] = "feed"
    id: str
    pcm: bytes = b""

    def to_wire(self) -> tuple[Header, bytes]:
        return {"op": self.op, "id": self.id}, self.pcm

    @classmethod
    def from_wire(cls, h: Header, body: bytes = b"") -> Audio:
        return cls(_id(h), body)


@dataclass(frozen=True)
class _IdOnly:
    op: ClassVar[str] = ""
    id: str

    def to_wire(self) -> tuple[Header, bytes]:
        return {"op": self.op, "id": self.id}, b""

    @classmethod
    def from_wire(cls, h: Header, body: bytes = b"") -> Any:
        return cls(_id(h))


@dataclass(frozen=True)
class Finish(_IdOnly):
    """End of the utterance: the worker answers with Result or Failed."""

    op: ClassVar[str] = "finish"


@dataclass(frozen=True)
class Cancel(_IdOnly):
    """Drop the stream; no answer."""

    op: ClassVar[str] = "cancel"


@dataclass(frozen=True)
class Ping(_IdOnly):
    op: ClassVar[str] = "ping"


@dataclass(frozen=True)
class Pong(_IdOnly):
    op: ClassVar[str] = "pong"


@dataclass(frozen=True)
class Known:
    """Which of `words` the locale's model knows (answered by KnownWords)."""

    op: ClassVar[str] = "known"
    id: str
    locale: str
    words: tuple[str, ...] = ()

    def to_wire(self) -> tuple[Header, bytes]:
        return {"op": self.op, "id": self.id, "locale": self.locale, "words": list(self.words)}, b""

    @classmethod
    def from_wire(cls, h: Header, body: bytes = b"") -> Known:
        return cls(_id(h), str(h.get("locale", "")), tuple(str(w) for w in h.get("words") or []))


@dataclass(frozen=True)
class KnownWords:
    op: ClassVar[str] = "known"
    id: str
    words: tuple[str, ...] = ()

    def to_wire(self) -> tuple[Header, bytes]:
        return {"op": self.op, "id": self.id, "words": list(self.words)}, b""

    @classmethod
    def from_wire(cls, h: Header, body: bytes = b"") -> KnownWords:
        return cls(_id(h), tuple(str(w) for w in h.get("words") or []))


@dataclass(frozen=True)
class Ready:
    """The worker loaded its engines: the locales it serves, and those whose engine failed
    to load (locale -> why), which it does not serve."""

    op: ClassVar[str] = "ready"
    locales: tuple[str, ...] = ()
    pid: int = 0
    failed: Mapping[str, str] = field(default_factory=dict, hash=False)
    engines: Mapping[str, str] = field(default_factory=dict, hash=False)  # locale -> engine

    def to_wire(self) -> tuple[Header, bytes]:
        h: Header = {"op": self.op, "locales": list(self.locales), "pid": self.pid}
        if self.failed:
            h["failed"] = dict(self.failed)
        if self.engines:
            h["engines"] = dict(self.engines)
        return h, b""

    @classmethod
    def from_wire(cls, h: Header, body: bytes = b"") -> Ready:
        failed, engines = h.get("failed"), h.get("engines")
        return cls(tuple(str(x) for x in h.get("locales") or []), int(h.get("pid") or 0),
                   {str(k): str(v) for k, v in failed.items()} if isinstance(failed, dict) else {},
                   {str(k): str(v) for k, v in engines.items()} if isinstance(engines, dict)
                   else {})


@dataclass(frozen=True)
class Result:
    op: ClassVar[str] = "result"
    id: str
    alternatives: tuple[Alternative, ...] = ()

    def to_wire(self) -> tuple[Header, bytes]:
        return {"op": self.op, "id": self.id,
                "alternatives": [a.to_dict() for a in self.alternatives]}, b""

    @classmethod
    def from_wire(cls, h: Header, body: bytes = b"") -> Result:
        alts = h.get("alternatives") or []
        return cls(_id(h), tuple(Alternative(str(a.get("text", "")),
                                             float(a.get("confidence", 0.0)))
                                 for a in alts if isinstance(a, dict)))


@dataclass(frozen=True)
class Failed:
    """A stream failed: `kind` is "unavailable" (no engine for the locale) or "failed"."""

    op: ClassVar[str] = "error"
    id: str
    kind: str = "failed"
    message: str = "recognition failed"

    def to_wire(self) -> tuple[Header, bytes]:
        return {"op": self.op, "id": self.id, "kind": self.kind, "message": self.message}, b""

    @classmethod
    def from_wire(cls, h: Header, body: bytes = b"") -> Failed:
        return cls(_id(h), str(h.get("kind") or "failed"),
                   str(h.get("message") or "recognition failed"))


Request = Union[Start, Audio, Finish, Cancel, Known, Ping]
Reply = Union[Ready, Result, Failed, KnownWords, Pong]

_REQUESTS: dict[str, Any] = {c.op: c for c in (Start, Audio, Finish, Cancel, Known, Ping)}
_REPLIES: dict[str, Any] = {c.op: c for c in (Ready, Result, Failed, KnownWords, Pong)}
URGENT = (Finish, Known, Cancel, Ping)  # served before other streams' audio


def _id(h: Header) -> str:
    return str(h.get("id", ""))


def request_from_wire(h: Header, body: bytes = b"") -> Request:
    cls = _REQUESTS.get(str(h.get("op")))
    if cls is None:
        raise ProtocolError(f"unknown request {h.get('op')!r}")
    return cls.from_wire(h, body)  # type: ignore[no-any-return]


def reply_from_wire(h: Header, body: bytes = b"") -> Reply:
    cls = _REPLIES.get(str(h.get("op")))
    if cls is None:
        raise ProtocolError(f"unknown reply {h.get('op')!r}")
    return cls.from_wire(h, body)  # type: ignore[no-any-return]
