"""The real Korean model on synthetic speech: short words with a grammar, silence, garbage."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

import pytest

from voice.audio import read_wav, silence_ulaw
from voice.listen import Listener, Outcome
from voice.recognizer import LocalRecognizer
from voice.vosk_engine import VoskEngine

pytestmark = pytest.mark.slow

YES_NO = ["예", "네", "아니요", "쌀", "라면", "두", "한", "봉지", "주세요"]


@pytest.fixture(scope="module")
def engine(ko_model_path: Path) -> VoskEngine:
    return VoskEngine({"ko-KR": ko_model_path})


def recognise(engine: VoskEngine, pcm: bytes, words: list[str] | None = YES_NO) -> list[str]:
    st = engine.stream("ko-KR", words)
    for i in range(0, len(pcm), 1600):
        st.accept(pcm[i:i + 1600])
    return [a.text for a in st.finish()]


@pytest.mark.parametrize("word", ["예", "아니요", "네"])
def test_short_words_are_recognised(engine: VoskEngine, say: Callable[..., Path],
                                    word: str) -> None:
    texts = recognise(engine, read_wav(say(word)))
    assert texts, "nothing recognised"
    # espeak's 네 sounds like 예 to this model; both mean yes, and both are in the N-best.
    assert texts[0] == word or (word == "네" and texts[0] in ("예", "네"))


def test_unknown_words_are_dropped_from_the_grammar(engine: VoskEngine) -> None:
    grammar = engine.grammar("ko-KR", ["예", "zzqx", "쌀"])
    assert "zzqx" not in grammar and "예" in grammar
    assert engine.known("ko-KR", ["예", "zzqx", ""]) == ["예"]


def test_silence_gives_nothing(engine: VoskEngine) -> None:
    assert recognise(engine, b"\x00\x00" * 16000) == []


def test_garbage_audio_is_not_an_error(engine: VoskEngine) -> None:
    rnd = random.Random(5)
    noise = bytes(rnd.randrange(256) for _ in range(32000))
    texts = recognise(engine, noise)
    assert all(isinstance(t, str) for t in texts)


def test_free_dictation_without_a_word_list(engine: VoskEngine, say: Callable[..., Path]) -> None:
    texts = recognise(engine, read_wav(say("아니요")), words=None)
    assert texts  # something, though rarely the right thing on synthetic speech


async def test_listener_on_a_call(engine: VoskEngine, call_audio: Callable[..., bytes]) -> None:
    audio = call_audio("아니요")
    lis = Listener(LocalRecognizer(engine), "ko-KR", YES_NO)
    for i in range(0, len(audio), 160):
        if await lis.push(audio[i:i + 160]):
            break
    u = await lis.result()
    assert u.outcome is Outcome.SPEECH and u.texts[0] == "아니요"


async def test_listener_on_silence(engine: VoskEngine) -> None:
    lis = Listener(LocalRecognizer(engine), "ko-KR", YES_NO)
    audio = silence_ulaw(10)
    for i in range(0, len(audio), 160):
        if await lis.push(audio[i:i + 160]):
            break
    assert (await lis.result()).outcome is Outcome.NO_SPEECH
