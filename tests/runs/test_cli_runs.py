"""`doorstep runs` and `doorstep pickup`, run the way an operator runs them (issue 17)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.foundation.test_cli import run  # noqa: F401 - the fixture

TZ = ZoneInfo("Asia/Shanghai")


def _at(days: int, hm: str) -> str:
    day = datetime.now(TZ).date() + timedelta(days=days)
    return f"{day.isoformat()} {hm}"


def test_runs_add_list_move_cancel(run, db_url: str) -> None:  # noqa: F811
    run("leaders", "add", "--name", "冯团长", "--phone", "+8613900000004", "--lat", "30.76",
        "--lon", "119.71")
    run("residents", "add", "--phone", "+8613800000006", "--name", "赵爷爷", "--village",
        "大竹园村", "--lat", "30.7055", "--lon", "119.742")
    out = run("runs", "add", "--village", "大竹园村", "--village", "高禹村", "--at",
              _at(1, "09:00"), "--cutoff", _at(1, "07:00"), "--leader", "+8613900000004",
              "--stop", "大竹园村村口@30.7049,119.7411@09:30", "--stop", "高禹村老街@@10:15",
              "--vehicle", "浙E·1号").output
    assert out.startswith("run 1: 大竹园村, 高禹村") and "0 waiting order(s)" in out, out
    listed = run("runs", "list").output
    assert "run 1\t" in listed and " 09:00\t大竹园村,高禹村\t" in listed, listed
    assert "大竹园村村口 09:30 → 高禹村老街 10:15" in listed and "orders 0" in listed
    moved = run("runs", "move", "1", "--at", _at(2, "14:00")).output
    assert "run 1 moved" in moved
    assert "大竹园村村口 14:30 → 高禹村老街 15:15" in run("runs", "list").output
    # errors: a clear message and a non-zero exit
    bad = run("runs", "add", "--village", "X", "--at", "tomorrow", "--cutoff", _at(1, "07:00"),
              "--leader", "+8613900000004", ok=False)
    assert bad.exit_code != 0 and "is not a time like" in bad.output
    bad = run("runs", "add", "--village", "X", "--at", _at(1, "09:00"), "--cutoff",
              _at(1, "10:00"), "--leader", "+8613900000004", ok=False)
    assert bad.exit_code == 1 and "cut-off must not be after the departure" in bad.output
    bad = run("runs", "add", "--village", "X", "--at", _at(1, "09:00"), "--cutoff",
              _at(1, "07:00"), "--leader", "+860000", ok=False)
    assert "no leader with phone" in bad.output
    assert "run 1 cancelled" in run("runs", "cancel", "1").output
    assert "no runs scheduled" in run("runs", "list").output
    assert "cancelled" in run("runs", "list", "--all").output


def test_pickup_add_assign_and_slots(run, db_url: str) -> None:  # noqa: F811
    run("residents", "add", "--phone", "+8613800000005", "--name", "刘奶奶", "--village",
        "横山坞村")
    out = run("pickup", "add", "--name", "东门供销社", "--village", "递铺镇", "--place",
              "昌硕广场东门", "--hours", "08:00-12:00", "--capacity", "4", "--prefix", "a",
              "--serves", "横山坞村").output
    assert "added pickup point 东门供销社: 08:00-12:00, 30 min slots of 4; serves 横山坞村" in out
    assert out.strip().splitlines()[-1].startswith("https://t.me/")
    assert "A-n\tserves: 横山坞村" in run("pickup", "list").output
    assert "collects at 东门供销社" in run("pickup", "assign", "--point", "东门供销社",
                                           "--phone", "+8613800000005").output
    assert "door delivery" in run("pickup", "assign", "--village", "横山坞村").output
    bad = run("pickup", "add", "--name", "X", "--village", "Y", "--hours", "18:00-08:00",
              ok=False)
    assert bad.exit_code == 1 and "opening must be before closing" in bad.output
    assert "no pickups at 东门供销社" in run("pickup", "slots", "--point", "东门供销社").output

