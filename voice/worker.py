"""A recognition worker process: loads its engine once, then serves many streams over a pipe.

Run as `python -m voice.worker SPEC_JSON`; the pool starts it. Messages both ways are frames of
`<u32 header length><u32 body length><JSON header><body>`; stdout carries only frames (anything
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

from voice.recognizer import Engine, EngineStream, EngineUnavailable

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


URGENT = ("finish", "known", "cancel", "ping")


def serve(engine: Engine, inp: BinaryIO | int, out: BinaryIO) -> None:
    """Answer requests until stdin closes. A `finish` jumps the queue: only the messages of its
    own stream are handled before it, so one caller's end of speech does not wait behind the
    audio of every other caller."""
    streams: dict[str, EngineStream | Exception] = {}
    reader = FrameReader(inp if isinstance(inp, int) else inp.fileno())
    queue: list[tuple[dict[str, Any], bytes]] = []

    def send(header: dict[str, Any]) -> None:
        out.write(encode(header))
        out.flush()

    send({"op": "ready", "locales": engine.locales(), "pid": os.getpid()})
    while True:
        queue.extend(reader.frames(block=not queue))
        if not queue:
            if reader.eof:
                return
            continue
        pick = next((i for i, (m, _) in enumerate(queue) if m.get("op") in URGENT), 0)
        sid = str(queue[pick][0].get("id", ""))
        mine = [i for i in range(pick) if str(queue[i][0].get("id", "")) == sid] + [pick]
        for i in mine:
            handle(engine, streams, send, *queue[i])
        for i in reversed(mine):
            del queue[i]


def handle(engine: Engine, streams: dict[str, EngineStream | Exception],
           send: Callable[[dict[str, Any]], None], msg: dict[str, Any], body: bytes) -> None:
    op, sid = msg.get("op"), str(msg.get("id", ""))
    try:
        if op == "open":
            try:
                streams[sid] = engine.stream(msg["locale"], msg.get("words"))
            except Exception as exc:  # reported when the stream finishes
                streams[sid] = exc
        elif op == "feed":
            st = streams.get(sid)
            if st is not None and not isinstance(st, Exception):
                st.accept(body)
        elif op == "finish":
            st = streams.pop(sid, None)
            if st is None:
                send({"op": "error", "id": sid, "kind": "failed", "message": "unknown stream"})
            elif isinstance(st, Exception):
                kind = "unavailable" if isinstance(st, EngineUnavailable) else "failed"
                send({"op": "error", "id": sid, "kind": kind, "message": str(st)})
            else:
                alts = st.finish()
                send({"op": "result", "id": sid, "alternatives": [a.to_dict() for a in alts]})
        elif op == "cancel":
            streams.pop(sid, None)
        elif op == "known":
            send({"op": "known", "id": sid, "words": engine.known(msg["locale"], msg.get("words", []))})
        elif op == "ping":
            send({"op": "pong", "id": sid})
    except Exception as exc:  # one bad stream must not end the worker
        streams.pop(sid, None)
        send({"op": "error", "id": sid, "kind": "failed", "message": repr(exc)})


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
