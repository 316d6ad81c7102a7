"""Jinja2 templates per locale, shipped with the package; a missing locale falls back to zh-CN."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from gateway.language.model import format_quantity

FALLBACK_LOCALE = "zh-CN"


def templates_dir() -> Path:
    return Path(str(resources.files("templates")))


def qty(value: Any) -> str:
    """The `qty` filter: a number as people write it (2, 1.5), anything else as it is."""
    if isinstance(value, (Decimal, float, int)):
        return format_quantity(Decimal(str(value)))
    return str(value)


class Templates:
    """Renders `<locale>/<name>` with `zh-CN/<name>` as the fallback."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or templates_dir()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.directory)),
            autoescape=jinja2.select_autoescape(("html", "xml", "html.j2", "xml.j2")),
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
            undefined=jinja2.StrictUndefined,
            # shipped with the package: read once, not stat()ed on every render
            auto_reload=False,
        )
        self.env.filters["qty"] = qty
        # {{ event.reason|say_reason(locale) }}, {{ order.status|say_status(locale) }}
        self.env.filters["say_reason"] = lambda text, locale: reason_text(translator(locale), text)
        self.env.filters["say_status"] = lambda status, locale: translator(locale)(f"status.{status}")

    def get(self, locale: str, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(f"{locale}/{name}")
        except jinja2.TemplateNotFound:
            return self.env.get_template(f"{FALLBACK_LOCALE}/{name}")

    def render(self, locale: str, name: str, **context: Any) -> str:
        return self.get(locale, name).render(locale=locale, **context).strip()

    def exists(self, locale: str, name: str) -> bool:
        return (self.directory / locale / name).is_file()


# UI words (templates/console/i18n/<lang>.json): the console's strings, also used to say
# stored event reasons and order statuses in operators' Telegram messages.

@cache
def strings(lang: str) -> dict[str, str]:
    """UI strings of one language (templates/console/i18n/<lang>.json); English fills gaps."""
    base = templates_dir() / "console" / "i18n"
    merged: dict[str, str] = json.loads((base / "en.json").read_text(encoding="utf-8"))
    for part in sorted(base.glob("*/en.json")):  # a feature's own strings: i18n/<part>/<lang>
        merged.update(json.loads(part.read_text(encoding="utf-8")))
    if lang != "en":
        merged.update(json.loads((base / f"{lang}.json").read_text(encoding="utf-8")))
        for part in sorted(base.glob(f"*/{lang}.json")):
            merged.update(json.loads(part.read_text(encoding="utf-8")))
    return merged


def translator(lang: str) -> Any:
    table = strings(lang)

    def t(key: str, **kw: Any) -> str:
        text = table.get(key, key)
        return text.format(**kw) if kw else text

    t.keys = table.keys()  # type: ignore[attr-defined]
    return t


def reason_text(t: Any, text: str, leader_names: Any = None) -> str:
    """A stored event reason in the console's language (gateway.orders.reasons); an
    operator's own words stay as written."""
    from gateway.orders import reasons

    names = leader_names or {}

    def say(code: str, params: Any) -> str | None:
        key = f"reason.{code}"
        if key not in strings_keys(t):
            return None
        kw = dict(params)
        if "leader" in kw:
            lid = kw["leader"]
            name = names.get(int(lid)) if str(lid).isdigit() else None
            kw["leader"] = t("reason.leader", name=name or f"#{lid}")
        return t(key, **kw)

    return reasons.render(text or "", say)


def strings_keys(t: Any) -> Any:
    return getattr(t, "keys", ())
