"""Jinja2 templates per locale, shipped with the package; a missing locale falls back to zh-CN."""

from __future__ import annotations

from decimal import Decimal
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

    def get(self, locale: str, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(f"{locale}/{name}")
        except jinja2.TemplateNotFound:
            return self.env.get_template(f"{FALLBACK_LOCALE}/{name}")

    def render(self, locale: str, name: str, **context: Any) -> str:
        return self.get(locale, name).render(locale=locale, **context).strip()

    def exists(self, locale: str, name: str) -> bool:
        return (self.directory / locale / name).is_file()
