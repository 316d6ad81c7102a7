"""Property tests: any text parses without raising, and every quantity is positive."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.language import SUPPORTED_LOCALES

from .corpus import language

# Text built from the language's own words mixed with arbitrary characters reaches deep paths.
ZH_WORDS = ["大米", "米", "两", "袋", "一", "斤", "半", "鸡蛋", "机", "蛋", "，", "、", "和", "各", "要",
            "十", "百", "零", "俩", "0", "2.5", "１", "個", "雞", "牛", "肉", "包", "子", "取消", "确认",
            "我是", "三", "组", "老样子", "到哪了", "油", " ", "ok", "84消毒液", "啤久", "面包"]
KO_WORDS = ["쌀", "두", "포대", "한", "판", "반", "네", "이", "킬로", "10", "개", "하고", "을", "씩",
            "주세요", "아니요", "계란", "사과", "라면", "쌀국수", " ", "열두", "삼십", ",", "kg"]


def mixed(words: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(words), st.text(max_size=3)), max_size=25).map("".join)


def _check(locale: str, catalog: str, text: str) -> None:
    result = language(catalog, locale).parse(text)
    assert result.intent in ("order", "confirm", "cancel", "status", "repeat", "help", "unknown")
    for item in result.items:
        assert isinstance(item.quantity, Decimal) and item.quantity > 0
        assert item.sku and item.unit
    d = result.to_dict()
    assert set(d) == {"intent", "items", "unmatched"}
    if result.items or result.unmatched:
        assert result.intent in ("order", "repeat")


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(SUPPORTED_LOCALES), st.sampled_from(["demo", "alt"]))
def test_any_text_parses(text: str, locale: str, catalog: str) -> None:
    _check(locale, catalog, text)


@SETTINGS
@given(mixed(ZH_WORDS), st.sampled_from(["demo", "alt"]))
def test_chinese_word_soup(text: str, catalog: str) -> None:
    _check("zh-CN", catalog, text)


@SETTINGS
@given(mixed(KO_WORDS), st.sampled_from(["demo", "alt"]))
def test_korean_word_soup(text: str, catalog: str) -> None:
    _check("ko-KR", catalog, text)
