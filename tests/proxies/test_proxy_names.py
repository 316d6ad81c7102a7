"""Issue 20: more ways a proxy names the resident (我/우리, 거/꺼, 보내, 妈 for 妈妈), and the
relation or the resident's name finding the proxy row."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.orders.proxies import match, named


@pytest.mark.parametrize(("text", "who", "rest"), [
    ("给我妈妈订大米一袋", "妈妈", "大米一袋"),
    ("给我妈送：大米", "妈", "大米"),
    ("给妈妈订：每周二一样", "妈妈", "每周二一样"),
    ("우리 엄마 거 주문: 쌀", "엄마", "쌀"),
    ("엄마꺼 주문해 주세요: 쌀", "엄마", "쌀"),
    ("엄마한테 보내 주세요: 쌀 한 포대", "엄마", "쌀 한 포대"),
])
def test_more_ways_to_name_the_resident(text: str, who: str, rest: str) -> None:
    said = named(text)
    assert said is not None and (said.who, said.rest) == (who, rest)


def test_the_relation_or_the_name_finds_the_resident() -> None:
    mum = SimpleNamespace(relation="妈妈", resident=SimpleNamespace(name="王奶奶"))
    gran = SimpleNamespace(relation="", resident=SimpleNamespace(name="刘奶奶"))
    assert match([mum, gran], "妈妈") is mum and match([mum, gran], "妈") is mum
    assert match([mum, gran], "刘奶奶") is gran and match([mum, gran], "外婆") is None
