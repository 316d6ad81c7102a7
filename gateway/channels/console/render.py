"""Rendering console pages: one Jinja environment, UI strings from per-language JSON files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from gateway.channels.console.auth import OPERATOR, current, sessions_of
from gateway.orders.pricing import money
from gateway.services import services_of
from gateway.templates import (  # noqa: F401  (the console's names for them)
    qty, reason_text, strings, strings_keys, templates_dir, translator,
)

LANGUAGES = ("zh-CN", "ko-KR", "en")
DEFAULT_LANGUAGE = "zh-CN"
LANG_COOKIE = "doorstep_console_lang"


def language_of(request: web.Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=jinja2.select_autoescape(("html", "svg", "xml")),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["qty"] = qty
    env.filters["money"] = lambda amount: money(amount) or "0"
    return env


def tz_of(request: web.Request) -> ZoneInfo:
    return ZoneInfo(services_of(request).settings.console_timezone)


def today_of(request: web.Request) -> date:
    """Today in the console's time zone."""
    return datetime.now(UTC).astimezone(tz_of(request)).date()


def csv_response(text: str, filename: str) -> web.Response:
    """A CSV download (UTF-8 with a BOM, so spreadsheet programs read the Chinese right)."""
    return web.Response(body=("\ufeff" + text).encode("utf-8"), content_type="text/csv",
                        charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def actor_text(t: Any, actor: str, leader_names: Any = None) -> str:
    """Who did it, in words: resident:sms, dispatcher, leader:2, operator:alice..."""
    if not actor:
        return ""
    if f"actor.{actor}" in strings_keys(t):
        return str(t(f"actor.{actor}"))
    kind, _, who = actor.partition(":")
    if f"actor.{kind}" not in strings_keys(t):
        return actor
    if kind == "leader" and who.isdigit():
        who = (leader_names or {}).get(int(who)) or f"#{who}"
    return str(t(f"actor.{kind}", name=who)) if who else str(t(f"actor.{kind}", name="")).strip()


def context(request: web.Request, **extra: Any) -> dict[str, Any]:
    lang = language_of(request)
    tz = tz_of(request)
    sess = request.get(OPERATOR)

    def local(dt: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
        if dt is None:
            return ""
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(tz).strftime(fmt)

    t = translator(lang)
    return {
        "t": t, "lang": lang,
        "say_reason": lambda text, names=None: reason_text(t, text, names),
        "say_actor": lambda actor, names=None: actor_text(t, actor, names), "languages": LANGUAGES, "local": local,
        "operator": sess, "csrf": sessions_of(request).csrf_token(sess) if sess else "",
        "path": request.rel_url.path_qs, "static": "/console/static", **extra,
    }


def render(request: web.Request, name: str, *, status: int = 200, **ctx: Any) -> web.Response:
    html = environment().get_template(f"console/{name}").render(context(request, **ctx))
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def render_fragment(request: web.Request, name: str, **ctx: Any) -> str:
    return environment().get_template(f"console/{name}").render(context(request, **ctx))


def t_for(request: web.Request) -> Any:
    return translator(language_of(request))


__all__ = ["context", "current", "language_of", "render", "render_fragment", "t_for"]
