"""Login, logout and the language switch."""

from __future__ import annotations

import secrets

from aiohttp import web

from gateway.channels.console.auth import (
    LOGIN_COOKIE,
    OPERATOR,
    SESSION_COOKIE,
    check_login,
    current,
    end_sessions,
    safe_next,
    sessions_of,
)
from gateway.channels.console.render import LANG_COOKIE, LANGUAGES, render, t_for


def _login_form(request: web.Request, *, error: str = "", status: int = 200,
                username: str = "") -> web.Response:
    sessions = sessions_of(request)
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    response = render(request, "login.html", status=status, error=error, username=username,
                      login_csrf=sessions.login_token(nonce),
                      next=safe_next(request.query.get("next")))
    sessions.set_cookie(response, LOGIN_COOKIE, nonce, max_age=3600)
    return response


async def login_page(request: web.Request) -> web.Response:
    if request.get(OPERATOR) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return _login_form(request)


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")[:1024]
    t = t_for(request)
    result = await check_login(request, username, password)
    if result.locked_until is not None:
        return _login_form(request, error=t("login.locked"), status=429, username=username)
    if not result.ok:
        return _login_form(request, error=t("login.failed"), status=401, username=username)
    op = result.operator
    sessions = sessions_of(request)
    cookie, _ = sessions.issue(op.id, op.username, op.password_hash)
    response = web.HTTPSeeOther(safe_next(str(form.get("next") or "")))
    sessions.set_cookie(response, SESSION_COOKIE, cookie, max_age=sessions.max_age)
    response.del_cookie(LOGIN_COOKIE, path="/console")
    raise response


async def logout(request: web.Request) -> web.Response:
    sessions = sessions_of(request)
    await end_sessions(request, current(request))
    response = web.HTTPSeeOther("/console/login")
    sessions.clear(response)
    raise response


async def switch_language(request: web.Request) -> web.Response:
    lang = request.query.get("to", "")
    response = web.HTTPSeeOther(safe_next(request.query.get("next")))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, path="/console", max_age=365 * 86400,
                            samesite="Lax", httponly=True)
    raise response


async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/console/orders")


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console", home)
    r.add_get("/console/", home)
    r.add_get("/console/login", login_page)
    r.add_post("/console/login", login)
    r.add_post("/console/logout", logout)
    r.add_get("/console/lang", switch_language)
