"""Every door is locked: Twilio signatures, the Telegram secret, the API token, the console
login, and request size limits, checked against the real app on a loopback port."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import API_TOKEN, PUBLIC_URL, TWILIO_TOKEN
from tests.security.conftest import TELEGRAM_SECRET, ThreadedGateway

FORM = {"From": "+8613800000001", "To": "+8657212345", "Body": "大米两袋",
        "MessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "0" * 32, "CallSid": "CA" + "b" * 32,
        "CallStatus": "in-progress", "Digits": "1"}


def twilio_routes(live: ThreadedGateway) -> list[tuple[str, str]]:
    return [(m, p) for m, p in live.routes if p.startswith("/twilio") and m in ("POST", "GET")]


def concrete(path: str) -> str:
    """A real URL for a route pattern such as /twilio/voice/{step}."""
    import re

    return re.sub(r"\{[^}]+\}", "x1", path)


async def _count_inbound(live: ThreadedGateway) -> int:
    from sqlalchemy import func, select

    from db.models import InboundMessage, Order
    from db.session import Database

    d = Database(live.settings.database_url)
    try:
        async with d.session() as s:
            return int((await s.execute(select(func.count()).select_from(InboundMessage)))
                       .scalar_one()) + int((await s.execute(
                           select(func.count()).select_from(Order))).scalar_one())
    finally:
        await d.dispose()


def test_the_twilio_endpoints_exist(live: ThreadedGateway) -> None:
    paths = {p for _, p in twilio_routes(live)}
    if "/twilio/sms" not in paths:
        pytest.skip("the SMS adapter has not landed")
    assert "/twilio/sms" in paths


@pytest.mark.parametrize("case", ["missing", "forged", "other-url", "tampered"])
async def test_every_twilio_endpoint_refuses_a_bad_signature(live: ThreadedGateway,
                                                            case: str) -> None:
    routes = twilio_routes(live)
    if not routes:
        pytest.skip("no Twilio adapter has landed")
    before = await _count_inbound(live)
    async with aiohttp.ClientSession() as http:
        for method, pattern in routes:
            path = concrete(pattern)
            good = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, FORM)
            headers: dict[str, str] = {
                "missing": {},
                "forged": {"X-Twilio-Signature": RequestValidator("not-the-token")
                           .compute_signature(PUBLIC_URL + path, FORM)},
                "other-url": {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN)
                              .compute_signature("https://evil.example.com" + path, FORM)},
                "tampered": {"X-Twilio-Signature": good},
            }[case]
            form = {**FORM, "Body": "大米一百袋"} if case == "tampered" else FORM
            if method == "GET":  # the media socket's upgrade
                ws_headers = {**headers, "Upgrade": "websocket", "Connection": "Upgrade",
                              "Sec-WebSocket-Version": "13",
                              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
                if case == "tampered":
                    continue  # no body to tamper with
                async with http.get(live.url + path, headers=ws_headers) as r:
                    assert r.status in (401, 403), f"GET {path} upgraded without a signature"
                continue
            async with http.post(live.url + path, data=form, headers=headers) as r:
                assert r.status == 403, f"{method} {path} answered {r.status} for {case}"
    assert await _count_inbound(live) == before, "a refused request changed the database"


async def test_a_good_signature_is_accepted(live: ThreadedGateway) -> None:
    if ("POST", "/twilio/sms") not in live.routes:
        pytest.skip("the SMS adapter has not landed")
    form = {**FORM, "MessageSid": "SM" + "c" * 32}
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/twilio/sms", form)
    async with aiohttp.ClientSession() as http, http.post(live.url + "/twilio/sms", data=form,
                         headers={"X-Twilio-Signature": sig}) as r:
        assert r.status == 200
        assert "<Response" in await r.text()


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", f"Basic {API_TOKEN}",
                                    f"Bearer {API_TOKEN}x", f"Bearer {API_TOKEN[:-1]}"])
async def test_the_api_needs_its_token(live: ThreadedGateway, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with aiohttp.ClientSession() as http:
        for path in ("/api/orders", "/api/orders/1", "/api/orders?status=confirmed"):
            async with http.get(live.url + path, headers=headers) as r:
                assert r.status == 401, path
                assert "orders" not in await r.json()


async def test_the_api_answers_with_its_token(live: ThreadedGateway) -> None:
    async with aiohttp.ClientSession() as http, http.get(live.url + "/api/orders",
                        headers={"Authorization": f"Bearer {API_TOKEN}"}) as r:
        assert r.status == 200
        assert "orders" in await r.json()


@pytest.mark.parametrize("secret", [None, "", "wrong", TELEGRAM_SECRET + "x"])
async def test_the_telegram_webhook_needs_its_secret(live: ThreadedGateway,
                                                     secret: str | None) -> None:
    if ("POST", "/telegram/webhook") not in live.routes:
        pytest.skip("the Telegram webhook is not registered")
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "/tasks",
                                          "chat": {"id": 5, "type": "private"},
                                          "from": {"id": 5, "is_bot": False, "first_name": "x"}}}
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with aiohttp.ClientSession() as http:
        async with http.post(live.url + "/telegram/webhook", json=update, headers=headers) as r:
            assert r.status in (401, 403)


def console_pages(live: ThreadedGateway) -> list[tuple[str, str]]:
    open_paths = ("/console/login", "/console/static", "/console/logout")
    return [(m, p) for m, p in live.routes if p.startswith("/console")
            and not p.startswith(open_paths) and m in ("GET", "POST")]


async def test_the_console_needs_a_login(live: ThreadedGateway) -> None:
    pages = console_pages(live)
    if not pages:
        pytest.skip("the console has not landed")
    async with aiohttp.ClientSession() as http:
        for method, pattern in pages:
            path = concrete(pattern)
            async with http.request(method, live.url + path,
                                    data={"x": "1"} if method == "POST" else None) as r:
                body = await r.text()
                landed = r.url.path
                assert landed.startswith("/console/login") or r.status in (401, 403, 404, 405), \
                    f"{method} {path}: {r.status} at {landed}"
                assert "+86138" not in body, f"{method} {path} leaked a phone number"


@pytest.mark.parametrize("target", ["https://evil.example.com/", "//evil.example.com/x",
                                    "/\\evil.example.com", "javascript:alert(1)"])
async def test_console_redirects_stay_on_the_site(live: ThreadedGateway, target: str) -> None:
    if not console_pages(live):
        pytest.skip("the console has not landed")
    async with aiohttp.ClientSession() as http:
        for path in ("/console/lang?to=en&next=", "/console/login?next="):
            async with http.get(live.url + path + target, allow_redirects=False) as r:
                location = r.headers.get("Location", "/")
                assert location.startswith("/") and not location.startswith(("//", "/\\")), \
                    f"{path}{target} redirects to {location}"


async def test_the_console_refuses_a_forged_session(live: ThreadedGateway) -> None:
    pages = [p for m, p in console_pages(live) if m == "GET" and "{" not in p]
    if not pages:
        pytest.skip("the console has not landed")
    async with aiohttp.ClientSession() as http:
        for path in pages:
            for name in ("doorstep_session", "session", "console_session", "AIOHTTP_SESSION"):
                http.cookie_jar.update_cookies({name: "1.admin.forged"})
            async with http.get(live.url + path, allow_redirects=False) as r:
                assert r.status in (302, 303, 307, 401, 403), path


@pytest.mark.parametrize("path", ["/twilio/sms", "/twilio/voice", "/telegram/webhook",
                                  "/console/login", "/api/orders"])
async def test_huge_bodies_are_refused(live: ThreadedGateway, path: str) -> None:
    """Three megabytes to any endpoint: refused before it is read, never a 500."""
    body = io.BytesIO(b"Body=" + b"A" * (3 * 1024 * 1024))
    async with aiohttp.ClientSession() as http:
        try:
            async with http.post(live.url + path, data=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded"}) as r:
                assert r.status in (401, 403, 404, 405, 413), f"{path}: {r.status}"
        except aiohttp.ClientError:
            pass  # the server may close the connection mid-upload: also a refusal
    assert not live.errors.records, live.errors.messages()  # type: ignore[attr-defined]


async def test_a_signed_but_oversized_sms_is_refused(live: ThreadedGateway) -> None:
    if ("POST", "/twilio/sms") not in live.routes:
        pytest.skip("the SMS adapter has not landed")
    form: dict[str, Any] = {**FORM, "MessageSid": "SM" + "d" * 32, "Body": "米" * 100_000}
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/twilio/sms", form)
    async with aiohttp.ClientSession() as http, http.post(live.url + "/twilio/sms", data=form,
                         headers={"X-Twilio-Signature": sig}) as r:
        assert r.status in (200, 413)
        if r.status == 200:  # answered politely, but the text was not taken whole
            assert "<Response" in await r.text()
