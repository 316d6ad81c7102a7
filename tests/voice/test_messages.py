"""The typed pool <-> worker messages survive the wire unchanged."""

from __future__ import annotations

import pytest

from voice.messages import (
    Audio, Cancel, Failed, Finish, Known, KnownWords, Ping, Pong, ProtocolError, Ready, Result,
    Start, reply_from_wire, request_from_wire,
)
from voice.recognizer import Alternative


@pytest.mark.parametrize("msg", [
    Start("s1", "zh-CN", ("大米", "两"), "我要大米两袋。", {"product": ("大米",)}),
    Start("s2", "ko-KR"),
    Audio("s1", b"\x01\x02" * 800),
    Finish("s1"), Cancel("s1"), Ping("p"),
    Known("k1", "ko-KR", ("네", "쌀")),
])
def test_requests_round_trip(msg: object) -> None:
    header, body = msg.to_wire()  # type: ignore[attr-defined]
    assert request_from_wire(header, body) == msg


@pytest.mark.parametrize("msg", [
    Ready(("ko-KR",), 42, {"zh-CN": "checksum mismatch"}, {"ko-KR": "vosk"}),
    Result("s1", (Alternative("大米两袋", 0.9), Alternative("大米", 0.5))),
    Failed("s1", "unavailable", "no model for zh-CN"),
    KnownWords("k1", ("네",)), Pong("p"),
])
def test_replies_round_trip(msg: object) -> None:
    header, body = msg.to_wire()  # type: ignore[attr-defined]
    assert reply_from_wire(header, body) == msg


def test_wire_names_are_the_old_op_names() -> None:
    assert Start("a", "ko-KR", ("x",)).to_wire() == (
        {"op": "open", "id": "a", "locale": "ko-KR", "words": ["x"]}, b"")
    assert Audio("a", b"pcm").to_wire() == ({"op": "feed", "id": "a"}, b"pcm")
    assert Failed("a").to_wire()[0]["op"] == "error"


def test_unknown_ops_are_refused() -> None:
    with pytest.raises(ProtocolError):
        request_from_wire({"op": "result", "id": "x"})
    with pytest.raises(ProtocolError):
        reply_from_wire({"op": "open", "id": "x"})
