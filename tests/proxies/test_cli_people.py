"""Issue 20 on the command line, run the way an operator runs it: `residents add --notify`,
`residents proxy add|list`, `standing add|list|pause|resume|stop`."""

from __future__ import annotations

from pathlib import Path

from tests.foundation.test_cli import run  # noqa: F401 - the fixture


def _catalog(run, tmp_path: Path) -> None:  # noqa: F811
    f = tmp_path / "cat.csv"
    f.write_text("sku,name,aliases,unit,units,price,category\n"
                 "rice,大米,米,袋,袋|斤,45,粮油\neggs,鸡蛋,蛋,板,板|个,28,蛋\n", encoding="utf-8")
    run("catalog", "import", str(f))


def test_residents_proxy_add_and_list(run) -> None:  # noqa: F811
    out = run("residents", "add", "--phone", "+8613800000001", "--name", "王奶奶", "--notify",
              "both").output
    assert "added resident" in out
    run("residents", "add", "--phone", "+8613800000005", "--name", "刘奶奶")
    out = run("residents", "proxy", "add", "--resident", "+86 138 0000 0001", "--phone",
              "+8613912345678", "--name", "王小明", "--relation", "妈妈").output
    assert out.strip() == "added proxy 王小明 +8613912345678 for 王奶奶 +8613800000001 (妈妈)"
    run("residents", "proxy", "add", "--resident", "+8613800000005", "--phone",
        "+8613912345678", "--name", "王小明", "--relation", "外婆", "--notify", "call")
    again = run("residents", "proxy", "add", "--resident", "+8613800000001", "--phone",
                "+8613912345678", "--name", "王小明", "--relation", "老妈").output
    assert again.startswith("updated proxy")
    listed = run("residents", "proxy", "list").output.strip().splitlines()
    assert listed == ["+8613800000001\t王奶奶\t<- +8613912345678\t王小明\t老妈\tnotify sms",
                      "+8613800000005\t刘奶奶\t<- +8613912345678\t王小明\t外婆\tnotify call"]
    only = run("residents", "proxy", "list", "--resident", "+8613800000005").output
    assert "刘奶奶" in only and "王奶奶" not in only
    # clear errors, non-zero exit
    bad = run("residents", "proxy", "add", "--resident", "+8613800000009", "--phone",
              "+8613912345678", "--name", "X", ok=False)
    assert bad.exit_code == 1 and "no resident with phone" in bad.output
    bad = run("residents", "proxy", "add", "--resident", "+8613800000001", "--phone",
              "+8613800000001", "--name", "X", ok=False)
    assert bad.exit_code == 1 and "themselves" in bad.output
    bad = run("residents", "proxy", "add", "--resident", "+8613800000001", "--phone", "12",
              "--name", "X", ok=False)
    assert bad.exit_code == 1 and "not an international number" in bad.output
    # remove: that pair only; the grandson still orders for 刘奶奶
    out = run("residents", "proxy", "remove", "--resident", "+8613800000001", "--phone",
              "+86 139 1234 5678").output
    assert out.strip() == "removed proxy 王小明 +8613912345678 for 王奶奶 +8613800000001"
    listed = run("residents", "proxy", "list").output.strip().splitlines()
    assert listed == ["+8613800000005\t刘奶奶\t<- +8613912345678\t王小明\t外婆\tnotify call"]
    bad = run("residents", "proxy", "remove", "--resident", "+8613800000001", "--phone",
              "+8613912345678", ok=False)
    assert bad.exit_code == 1 and "is not a proxy of" in bad.output


def test_standing_add_list_pause_resume_stop(run, tmp_path: Path) -> None:  # noqa: F811
    _catalog(run, tmp_path)
    run("residents", "add", "--phone", "+8613800000001", "--name", "王奶奶")
    run("residents", "proxy", "add", "--resident", "+8613800000001", "--phone",
        "+8613912345678", "--name", "王小明", "--relation", "妈妈")
    out = run("standing", "add", "--phone", "+8613800000001", "--text", "大米两袋，鸡蛋一板",
              "--every", "tue").output.strip()
    assert out.startswith("added standing order 1: 王奶奶 +8613800000001, every Tue from "), out
    assert out.endswith(": 大米 2袋, 鸡蛋 1板; unanswered: skip"), out
    out = run("standing", "add", "--phone", "+8613800000001", "--text", "鸡蛋两板", "--every",
              "fri", "--weeks", "2", "--unconfirmed", "confirm", "--proxy",
              "+8613912345678").output
    assert "every 2 weeks on Fri" in out and "asks 王小明 +8613912345678" in out, out
    listed = run("standing", "list").output.strip().splitlines()
    assert len(listed) == 2 and listed[0].startswith("1\tactive\t+8613800000001\t王奶奶\t"
                                                     "every Tue\tnext 20"), listed
    assert listed[1].endswith("unanswered: confirm\tasks +8613912345678"), listed
    assert run("standing", "pause", "1").output.strip() == "standing order 1 paused"
    assert run("standing", "pause", "1").output.strip() == "standing order 1 paused (already)"
    assert "1\tpaused\t" in run("standing", "list").output
    assert run("standing", "resume", "1").output.strip() == "standing order 1 resumed"
    assert run("standing", "stop", "2").output.strip() == "standing order 2 stopped"
    assert "2\tstopped" not in run("standing", "list").output
    assert "2\tstopped" in run("standing", "list", "--all").output
    bad = run("standing", "resume", "2", ok=False)
    assert bad.exit_code == 1 and "stopped for good" in bad.output
    bad = run("standing", "add", "--phone", "+8613800000001", "--text", "火箭一枚", "--every",
              "mon", ok=False)
    assert bad.exit_code == 1 and "is in the catalogue" in bad.output
    bad = run("standing", "add", "--phone", "+8613800000001", "--text", "大米", "--every",
              "someday", ok=False)
    assert bad.exit_code == 1 and "--every 'someday'" in bad.output
    bad = run("standing", "add", "--phone", "+8613800000002", "--text", "大米", "--every",
              "mon", ok=False)
    assert "no resident with phone" in bad.output
    bad = run("standing", "pause", "9", ok=False)
    assert bad.exit_code == 1 and "no standing order 9" in bad.output


def test_the_residents_choice_for_unanswered_weeks(run, tmp_path: Path) -> None:  # noqa: F811
    _catalog(run, tmp_path)
    run("residents", "add", "--phone", "+8613800000001", "--name", "王奶奶")
    run("standing", "add", "--phone", "+8613800000001", "--text", "大米两袋", "--every", "tue")
    # applied to the one they have, and the default for new ones
    run("residents", "add", "--phone", "+8613800000001", "--name", "王奶奶",
        "--standing-unconfirmed", "confirm")
    assert "unanswered: confirm" in run("standing", "list").output
    out = run("standing", "add", "--phone", "+8613800000001", "--text", "鸡蛋一板",
              "--every", "wed").output
    assert out.strip().endswith("unanswered: confirm"), out
    out = run("standing", "add", "--phone", "+8613800000001", "--text", "鸡蛋一板",
              "--every", "fri", "--unconfirmed", "skip").output
    assert out.strip().endswith("unanswered: skip"), out  # given: as given
