"""The corpora: exact expected output for everyday texts (tuning) and the held-out share."""

from __future__ import annotations

import pytest

from .corpus import accuracy, actual, load

TUNING = [("corpus_zh.tsv", "zh-CN"), ("corpus_ko.tsv", "ko-KR")]
HELD_OUT = [("heldout_zh.tsv", "zh-CN"), ("heldout_ko.tsv", "ko-KR"),
            ("heldout2_zh.tsv", "zh-CN"), ("heldout2_ko.tsv", "ko-KR"),
            ("heldout3_zh.tsv", "zh-CN"), ("heldout3_ko.tsv", "ko-KR")]


def _cases(files: list[tuple[str, str]]) -> list:
    return [pytest.param(c, loc, id=c.id) for name, loc in files for c in load(name)]


def test_corpus_sizes() -> None:
    zh = sum(len(load(n)) for n, loc in TUNING + HELD_OUT if loc == "zh-CN")
    ko = sum(len(load(n)) for n, loc in TUNING + HELD_OUT if loc == "ko-KR")
    assert zh >= 300 and ko >= 100


@pytest.mark.parametrize("case, locale", _cases(TUNING))
def test_tuning_corpus(case, locale) -> None:
    assert actual(case, locale) == case.expected


@pytest.mark.parametrize("name, locale", HELD_OUT)
def test_held_out_accuracy(name: str, locale: str) -> None:
    """Each set was written before it was first run (see the file headers and README); most
    texts use catalogues the parser was not developed with. The issue's target: 95 % exact."""
    ok, total, wrong = accuracy(name, locale)
    detail = "\n".join(f"{c.id} {c.text!r}: want {c.expected} got {a}" for c, a in wrong)
    assert ok / total >= 0.95, detail
