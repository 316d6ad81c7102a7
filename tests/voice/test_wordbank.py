"""Test speech from a person's recorded words (voice/data/cmn-tan)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice import synth
from voice.audio import duration, pcm_rms, read_wav

BANK = synth.PERSON_BANK


@pytest.fixture(scope="module")
def bank() -> synth.WordBank:
    return synth.WordBank(BANK, ["体温计", "卫生纸", "两", "个", "提", "大米", "袋"])


def test_every_recording_is_a_phone_line_word() -> None:
    files = sorted(BANK.glob("cmn-*.wav"))
    assert len(files) >= 90
    for f in files:
        head = f.read_bytes()[:40]
        assert head[:4] == b"RIFF" and int.from_bytes(head[20:22], "little") == 7  # mu-law
        assert int.from_bytes(head[24:28], "little") == 8000
        pcm = read_wav(f)
        assert 0.15 < duration(pcm) < 1.5 and pcm_rms(pcm) > 300, f.name
    assert "CC BY-SA" in (BANK / "README.md").read_text(encoding="utf-8")


def test_a_text_is_cut_into_the_fewest_words_at_word_boundaries(bank: synth.WordBank) -> None:
    assert bank.pieces("大米") == ["大米"]
    # 两个体温计: 个体 is a recorded word too, but it would cross the boundary 个|体温计
    assert bank.pieces("两个体温计") == ["两", "个", "体温", "计"]
    assert bank.pieces("帮我买卫生纸两提") == ["帮", "我", "买", "卫生", "纸", "两", "提"]
    assert bank.pieces("鲫鱼") is None
    assert bank.can_say("大米两袋，鸡蛋一板") and not bank.can_say("鲫鱼两条")


def test_saying_is_repeatable_with_gaps_and_pauses(bank: synth.WordBank) -> None:
    words = sum(duration(read_wav(BANK / f"cmn-{w}.wav")) for w in ("大米", "两", "袋"))
    one = bank.say("大米两袋")
    assert one == bank.say("大米两袋")
    assert duration(one) == pytest.approx(words + 2 * 0.06, abs=0.01)
    two = bank.say("大米两袋，大米两袋")
    assert duration(two) == pytest.approx(2 * duration(one) + 0.3, abs=0.01)
    with pytest.raises(ValueError, match="鲫鱼"):
        bank.say("鲫鱼两条")


@pytest.mark.skipif(not synth.available(), reason="sox is needed for a tempo")
def test_a_tempo_changes_the_length_not_the_words(bank: synth.WordBank) -> None:
    one = bank.say("大米两袋")
    fast, slow = bank.say("大米两袋", tempo=1.15), bank.say("大米两袋", tempo=0.9)
    assert duration(fast) == pytest.approx(duration(one) / 1.15, rel=0.05)
    assert duration(slow) == pytest.approx(duration(one) / 0.9, rel=0.05)
    assert fast == bank.say("大米两袋", tempo=1.15)  # sox -R: the same audio every time


def test_speak_uses_the_person_where_it_can(tmp_path: Path) -> None:
    pcm, voice = synth.speak("大米两袋", tmp_path)
    assert voice == "person" and duration(pcm) > 1.0
    assert synth.tone_pinyin("鲫鱼两条，鸡蛋一板") == "ji4 yu2 liang3 tiao2 , ji1 dan4 yi1 ban3"
    if not synth.available():
        with pytest.raises(RuntimeError, match="espeak-ng"):
            synth.speak("鲫鱼两条", tmp_path)
        return
    assert synth.speak("鲫鱼两条", tmp_path)[1] == "espeak-ng cmn"  # 鲫鱼 was not recorded
    assert synth.speak("계란 한 판", tmp_path)[1] == "espeak-ng ko"
