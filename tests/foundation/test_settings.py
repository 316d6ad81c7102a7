"""Settings: defaults, vendor variable names, validation messages, disabled integrations."""

from __future__ import annotations

import pytest

from gateway.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    import os

    for k in list(os.environ):
        if k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_")):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_embedded_sqlite() -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///doorstep.db"
    assert not s.twilio_enabled and not s.telegram_enabled
    assert s.sms_rate_limit == 20 and s.draft_ttl_minutes == 120
    assert s.recording_retention_days == 30
    warnings = " ".join(s.warnings())
    assert "TWILIO_AUTH_TOKEN" in warnings and "TELEGRAM_BOT_TOKEN" in warnings


def test_vendor_names_without_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tok")
    monkeypatch.setenv("TWILIO_API_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9998")
    monkeypatch.setenv("DOORSTEP_PUBLIC_URL", "https://example.org/")
    monkeypatch.setenv("DOORSTEP_SMS_RATE_LIMIT", "0")
    s = load_settings()
    assert s.twilio_enabled and s.twilio_api_url == "http://127.0.0.1:9999"
    assert s.telegram_enabled and s.telegram_api_url == "http://127.0.0.1:9998"
    assert s.public_url == "https://example.org" and s.sms_rate_limit == 0


def test_dotenv_file_is_read(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / ".env").write_text("DOORSTEP_API_TOKEN=from-dotenv\nTWILIO_AUTH_TOKEN=t\n")
    s = load_settings()
    assert s.api_token == "from-dotenv" and s.twilio_enabled


@pytest.mark.parametrize(("var", "value", "words"), [
    ("DOORSTEP_PORT", "70000", "DOORSTEP_PORT"),
    ("DOORSTEP_PORT", "eighty", "DOORSTEP_PORT"),
    ("DOORSTEP_DATABASE_URL", "mysql://x/y", "sqlite:// or postgresql://"),
    ("DOORSTEP_PUBLIC_URL", "example.org", "http"),
    ("DOORSTEP_DEFAULT_LOCALE", "fr-FR", "zh-CN, ko-KR"),
    ("DOORSTEP_SMS_RATE_LIMIT", "-1", "DOORSTEP_SMS_RATE_LIMIT"),
    ("DOORSTEP_QUIET_HOURS", "25:00-07:00", "'25:00' is not a time of day"),
    ("DOORSTEP_QUIET_HOURS", "9pm-7am", "DOORSTEP_QUIET_HOURS"),
    ("DOORSTEP_STANDING_DEADLINE", "20:75", "'20:75' is not a time of day"),
])
def test_bad_values_have_clear_messages(monkeypatch: pytest.MonkeyPatch, var: str, value: str,
                                        words: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert words in str(err.value) and var in str(err.value)


def test_readme_table_is_generated_from_the_settings() -> None:
    """README's configuration table is `python -m gateway.cli.settings_doc`: every setting, named as
    it is set, with its default."""
    from pathlib import Path

    from gateway.settings import Settings
    from gateway.cli.settings_doc import readme_table, table

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert readme_table(readme) == table()
    for field in Settings.model_fields:
        assert f"`DOORSTEP_{field.upper()}`" in table() or field.startswith(("twilio_", "telegram_b", "telegram_api"))


def test_an_error_names_the_variable_as_it_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOORSTEP_TELEGRAM_MODE", "sometimes")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "DOORSTEP_TELEGRAM_MODE:" in str(err.value)
