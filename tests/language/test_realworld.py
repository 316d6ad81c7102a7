"""The real-world corpus of issue 14 (tests/language/realworld/): exact-match floors.

Exact match is the intent plus the multiset of (sku, quantity, unit). The held-out part was
never looked at while the parser was changed; its floor is the issue's target (95 %) or the
score reached, whichever is higher. Scores reached (see gateway/language/README.md):
zh-CN tuning 204/209, held-out 109/112; ko-KR tuning 88/88, held-out 48/48.
"""

from __future__ import annotations

import pytest

from .corpus import load_realworld, real_accuracy

FLOORS = [("tuning_zh.tsv", "zh-CN", 0.97), ("heldout_zh.tsv", "zh-CN", 0.97),
          ("tuning_ko.tsv", "ko-KR", 1.0), ("heldout_ko.tsv", "ko-KR", 1.0)]


def test_realworld_sizes_and_sources() -> None:
    zh = load_realworld("tuning_zh.tsv") + load_realworld("heldout_zh.tsv")
    ko = load_realworld("tuning_ko.tsv") + load_realworld("heldout_ko.tsv")
    assert len(zh) >= 300 and len(ko) >= 120
    for name, part in (("heldout_zh.tsv", zh), ("heldout_ko.tsv", ko)):
        assert len(load_realworld(name)) >= 0.3 * len(part)
    assert all(c.source.startswith(("http://", "https://", "github:")) for c in zh + ko)


@pytest.mark.parametrize("name, locale, floor", FLOORS)
def test_realworld_accuracy(name: str, locale: str, floor: float) -> None:
    ok, total, wrong = real_accuracy(name, locale)
    detail = "\n".join(f"{c.id} {c.text!r}: want {c.intent} {c.items} got {a}" for c, a in wrong)
    assert ok / total >= floor, detail
