"""The pure parts of outbound calls: quiet hours, the retry setting, what counts as missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.notify.calls import Ended, QuietHours, missed, retry_delays

TZ = ZoneInfo("Asia/Shanghai")


def local(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 3, day, hh, mm, tzinfo=TZ)


@pytest.mark.parametrize(("at", "due"), [
    (local(10, 20, 59), local(10, 20, 59)),  # before: at once
    (local(10, 21, 0), local(11, 7, 0)),  # the start: the next morning
    (local(10, 23, 30), local(11, 7, 0)),
    (local(11, 3, 0), local(11, 7, 0)),  # after midnight: the same morning
    (local(11, 6, 59), local(11, 7, 0)),
    (local(11, 7, 0), local(11, 7, 0)),  # the end: at once
])
def test_quiet_hours_across_midnight_wait_for_their_end(at: datetime, due: datetime) -> None:
    quiet = QuietHours.parse("21:00-07:00", TZ)
    assert quiet.defer(at.astimezone(UTC)) == due
    assert quiet.contains(at) == (at != due)


def test_quiet_hours_within_a_day_and_none() -> None:
    lunch = QuietHours.parse("12:00-14:00", TZ)
    assert lunch.defer(local(10, 13)) == local(10, 14)
    assert lunch.defer(local(10, 15)) == local(10, 15)
    assert not QuietHours.parse("", TZ).contains(local(10, 23))
    with pytest.raises(ValueError):
        QuietHours.parse("21:00", TZ)


def test_retry_setting_gives_the_waits_between_tries() -> None:
    assert retry_delays("5,20") == (timedelta(minutes=5), timedelta(minutes=20))
    assert retry_delays("0.5") == (timedelta(seconds=30),)
    assert retry_delays("") == ()


@pytest.mark.parametrize(("ended", "ordered", "why"), [
    (Ended("no-answer"), False, "no-answer"),
    (Ended("busy"), False, "busy"),
    (Ended("canceled"), False, "canceled"),
    (Ended("completed", 3), False, "short"),
    (Ended("completed", 3), True, None),  # an order was made: nothing to call back for
    (Ended("completed", 40), False, None),
    (Ended("ringing"), False, None),
])
def test_what_asks_for_a_callback(ended: Ended, ordered: bool, why: str | None) -> None:
    assert missed(ended, short_seconds=5, ordered=ordered) == why


def test_a_machine_is_not_an_answer() -> None:
    assert Ended("completed", 20).answered
    assert not Ended("completed", 20, "machine_start").answered
    assert not Ended("no-answer").answered
