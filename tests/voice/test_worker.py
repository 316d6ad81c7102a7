"""The worker's loop in-process: framing, errors per stream, and finish jumping the queue."""

from __future__ import annotations

import io
import json
import os
import struct
from typing import Any, Sequence

from voice.recognizer import Alternative
from voice.worker import HEADER, encode, serve


class Journal:
    """An engine writing down what it was asked, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def locales(self) -> list[str]:
        return ["ko-KR"]

    def known(self, locale: str, words: Sequence[str]) -> list[str]:
        return [w for w in words if w != "zz"]

    def stream(self, locale: str, words: Sequence[str] | None) -> Any:
        if words == ["boom"]:
            raise RuntimeError("cannot build grammar")
        journal, name = self, str(words[0]) if words else "?"

        class S:
            def accept(self, pcm: bytes) -> None:
                journal.calls.append(("feed", name))

            def finish(self) -> list[Alternative]:
                journal.calls.append(("finish", name))
                if name == "bad":
                    raise ValueError("decoder broke")
                return [Alternative(name, 1.0)]

        return S()


def replies(data: bytes) -> list[dict[str, Any]]:
    out, pos = [], 0
    while pos < len(data):
        hlen, blen = HEADER.unpack_from(data, pos)
        out.append(json.loads(data[pos + HEADER.size:pos + HEADER.size + hlen]))
        pos += HEADER.size + hlen + blen
    return out


def run(messages: list[bytes]) -> tuple[Journal, list[dict[str, Any]]]:
    r, w = os.pipe()
    os.write(w, b"".join(messages))
    os.close(w)
    engine, out = Journal(), io.BytesIO()
    serve(engine, r, out)
    os.close(r)
    return engine, replies(out.getvalue())


def test_finish_jumps_ahead_of_other_streams_audio() -> None:
    msgs = [encode({"op": "open", "id": "a", "locale": "ko-KR", "words": ["a"]}),
            encode({"op": "open", "id": "b", "locale": "ko-KR", "words": ["b"]})]
    msgs += [encode({"op": "feed", "id": "a"}, b"\x00" * 1600) for _ in range(5)]
    msgs += [encode({"op": "feed", "id": "b"}, b"\x00" * 1600),
             encode({"op": "finish", "id": "b"}), encode({"op": "finish", "id": "a"})]
    engine, out = run(msgs)
    assert engine.calls == [("feed", "b"), ("finish", "b")] + [("feed", "a")] * 5 + \
        [("finish", "a")]
    assert [o["op"] for o in out] == ["ready", "result", "result"]
    assert [o["alternatives"][0]["text"] for o in out[1:]] == ["b", "a"]


def test_errors_stay_with_their_stream() -> None:
    engine, out = run([
        encode({"op": "open", "id": "x", "locale": "ko-KR", "words": ["boom"]}),
        encode({"op": "open", "id": "y", "locale": "ko-KR", "words": ["bad"]}),
        encode({"op": "finish", "id": "x"}), encode({"op": "finish", "id": "y"}),
        encode({"op": "finish", "id": "nope"}),
        encode({"op": "known", "id": "k", "locale": "ko-KR", "words": ["a", "zz"]}),
        encode({"op": "ping", "id": "p"})])
    assert [(o["op"], o.get("id")) for o in out[1:]] == [
        ("error", "x"), ("error", "y"), ("error", "nope"), ("known", "k"), ("pong", "p")]
    assert "cannot build grammar" in out[1]["message"] and "decoder broke" in out[2]["message"]
    assert out[4]["words"] == ["a"]


def test_a_frame_split_across_reads_is_reassembled() -> None:
    whole = encode({"op": "ping", "id": "1"})
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the writer dribbles bytes, as a pipe under load may
        os.close(r)
        for i in range(len(whole)):
            os.write(w, whole[i:i + 1])
        os._exit(0)
    os.close(w)
    out = io.BytesIO()
    serve(Journal(), r, out)
    os.close(r)
    os.waitpid(pid, 0)
    assert [o["op"] for o in replies(out.getvalue())] == ["ready", "pong"]


def test_header_layout() -> None:
    assert encode({"op": "x"}, b"ab")[:8] == struct.pack("<II", len(b'{"op":"x"}'), 2)
