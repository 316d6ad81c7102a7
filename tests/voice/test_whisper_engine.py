"""The Whisper engine on a person's recorded words: the grammar's readings of what Whisper
wrote, ranked by the model itself (voice.whisper_engine.Heard)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.language import compile_language
from gateway.orders.catalog import read_csv
from gateway.orders.demo import demo_file
from voice import synth
from voice.models import assemble_whisper, whisper_available
from voice.recognizer import Hints

pytestmark = pytest.mark.slow

BANK = synth.PERSON_BANK


@pytest.fixture(scope="module")
def lang() -> Any:
    return compile_language("zh-CN", read_csv(demo_file("catalog", "zh-CN")))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    models = tmp_path_factory.mktemp("models")
    if not whisper_available(models):
        pytest.skip("the zh extra (faster-whisper and its model) is not installed")
    from voice.whisper_engine import WhisperEngine

    return WhisperEngine({"zh-CN": assemble_whisper(models)}, threads=1)


@pytest.fixture(scope="module")
def bank(lang: Any) -> synth.WordBank:
    return synth.WordBank(BANK, synth.order_words(lang.snap_phrases()))


def heard(engine: Any, lang: Any, pcm: bytes, answer: bool = False) -> list[str]:
    stream = engine.stream("zh-CN", None, Hints((), lang.whisper_prompt(answer=answer),
                                                lang.snap_phrases()))
    stream.accept(pcm)
    return [a.text for a in stream.finish()]


def items(lang: Any, text: str) -> list[tuple[str, int, str]]:
    return sorted((i.sku, int(i.quantity), i.unit) for i in lang.parse(text).items)


@pytest.mark.parametrize("tempo", [0.9, 1.0, 1.15])
def test_a_two_item_order_at_three_tempos(engine: Any, lang: Any, bank: synth.WordBank,
                                          tempo: float) -> None:
    out = heard(engine, lang, bank.say("大米两袋，鸡蛋一板", tempo=tempo))
    assert items(lang, out[0]) == [("eggs", 1, "板"), ("rice", 2, "袋")], out


def test_the_model_picks_the_reading_the_cheapest_snap_would_miss(
        engine: Any, lang: Any, bank: synth.WordBank) -> None:
    # Whisper writes 向由五平 for 酱油五瓶; the cheapest snap is 想 + 油五瓶 (a filler takes 向);
    # the model scores 酱油五瓶 higher
    out = heard(engine, lang, bank.say("酱油五瓶"))
    assert items(lang, out[0]) == [("soy-sauce", 5, "瓶")], out


def test_a_longer_reading_is_not_beaten_by_its_own_beginning(
        engine: Any, lang: Any, bank: synth.WordBank) -> None:
    pcm = bank.say("大米三袋，鸡蛋两板")  # the prompt's own examples, said by the caller
    hyps, seen = engine.decode("zh-CN", pcm, lang.whisper_prompt())
    full, part = seen.score(["大米三袋，鸡蛋两板", "大米三袋"])
    assert full > part
    assert items(lang, heard(engine, lang, pcm)[0]) == [("eggs", 2, "板"), ("rice", 3, "袋")]


def test_yes_and_no_in_a_person_s_voice(engine: Any, lang: Any, bank: synth.WordBank) -> None:
    for word, intent in (("是", "confirm"), ("对", "confirm"), ("不是", "cancel"),
                         ("不对", "cancel")):
        for answer in (True, False):  # a read-back's prompt, or an order's
            out = heard(engine, lang, bank.say(word), answer)
            assert lang.parse(out[0]).intent == intent, (word, answer, out)


def test_an_order_is_decoded_once_more_without_the_prompt(
        engine: Any, lang: Any, bank: synth.WordBank, monkeypatch: pytest.MonkeyPatch) -> None:
    # With the prompt alone Whisper writes 食用油五瓶 for 来食用油五桶 (the prompt's examples
    # have 酱油一瓶); the pass without the prompt offers 五桶, and the model ranks it first.
    from voice import whisper_engine

    passes: list[int] = []
    hypotheses = whisper_engine.Heard.hypotheses

    def counted(self: Any, prompt_ids: Any = (), **kw: Any) -> Any:
        passes.append(len(prompt_ids))
        return hypotheses(self, prompt_ids, **kw)

    monkeypatch.setattr(whisper_engine.Heard, "hypotheses", counted)
    pcm = bank.say("来食用油五桶")
    right = items(lang, "食用油五桶")
    engine.unprompted = False
    try:
        once = heard(engine, lang, pcm)
    finally:
        engine.unprompted = True
    assert len(passes) == 1 and items(lang, once[0]) != right, once
    passes.clear()
    twice = heard(engine, lang, pcm)
    assert passes[0] > 0 and passes[1:] == [0], passes
    assert items(lang, twice[0]) == right, twice


def test_a_yes_is_decoded_once(engine: Any, lang: Any, bank: synth.WordBank,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    # an answer to a read-back is not an order: no second pass (and no cost for it)
    from voice import whisper_engine

    passes: list[int] = []
    hypotheses = whisper_engine.Heard.hypotheses
    monkeypatch.setattr(whisper_engine.Heard, "hypotheses",
                        lambda self, prompt_ids=(), **kw: passes.append(1)
                        or hypotheses(self, prompt_ids, **kw))
    out = heard(engine, lang, bank.say("是"), answer=True)
    assert lang.parse(out[0]).intent == "confirm" and len(passes) == 1, (out, passes)
