"""Rendering console pages: one Jinja environment, UI strings from per-language JSON files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from gateway.channels.console.auth import OPERATOR, current, sessions_of
from gateway.services import services_of
from gateway.templates import qty, templates_dir

LANGUAGES = ("zh-CN", "ko-KR", "en")
DEFAULT_LANGUAGE = "zh-CN"
LANG_COOKIE = "doorstep_console_lang"


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
    return env


def tz_of(request: web.Request) -> ZoneInfo:
    return ZoneInfo(services_of(request).settings.console_timezone)


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
