"""A recognition worker process: loads its engine once, then serves many streams over a pipe.

Run as `python -m voice.worker SPEC_JSON`; the pool starts it. Messages both ways are the typed
messages of `voice.messages`, as frames of `<u32 header length><u32 body length><JSON header><body>`; stdout carries only frames (anything
else a library prints goes to stderr), stdin closing ends the worker.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import select
import struct
import sys
from typing import Any, BinaryIO, Callable

from voice.messages import (
    URGENT, Audio, Cancel, Failed, Finish, Known, KnownWords, Ping, Pong, ProtocolError, Ready,
    Reply, Request, Result, Start, request_from_wire,
)
from voice.recognizer import Engine, EngineStream, EngineUnavailable, Hints, engine_stream

HEADER = struct.Struct("<II")
MAX_HEADER = 4 * 1024 * 1024
MAX_BODY = 16 * 1024 * 1024


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    h = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    return HEADER.pack(len(h), len(body)) + h + body


def build_engine(spec: dict[str, Any]) -> Engine:
    """`{"factory": "module:callable", "kwargs": {...}}` -> an engine instance."""
    module, _, name = str(spec["factory"]).partition(":")
    factory = getattr(importlib.import_module(module), name)
    return factory(**spec.get("kwargs", {}))  # type: ignore[no-any-return]


class FrameReader:
    """Frames from a raw file descriptor, so `select` can tell whether more are waiting."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.eof = False

    def _fill(self, block: bool) -> None:
        if self.eof:
            return
        if not block and not select.select([self.fd], [], [], 0)[0]:
            return
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            self.eof = True
        self.buf += chunk

    def frames(self, block: bool) -> list[tuple[dict[str, Any], bytes]]:
        """Every complete frame available (waiting for at least one if `block`)."""
        out: list[tuple[dict[str, Any], bytes]] = []
        while True:
            while len(self.buf) >= HEADER.size:
                hlen, blen = HEADER.unpack_from(self.buf)
                if hlen > MAX_HEADER or blen > MAX_BODY:
                    raise ValueError("oversized frame")
                end = HEADER.size + hlen + blen
                if len(self.buf) < end:
                    break
                header = json.loads(bytes(self.buf[HEADER.size:HEADER.size + hlen]))
                out.append((header, bytes(self.buf[HEADER.size + hlen:end])))
                del self.buf[:end]
            if self.eof or (out or not block) and not select.select([self.fd], [], [], 0)[0]:
                return out
            self._fill(block=True)


def serve(engine: Engine, inp: BinaryIO | int, out: BinaryIO) -> None:
    """Answer requests until stdin closes. A `Finish` jumps the queue: only the messages of its
    own stream are handled before it, so one caller's end of speech does not wait behind the
    audio of every other caller."""
    streams: dict[str, EngineStream | Exception] = {}
    reader = FrameReader(inp if isinstance(inp, int) else inp.fileno())
    queue: list[Request] = []

    def send(reply: Reply) -> None:
        out.write(encode(*reply.to_wire()))
        out.flush()

    failed = getattr(engine, "failed", None)
    engines = getattr(engine, "engines", None)
    send(Ready(tuple(engine.locales()), os.getpid(),
               dict(failed()) if callable(failed) else {},
               dict(engines()) if callable(engines) else {}))
    while True:
        for header, body in reader.frames(block=not queue):
            try:
                queue.append(request_from_wire(header, body))
            except (ProtocolError, TypeError, ValueError, AttributeError):
                continue  # not a message of ours: ignored, as before
        if not queue:
            if reader.eof:
                return
            continue
        pick = next((i for i, m in enumerate(queue) if isinstance(m, URGENT)), 0)
        sid = queue[pick].id
        mine = [i for i in range(pick) if queue[i].id == sid] + [pick]
        for i in mine:
            handle(engine, streams, send, queue[i])
        for i in reversed(mine):
            del queue[i]


def open_stream(engine: Engine, msg: Start) -> EngineStream:
    """The engine's stream for a Start; hints (prompt, phrases) only for engines taking them."""
    words = list(msg.words) if msg.words is not None else None
    hints = Hints(tuple(msg.words or ()), msg.prompt, dict(msg.phrases or {})) \
        if msg.prompt or msg.phrases else None
    return engine_stream(engine, msg.locale, words, hints)


def handle(engine: Engine, streams: dict[str, EngineStream | Exception],
           send: Callable[[Reply], None], msg: Request) -> None:
    sid = msg.id
    try:
        if isinstance(msg, Start):
            try:
                streams[sid] = open_stream(engine, msg)
            except Exception as exc:  # reported when the stream finishes
                streams[sid] = exc
        elif isinstance(msg, Audio):
            st = streams.get(sid)
            if st is not None and not isinstance(st, Exception):
                st.accept(msg.pcm)
        elif isinstance(msg, Finish):
            st = streams.pop(sid, None)
            if st is None:
                send(Failed(sid, "failed", "unknown stream"))
            elif isinstance(st, Exception):
                kind = "unavailable" if isinstance(st, EngineUnavailable) else "failed"
                send(Failed(sid, kind, str(st)))
            else:
                send(Result(sid, tuple(st.finish())))
        elif isinstance(msg, Cancel):
            streams.pop(sid, None)
        elif isinstance(msg, Known):
            send(KnownWords(sid, tuple(engine.known(msg.locale, list(msg.words)))))
        elif isinstance(msg, Ping):
            send(Pong(sid))
    except Exception as exc:  # one bad stream must not end the worker
        streams.pop(sid, None)
        send(Failed(sid, "failed", repr(exc)))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="voice-worker %(levelname)s %(name)s: %(message)s")
    # Keep the protocol pipe to ourselves: whatever native code prints to fd 1 goes to stderr.
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    spec = json.loads(sys.argv[1])
    engine = build_engine(spec)
    try:
        serve(engine, sys.stdin.fileno(), proto)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
