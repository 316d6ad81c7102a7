"""The phrase forms of issue 20, text in → meaning out: how a proxy names the resident, and
how a text sets, answers, pauses and stops a standing order (zh-CN and ko-KR)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.conversation import sms as conv
from gateway.orders.proxies import named
from gateway.orders.standing import (
    Phrase,
    answer,
    control,
    deadline_of,
    first_day,
    next_days,
    phrase,
)

DAYS_ZH = "一二三四五六日"
DAYS_KO = "월화수목금토일"


@pytest.mark.parametrize("text, who, rest", [
    ("给妈妈订：大米一袋", "妈妈", "大米一袋"), ("帮外婆买 鸡蛋一板", "外婆", "鸡蛋一板"),
    ("替爸爸点：大米一袋", "爸爸", "大米一袋"), ("给妈妈下单：大米", "妈妈", "大米"),
    ("엄마 주문: 쌀 한 포대", "엄마", "쌀 한 포대"), ("어머니께 주문 계란 한 판", "어머니", "계란 한 판"),
    ("할머니한테 시켜 줘: 쌀 한 포대", "할머니", "쌀 한 포대"),
    ("엄마 주문해 주세요: 쌀", "엄마", "쌀")])
def test_a_proxy_names_the_resident(text: str, who: str, rest: str) -> None:
    said = named(text)
    assert said is not None and (said.who, said.rest) == (who, rest)


@pytest.mark.parametrize("text", ["大米一袋", "쌀 한 포대 주문해 주세요", "给妈妈订："])
def test_plain_orders_name_nobody(text: str) -> None:
    assert named(text) is None


@pytest.mark.parametrize("n", range(7))
def test_every_weekday_in_both_languages(n: int) -> None:
    d, k = DAYS_ZH[n], DAYS_KO[n]
    for text in (f"每周{d}一样", f"每星期{d}都一样", f"每个礼拜{d}照旧", f"每逢周{d}和上次一样"):
        assert phrase(text) == Phrase(n), text
    for text in (f"매주 {k}요일 똑같이", f"{k}요일마다 같은 걸로", f"매주 {k}요일 똑같이 주세요",
                 f"매주 {k}요일마다 그대로 해 주세요"):
        assert phrase(text) == Phrase(n), text
    assert phrase(f"每周{d}：大米两袋") == Phrase(n, goods="大米两袋")
    assert phrase(f"매주 {k}요일: 쌀 두 포대") == Phrase(n, goods="쌀 두 포대")


@pytest.mark.parametrize("text, expected", [
    ("每两周的周二一样", Phrase(1, 2)), ("隔周二一样", Phrase(1, 2)), ("隔周周三 鸡蛋一板",
                                                                Phrase(2, 2, goods="鸡蛋一板")),
    ("每隔一周的周四一样", Phrase(3, 2)), ("每3周周一一样", Phrase(0, 3)),
    ("每周天一样", Phrase(6)), ("每周7一样", Phrase(6)), ("每周二送大米两袋", Phrase(1, goods="大米两袋")),
    ("每次流动超市来都一样", Phrase(None, 1, True)), ("每趟车一样", Phrase(None, 1, True)),
    ("격주 금요일 똑같이", Phrase(4, 2)), ("2주마다 월요일 그대로", Phrase(0, 2)),
    ("두 주마다 수요일 똑같이", Phrase(2, 2)), ("매주 화요일에 쌀 두 포대", Phrase(1, goods="쌀 두 포대")),
    ("이동 슈퍼 올 때마다 똑같이", Phrase(None, 1, True))])
def test_other_schedules(text: str, expected: Phrase) -> None:
    assert phrase(text) == expected


@pytest.mark.parametrize("text", ["每周二", "大米两袋", "周二一样", "일시정지", "토마토 2개", "수박",
                                  "화요일 똑같이", "给妈妈订：大米"])
def test_not_standing_phrases(text: str) -> None:
    assert phrase(text) is None


def test_answers_and_controls() -> None:
    for t in ("1", "１", "确认", "照旧", "好的。", "네", "확인"):
        assert answer(t) == "confirm", t
    for t in ("2", "跳过", "这周不要", "건너뛰기", "이번 주는 안 해요", "아니요"):
        assert answer(t) == "skip", t
    assert [control(t) for t in ("暂停", "停止", "继续", "일시정지", "잠시 중지", "중지", "해지",
                                 "재개", "다시 시작", "恢复", "大米")] == [
        "pause", "stop", "resume", "pause", "pause", "stop", "stop", "resume", "resume", None,
        None]  # 恢复 alone stays the carrier's opt-in word


def test_deadlines_and_days() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    tuesday = date(2026, 12, 8)
    assert deadline_of(tuesday, tz, "20:00") == datetime(2026, 12, 7, 12, 0, tzinfo=ZoneInfo("UTC"))
    # Monday 19:59 local: this Tuesday still; 20:00: next week's
    monday = datetime(2026, 12, 7, 19, 59, tzinfo=tz)
    assert first_day(1, monday, tz, "20:00") == tuesday
    assert first_day(1, monday + timedelta(minutes=1), tz, "20:00") == tuesday + timedelta(7)

    class So:
        weekday, every_weeks, start_date = 1, 2, tuesday
    assert next_days(So, tuesday + timedelta(days=1), 2) == [tuesday + timedelta(14),
                                                               tuesday + timedelta(28)]


def test_a_draft_newer_than_the_question_keeps_its_1() -> None:
    rules = conv.Rules()
    now = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("UTC"))
    item = conv.Item("rice", "大米", 1, "袋")
    draft = conv.State(conv.DRAFT, (item,), expires_at=now + rules.ttl - timedelta(minutes=5))
    assert not conv.answers_question(draft, now - timedelta(hours=1), now, rules)
    assert conv.answers_question(draft, now - timedelta(minutes=1), now, rules)
    assert conv.answers_question(conv.State(), now - timedelta(hours=1), now, rules)
    menu = conv.State(expires_at=now + rules.ttl)
    assert not conv.answers_question(menu, now - timedelta(hours=1), now, rules, menu=True)
