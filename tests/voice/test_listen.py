"""The listener: end-pointing plus a recogniser, with the fake engine (fast)."""

from __future__ import annotations

from typing import Sequence

from voice.audio import silence_ulaw, ulaw_encode
from voice.listen import Listener, Outcome
from voice.recognizer import (
    Alternative, EngineUnavailable, FakeEngine, LocalRecognizer, RecognitionError, Stream,
)
from array import array
import math

FRAME = 160


def tone(seconds: float, amp: int = 8000) -> bytes:
    n = int(8000 * seconds)
    return ulaw_encode(array("h", (int(amp * math.sin(i * 0.3)) for i in range(n))).tobytes())


async def play(listener: Listener, audio: bytes) -> bool:
    for i in range(0, len(audio), FRAME):
        if await listener.push(audio[i:i + FRAME]):
            return True
    return False


async def test_speech_is_recognised_without_the_long_tail() -> None:
    seen: list[int] = []

    def answer(pcm: bytes, words: Sequence[str] | None) -> list[str]:
        seen.append(len(pcm))
        assert words == ["네"]
        return ["네", "예"]

    rec = LocalRecognizer(FakeEngine(answer=answer, locales=["ko-KR"]))
    lis = Listener(rec, "ko-KR", ["네"])
    assert await play(lis, silence_ulaw(1) + tone(0.5) + silence_ulaw(2))
    u = await lis.result()
    assert u.outcome is Outcome.SPEECH and u.texts == ["네", "예"] and u.reason == "silence"
    # 0.5 s of speech and 0.3 s of the trailing silence (the rest is not decoded)
    assert 0.5 * 16000 < seen[0] <= (0.5 + 0.3) * 16000 + 2 * 2 * FRAME


async def test_silence_only_is_no_speech_and_costs_no_stream() -> None:
    opened = []

    class Spy(LocalRecognizer):
        async def open(self, locale: str, words: Sequence[str] | None = None) -> Stream:
            opened.append(locale)
            return await super().open(locale, words)

    lis = Listener(Spy(FakeEngine()), "zh-CN")
    assert await play(lis, silence_ulaw(9))
    u = await lis.result()
    assert u.outcome is Outcome.NO_SPEECH and u.reason == "timeout" and not opened


async def test_hash_key_ends_speech_early() -> None:
    lis = Listener(LocalRecognizer(FakeEngine(["对"])), "zh-CN")
    assert not await play(lis, tone(0.6))
    lis.end()
    u = await lis.result()
    assert u.outcome is Outcome.SPEECH and u.reason == "forced" and u.texts == ["对"]


async def test_no_model_is_a_failure_not_an_exception() -> None:
    lis = Listener(LocalRecognizer(FakeEngine(locales=["zh-CN"])), "ko-KR")
    await play(lis, tone(0.5) + silence_ulaw(1))
    u = await lis.result()
    assert u.outcome is Outcome.FAILED and "ko-KR" in u.error


async def test_recogniser_failing_mid_stream() -> None:
    class Broken:
        async def feed(self, pcm: bytes) -> None:
            raise RecognitionError("worker died")

        async def finish(self) -> list[Alternative]:
            raise AssertionError("never finished")

        async def cancel(self) -> None:
            pass

    class Rec:
        def locales(self) -> list[str]:
            return ["zh-CN"]

        async def open(self, locale: str, words: Sequence[str] | None = None) -> Stream:
            return Broken()

        async def known(self, locale: str, words: Sequence[str]) -> set[str]:
            raise EngineUnavailable()

    lis = Listener(Rec(), "zh-CN")
    await play(lis, tone(0.5) + silence_ulaw(1))
    u = await lis.result()
    assert u.outcome is Outcome.FAILED and u.error == "worker died"
