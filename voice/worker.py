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
import struct
import sys
from typing import Any, BinaryIO

from voice.recognizer import Engine, EngineStream, EngineUnavailable

HEADER = struct.Struct("<II")
MAX_HEADER = 4 * 1024 * 1024
MAX_BODY = 16 * 1024 * 1024


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    h = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    return HEADER.pack(len(h), len(body)) + h + body


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    hlen, blen = HEADER.unpack(head)
    if hlen > MAX_HEADER or blen > MAX_BODY:
        raise ValueError("oversized frame")
    header = json.loads(stream.read(hlen))
    body = stream.read(blen) if blen else b""
    return header, body


def build_engine(spec: dict[str, Any]) -> Engine:
    """`{"factory": "module:callable", "kwargs": {...}}` -> an engine instance."""
    module, _, name = str(spec["factory"]).partition(":")
    factory = getattr(importlib.import_module(module), name)
    return factory(**spec.get("kwargs", {}))  # type: ignore[no-any-return]


def serve(engine: Engine, inp: BinaryIO, out: BinaryIO) -> None:
    streams: dict[str, EngineStream | Exception] = {}

    def send(header: dict[str, Any]) -> None:
        out.write(encode(header))
        out.flush()

    send({"op": "ready", "locales": engine.locales(), "pid": os.getpid()})
    while True:
        frame = read_frame(inp)
        if frame is None:
            return
        msg, body = frame
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
                send({"op": "known", "id": sid,
                      "words": engine.known(msg["locale"], msg.get("words", []))})
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
        serve(engine, sys.stdin.buffer, proto)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
