"""Snapping dictated transcripts to the order grammar (pure functions, the demo catalogue)."""

from __future__ import annotations

import pytest

from gateway.orders.catalog import read_csv
from gateway.orders.demo import demo_file
from gateway.language import compile_language
from voice.snap import VARIANTS, Snapper, align, pinyin, simplified, syllable_cost
from voice.transcripts import cut_loop


@pytest.fixture(scope="module")
def lang():  # noqa: ANN201
    return compile_language("zh-CN", read_csv(demo_file("catalog", "zh-CN")))


@pytest.fixture(scope="module")
def snapper(lang) -> Snapper:  # noqa: ANN001
    return Snapper(lang.snap_phrases())


def items(lang, text: str) -> list[tuple[str, int, str]]:  # noqa: ANN001
    return [(i.sku, int(i.quantity), i.unit) for i in lang.parse(text).items]


def test_pinyin_and_distances() -> None:
    assert simplified("兩袋") == "两袋" and simplified("４") == "4"
    assert pinyin("大米2袋") == ["da", "mi", "liang", "dai"]
    assert pinyin("买了 12 个, ok") == ["mai", "le", "shi", "er", "ge"]
    assert syllable_cost("liang", "liang") == 0 and syllable_cost("liang", "lian") == 0.2
    assert align(("jiang", "you"), ("jiang", "you")) == 0
    assert align(("jiang",), ("jiang", "you")) == 1


@pytest.mark.parametrize("said, expected", [
    ("大米兩袋，鸡蛋一板。", [("rice", 2, "袋"), ("eggs", 1, "板")]),  # Traditional
    ("江油三瓶", [("soy-sauce", 3, "瓶")]),  # a homophone of 酱油
    ("我要两瓶酱油和一斤猪肉", [("soy-sauce", 2, "瓶"), ("pork", 1, "斤")]),
    ("酱油两瓶猪肉一斤苹果三斤", [("soy-sauce", 2, "瓶"), ("pork", 1, "斤"), ("apples", 3, "斤")]),
    ("大米2袋", [("rice", 2, "袋")]),
])
def test_orders_snap_to_catalogue_words(lang, snapper: Snapper, said: str,  # noqa: ANN001
                                        expected: list[tuple[str, int, str]]) -> None:
    snapped = snapper.snap(said)
    assert snapped is not None and not snapped.intent
    assert items(lang, snapped.text) == expected


@pytest.mark.parametrize("said, intent", [("是", "confirm"), ("對", "confirm"), ("是的", "confirm"),
                                          ("不是", "cancel"), ("对４", "confirm")])
def test_yes_and_no_snap_to_intents(lang, snapper: Snapper, said: str,  # noqa: ANN001
                                    intent: str) -> None:
    snapped = snapper.snap(said)
    assert snapped is not None and snapped.intent
    assert lang.parse(snapped.text).intent == intent


def test_far_from_everything_is_not_snapped(snapper: Snapper) -> None:
    assert snapper.snap("屁。") is None
    assert snapper.snap("") is None
    assert snapper.snap("hello world") is None


def test_snap_all_keeps_the_best_of_each(snapper: Snapper) -> None:
    out = snapper.snap_all(["大米两袋", "大米兩袋", "大米两", "屁"])
    assert [s.text for s in out][:1] == ["大米两袋"]
    assert len({s.text for s in out}) == len(out)


def test_hints_come_from_the_compiled_language(lang) -> None:  # noqa: ANN001
    phrases = lang.snap_phrases()
    assert "大米" in phrases["product"] and "酱油" in phrases["product"]
    assert "袋" in phrases["unit"] and "两" in phrases["number"] and "幺" not in phrases["number"]
    assert "是" in phrases["intent"] and "不是" in phrases["intent"]
    prompt = lang.whisper_prompt()
    assert "大米" in prompt and len(prompt) <= 160
    words = set(lang.vosk_words().words)  # the same lexicon as the Vosk word list
    assert set(phrases["product"]) <= words | {w for w in phrases["product"] if len(w) > 1}


def test_a_transcript_that_writes_out_the_prompt_is_dropped() -> None:
    from voice.transcripts import copies_prompt

    prompt = "以下是普通话的句子：是。对。不是。不对。我要大米两袋，面粉一袋，面条三把。"
    assert copies_prompt("普通话的句子", prompt)
    assert copies_prompt("大米两袋，面粉一袋，面条三把", prompt)
    assert not copies_prompt("大米两袋", prompt) and not copies_prompt("我要大米两袋", prompt)
    assert not copies_prompt("不是", prompt)


def test_examples_of_the_prompt_added_after_what_was_heard_are_dropped() -> None:
    from voice.transcripts import drop_prompt_echo

    prompt = "以下是普通话的句子：是。对。不是。不对。我要大米两袋，面粉一袋，面条三把。"
    assert drop_prompt_echo("大米两袋，面条三把。", prompt) == "大米两袋"
    assert drop_prompt_echo("酱油两瓶，面条三把", prompt) == "酱油两瓶"
    assert drop_prompt_echo("面条三把", prompt) == "面条三把"
    assert drop_prompt_echo("酱油两瓶，猪肉一斤", prompt) == "酱油两瓶，猪肉一斤"


@pytest.mark.parametrize("said, expected", [
    ("大葱一八", [("scallions", 1, "把")]),  # two digits in a row are no count: 八 is 把
    ("面条两把，一半鸡蛋", [("noodles", 2, "把"), ("eggs", 1, "板")]),  # 一半 is 一板 here
    ("大米二十五斤", [("rice", 25, "斤")]),  # a two-syllable count is one word
    ("十五斤大米", [("rice", 15, "斤")]),
])
def test_a_count_is_one_numeral(lang, snapper: Snapper, said: str,  # noqa: ANN001
                                expected: list[tuple[str, int, str]]) -> None:
    snapped = snapper.snap(said)
    assert snapped is not None and items(lang, snapped.text) == expected


def test_variants_offer_the_readings_a_filler_or_a_bare_name_would_hide(
        snapper: Snapper) -> None:
    # Whisper base wrote these for 酱油五瓶 and 还有 (human recordings): the cheapest reading
    # loses a syllable into a filler (想 + 油五瓶) or hears two products (蒜，油); the variants
    # also offer the reading the recogniser's model then scores higher
    assert snapper.snap("向由五平").text == "油五瓶"  # type: ignore[union-attr]
    assert "酱油五瓶" in [s.text for s in snapper.snap_all(["向由五平"], VARIANTS)]
    texts = [s.text for s in snapper.snap_all(["卫生纸两提，两块豆腐，环有提温器五个"], VARIANTS)]
    assert "卫生纸两提，两块豆腐还有体温计五个" in texts
    # a product said alone still snaps to itself whatever the variant
    for filler, bare in VARIANTS:
        assert snapper.snap("大米", filler=filler, bare=bare).text == "大米"  # type: ignore[union-attr]


@pytest.mark.parametrize("text, cut", [
    ("三斤桔子，感冒药三和三斤桔子，感冒药三盒", "三斤桔子，感冒药三和"),
    ("再白菜再来再来再来再再", "再白菜再来"),
    ("面条两把，面条两把", "面条两把"),
    ("大米两袋，鸡蛋一板", "大米两袋，鸡蛋一板"),
    ("", ""),
])
def test_a_looping_transcript_is_cut_where_it_starts_over(text: str, cut: str) -> None:
    assert cut_loop(text) == cut


def test_a_reading_keeps_what_was_said_for_the_model(snapper: Snapper) -> None:
    # the opener is no part of the order but was said: the model scores it with the words
    s = snapper.snap("要青菜九把")
    assert s is not None and (s.text, s.said, s.bare) == ("青菜九把", "要青菜九把", 0)
    assert snapper.snap("大米，鸡蛋两板").bare == 1  # type: ignore[union-attr]
    # a tie goes to fewer items
    assert snapper.snap_all(["帮我买一斤鸡肉，大米三袋"], VARIANTS)[0].text == "一斤鸡肉，大米三袋"


def test_a_count_before_the_name_takes_its_measure_word(lang, snapper: Snapper) -> None:  # noqa: ANN001
    s = snapper.snap("十八青菜")  # Chinese says 十把青菜; 十八 with no measure word is no count
    assert s is not None and items(lang, s.text) == [("bok-choy", 10, "把")]


def test_confusable_counts_and_units_are_offered_too(lang, snapper: Snapper) -> None:  # noqa: ANN001
    # 刺 ci is as near to 四 si as to 一 yi: both are offered, the model chooses
    s = snapper.snap("卫生纸刺提")
    assert s is not None
    readings = [s.text] + [t for t, _said, _odd in s.others]
    assert {"卫生纸一提", "卫生纸四提"} <= set(readings)
    # apples are not sold by the bottle: every unit they are sold in is offered
    s = snapper.snap("要两瓶苹果")
    assert s is not None
    units = {items(lang, t)[0][2] for t in [s.text] + [t for t, _, _odd in s.others]}
    assert {"斤", "箱"} <= units and "瓶" not in units
    assert all(said.startswith("要") for _t, said, _odd in s.others)
    # a count heard exactly has no others; the unit belongs to the product before its count
    s = snapper.snap("大蒜一斤青菜两把")
    assert s is not None and not any("大蒜一把" in t for t, _, _odd in s.others)
    words = ["大蒜", "一", "斤", "青菜", "两", "把"]
    assert [snapper._product_of(words, words, i) for i in (2, 5)] == ["大蒜", "青菜"]
    assert snapper._product_of(["两", "件", "鸡肉"], ["两", "件", "鸡肉"], 1) == "鸡肉"


def test_the_bench_caller_reads_a_read_back_as_items(lang) -> None:  # noqa: ANN001
    from bench.voice_dialogue import readback_items

    said = "您要的是：大米2袋，青菜1把。一共48元。对的请按1，或者说“对”；重说请按2；留言请按0。"
    assert readback_items(lang, said) == (("bok-choy", 1.0, "把"), ("rice", 2.0, "袋"))
    assert readback_items(lang, "好的，请再说一遍您要买的东西。") is None


def test_a_unit_other_than_the_usual_one_is_counted(lang, snapper: Snapper) -> None:  # noqa: ANN001
    # the catalogue's unit comes first in units_of: the one a reading is not marked for (three
    # quarters of the items in the real-world order texts are in it)
    assert "苹果:斤,个,箱,袋" in lang.snap_phrases()["units_of"]
    s = snapper.snap("要两瓶苹果")  # not sold by the bottle: the nearest sold unit, 箱
    assert s is not None and (s.text, s.odd) == ("两箱苹果", 1)
    assert ("两斤苹果", "要两斤苹果", 0) in s.others
    assert snapper.snap("大米两袋，鸡蛋一板").odd == 0  # type: ignore[union-attr]


def test_a_transcript_is_snapped_once_and_the_memory_is_bounded(
        lang, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    # Whisper's two passes often write the same transcript: it is snapped once
    import voice.snap

    fresh = Snapper(lang.snap_phrases())
    calls: list[str] = []
    ways_now = Snapper._ways_now
    monkeypatch.setattr(Snapper, "_ways_now",
                        lambda self, text, variants: calls.append(text) or ways_now(self, text,
                                                                                    variants))
    first = fresh.snap_all(["向由五平", "大米两袋"], VARIANTS)
    again = fresh.snap_all(["大米两袋", "向由五平", "鸡蛋一板"], VARIANTS)
    assert calls == ["向由五平", "大米两袋", "鸡蛋一板"]
    assert {s.text for s in first} <= {s.text for s in again}
    monkeypatch.setattr(voice.snap, "MEMO", 2)
    fresh.snap_all(["青菜五把", "盐一包"], VARIANTS)
    assert len(fresh._memo) <= 2
