"""Structured (JSON) logs that never carry secrets and mask phone numbers."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Iterable

# A "+" starts a number anywhere (even after "\u662f" in escaped JSON); without one, not
# inside a longer ASCII word or number. CJK text may touch the number ("电话是+86…").
PHONE = re.compile(r"(?:\+|(?<![0-9A-Za-z_+]))(\d{2,4})(\d{3,9})(\d{4})(?!\d)")
BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
SECRET_PARAM = re.compile(r"(?i)(token|secret|password|auth|signature|bot)([=:/ ]+)([^\s&\"',]{6,})")


def mask_phone(text: str) -> str:
    """`+8613800000001` → `+86138****0001`-style: keep the country/area prefix and the last four."""
    def repl(m: re.Match[str]) -> str:
        lead = m.group(0)[0] if m.group(0)[0] == "+" else ""
        return f"{lead}{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}"
    return PHONE.sub(repl, text)


class Redactor(logging.Filter):
    """Masks phone numbers and removes known secret values from every record."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "[secret]")
        text = BOT_TOKEN.sub("[secret]", text)
        text = SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}[secret]", text)
        return mask_phone(text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.clean(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_text:
            data["exc"] = record.exc_text
        for key in ("channel", "order_id", "call_sid", "event"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        return json.dumps(data, ensure_ascii=False)


def configure(level: str = "INFO", *, json_format: bool = True,
              secrets: Iterable[str | None] = ()) -> None:
    """Route all logging to stderr, JSON per line, redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Redactor(secrets))
    handler.setFormatter(JsonFormatter() if json_format else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
