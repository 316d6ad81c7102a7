"""Bad input to the CLI is refused with the line and field named, and nothing is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main


@pytest.fixture
def run(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    for k in list(os.environ):
        if k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_")):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", db_url)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, ok: bool = True):  # noqa: ANN202
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result

    return invoke


def test_unknown_locale_bad_username_and_bad_number_are_refused(run) -> None:  # noqa: ANN001
    r = run("leaders", "add", "--name", "山田", "--phone", "+8613900000001", "--lat", "30.6",
            "--lon", "119.7", "--locale", "ja-JP", ok=False)
    assert "locale 'ja-JP'" in r.output
    r = run("operators", "add", "bad name!", input="a-long-password\n", ok=False)
    assert "username 'bad name!'" in r.output
    r = run("simulate", "sms", "--from", "12345", "hi", ok=False)
    assert "--from" in r.output and "12345" in r.output
    assert "山田" not in run("leaders", "list").output


def test_residents_import_reads_gbk_and_refuses_an_unclosed_quote(run, tmp_path: Path) -> None:  # noqa: ANN001
    f = tmp_path / "gbk.csv"
    f.write_bytes("phone,name,village\n+8613800000001,王奶奶,鲁家村\n".encode("gbk"))
    r = run("residents", "import", str(f))
    assert "database:" in r.output
    assert "王奶奶" in run("residents", "list").output
    bad = tmp_path / "quote.csv"
    bad.write_text('phone,name\n+8613800000002,"李爷爷\n+8613800000003,张阿姨\n', encoding="utf-8")
    r = run("residents", "import", str(bad), ok=False)
    assert "line 2" in r.output and "quote" in r.output
    assert "张阿姨" not in run("residents", "list").output


def test_leaders_import_of_a_residents_file_writes_nothing(run, tmp_path: Path) -> None:  # noqa: ANN001
    f = tmp_path / "residents.csv"
    f.write_text("phone,name,address,village,lat,lon,locale\n"
                 "+8613800000001,王奶奶,鲁家村3组,鲁家村,30.60,119.70,zh-CN\n", encoding="utf-8")
    run("residents", "import", str(f))
    r = run("leaders", "import", str(f), ok=False)
    assert "line 2, phone" in r.output and "residents file" in r.output
    assert "王奶奶" not in run("leaders", "list").output
