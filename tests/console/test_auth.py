"""Login, sessions, CSRF and lock-out of the console, on the real app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import db.people
from gateway.channels.console.passwords import hash_password
from tests.console.conftest import PASSWORD, USER, csrf_of, login, page_csrf

PAGES = ("/console/orders", "/console/orders/1", "/console/orders/rows", "/console/entry",
         "/console/residents", "/console/leaders", "/console/catalog", "/console/catalog.csv",
         "/console/demand", "/console/demand.csv", "/console/map", "/console/try",
         "/console/recordings/1", "/console/entry/lookup?phone=%2B8613800000001")
POSTS = ("/console/orders/1/items", "/console/orders/1/confirm", "/console/orders/1/reassign",
         "/console/orders/1/cancel", "/console/entry", "/console/entry/parse", "/console/residents",
         "/console/leaders", "/console/leaders/1/duty", "/console/leaders/1/invite",
         "/console/catalog", "/console/catalog/import", "/console/catalog/rice/active",
         "/console/try/sms", "/console/try/call", "/console/try/leader", "/console/try/join",
         "/console/logout")


@pytest.mark.parametrize("path", PAGES)
async def test_pages_need_login(anon: Any, path: str) -> None:
    r = await anon.get(path, allow_redirects=False)
    assert r.status == 303
    assert r.headers["Location"].startswith("/console/login?next=/console/")


async def test_json_requests_without_login_get_401(anon: Any) -> None:
    r = await anon.get("/console/entry/lookup?phone=1", headers={"Accept": "application/json"})
    assert r.status == 401


@pytest.mark.parametrize("path", POSTS)
async def test_posts_need_login(anon: Any, path: str) -> None:
    r = await anon.post(path, data={"x": "1"}, allow_redirects=False)
    assert r.status == 401


@pytest.mark.parametrize("path", POSTS)
async def test_posts_need_the_csrf_token(client: Any, path: str) -> None:
    for data in ({"x": "1"}, {"csrf": "forged"}):
        r = await client.post(path, data=data, allow_redirects=False)
        assert r.status == 403, path
        assert "CSRF" in await r.text()
    r = await client.post(path, json={"text": "x"}, headers={"X-CSRF-Token": "nope"})
    assert r.status == 403


async def test_login_needs_its_csrf_token(anon: Any) -> None:
    """The login form refuses a POST without its own token (bound to the pre-login cookie), even
    with the right password, and starts no session."""
    page = await anon.get("/console/login")
    token = csrf_of(await page.text())
    creds = {"username": USER, "password": PASSWORD, "next": "/console/orders"}
    for extra in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": token[:-2] + "xx"}):
        r = await anon.post("/console/login", data={**creds, **extra}, allow_redirects=False)
        assert r.status == 403, extra
        assert "CSRF" in await r.text()
        assert not any(c.startswith("doorstep_console=") for c in r.headers.getall("Set-Cookie", []))
    r = await anon.post("/console/login", json={**creds, "csrf": token},
                        headers={"X-CSRF-Token": "nope"}, allow_redirects=False)
    assert r.status == 403
    # Another browser's token does not fit this browser's pre-login cookie.
    anon.session.cookie_jar.clear()
    anon.session.cookie_jar.update_cookies({"doorstep_console_login": "someone-else"},
                                           response_url=page.url)
    r = await anon.post("/console/login", data={**creds, "csrf": token}, allow_redirects=False)
    assert "someone-else" in r.request_info.headers.get("Cookie", "")
    assert r.status == 403
    assert (await anon.get("/console/orders", allow_redirects=False)).status == 303
    assert (await login(anon)).status == 303  # with a fresh form's token it works


async def test_login_page_and_redirect_home(anon: Any) -> None:
    r = await anon.get("/console")
    assert r.status == 200 and "/console/login" in str(r.url)
    html = await r.text()
    assert 'for="username"' in html and 'for="password"' in html
    assert "操作员登录" in html  # Chinese by default


async def test_login_sets_a_safe_cookie_and_logout_ends_the_session(
        anon: Any) -> None:
    r = await login(anon, next_="/console/catalog")
    assert r.status == 303 and r.headers["Location"] == "/console/catalog"
    cookie = r.headers.getall("Set-Cookie")
    session = next(c for c in cookie if c.startswith("doorstep_console="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/console" in session
    assert "Secure" not in session  # the public URL is http in this test
    value = session.split(";")[0].split("=", 1)[1]
    assert (await anon.get("/console/catalog")).status == 200
    token = await page_csrf(anon)
    r = await anon.post("/console/logout", data={"csrf": token}, allow_redirects=False)
    assert r.status == 303
    assert (await anon.get("/console/orders", allow_redirects=False)).status == 303
    # The old cookie is refused too, not just forgotten by the browser.
    anon.session.cookie_jar.update_cookies({"doorstep_console": value})
    assert (await anon.get("/console/orders", allow_redirects=False)).status == 303


async def test_logout_holds_after_a_restart_and_on_other_devices(
        anon: Any, app: Any, console_settings: Any, make_app: Any,
        make_client: Callable[..., Any]) -> None:
    def session_cookie(r: Any) -> str:
        c = next(c for c in r.headers.getall("Set-Cookie") if c.startswith("doorstep_console="))
        return c.split(";")[0].split("=", 1)[1]

    laptop = session_cookie(await login(anon))
    phone_client = await make_client(make_app(console_settings))
    phone = session_cookie(await login(phone_client))
    assert (await phone_client.get("/console/orders", allow_redirects=False)).status == 200
    token = await page_csrf(anon)
    assert (await anon.post("/console/logout", data={"csrf": token},
                            allow_redirects=False)).status == 303
    # A restarted gateway (a new app, the same database and secret) refuses both old cookies.
    restarted = await make_client(make_app(console_settings))
    for value in (laptop, phone):
        restarted.session.cookie_jar.update_cookies({"doorstep_console": value})
        assert (await restarted.get("/console/orders", allow_redirects=False)).status == 303
    assert (await login(restarted)).status == 303  # and a new login works
    assert (await restarted.get("/console/orders", allow_redirects=False)).status == 200


async def test_cookie_is_secure_behind_https(demo_database: Any, make_settings: Any,
                                             make_client: Any, make_app: Any) -> None:
    app = make_app(make_settings(public_url="https://doorstep.example.org"))
    async with demo_database.session() as s:
        await db.people.add_operator(s, USER, hash_password(PASSWORD))
    c = await make_client(app)
    r = await c.get("/console/login")
    assert "Secure" in r.headers["Set-Cookie"]
    token = csrf_of(await r.text())
    # The login cookie is Secure, so the plain-http client does not send it back: refused.
    r = await c.post("/console/login", data={"username": USER, "password": PASSWORD, "csrf": token},
                     allow_redirects=False)
    assert r.status == 403


async def test_wrong_password_and_unknown_user(anon: Any) -> None:
    r = await login(anon, password="wrong password")
    assert r.status == 401 and "用户名或密码不对" in await r.text()
    r = await login(anon, username="nobody")
    assert r.status == 401


async def test_lock_out_after_repeated_failures(anon: Any, app: Any) -> None:
    for _ in range(5):
        r = await login(anon, password="wrong password")
    assert r.status == 429
    # Even the right password is refused while locked.
    r = await login(anon)
    assert r.status == 429 and "锁定" in await r.text()
    services = app[__import__("gateway.services", fromlist=["SERVICES"]).SERVICES]
    async with services.db.session() as s:  # the lock-out window ends
        from datetime import timedelta

        from sqlalchemy import update

        from db.models import LoginAttempt, utcnow
        await s.execute(update(LoginAttempt).values(window_start=utcnow() - timedelta(hours=1)))
    r = await login(anon)
    assert r.status == 303


async def test_unknown_users_are_locked_out_alike(anon: Any) -> None:
    statuses = [(await login(anon, username="nobody", password="x")).status for _ in range(6)]
    assert statuses == [401] * 4 + [429, 429]


async def test_security_headers(client: Any) -> None:
    r = await client.get("/console/orders")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    html = await r.text()
    assert " on" + "click=" not in html and "<script>" not in html


async def test_password_reset_ends_old_sessions(client: Any, app: Any) -> None:
    from gateway.services import SERVICES

    async with app[SERVICES].db.session() as s:
        await db.people.add_operator(s, USER, hash_password("another password"))
    assert (await client.get("/console/orders", allow_redirects=False)).status == 303


async def test_tampered_cookie_is_refused(client: Any) -> None:
    cookie = next(c for c in client.session.cookie_jar if c.key == "doorstep_console")
    body, sig = cookie.value.rsplit(".", 1)
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"doorstep_console": body + "." + "0" * len(sig)})
    assert (await client.get("/console/orders", allow_redirects=False)).status == 303


async def test_open_redirects_are_refused(anon: Any) -> None:
    r = await login(anon, next_="https://evil.example/")
    assert r.headers["Location"] == "/console/orders"
    r = await anon.get("/console/lang?to=en&next=//evil.example/", allow_redirects=False)
    assert r.headers["Location"] == "/console/orders"


async def test_english_switch(client: Any) -> None:
    r = await client.get("/console/lang?to=en&next=/console/catalog")
    html = await r.text()
    assert str(r.url).endswith("/console/catalog")
    assert "Catalogue" in html and "中文" in html
    r = await client.get("/console/lang?to=zh-CN&next=/console/catalog")
    assert "商品目录" in await r.text()


async def test_secret_is_generated_once_and_kept(make_settings: Any, tmp_path: Any) -> None:
    from gateway.channels.console.auth import load_secret

    settings = make_settings(data_dir=tmp_path / "d")
    first = load_secret(settings)
    assert load_secret(settings) == first and len(first) > 40
    assert oct((tmp_path / "d" / "console-secret").stat().st_mode & 0o777) == "0o600"
