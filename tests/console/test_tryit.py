"""The try-it page: signed SMS and calls to the webhooks, and leaders' buttons via the dispatcher."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import re
import struct
import wave
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from twilio.request_validator import RequestValidator

import db.console
import db.orders
import db.people
import db.tasks
from gateway.app import PARTS
from gateway.channels.console.simcall import wav_to_mulaw
from voice.audio import ulaw_encode
from gateway.services import SERVICES
from tests.conftest import TWILIO_TOKEN
from tests.console.conftest import add_operator, login, page_csrf
from tests.console import fake_twilio
from tests.console.fake_twilio import RECEIVED

FAKE = (*(p for p in PARTS if p not in ("sms", "voice", "media")), fake_twilio.setup)


BUTTON = re.compile(r'name="action" value="(\w+)"[^>]*>([^<]+)</button>')


def buttons_of(html: str) -> list[tuple[str, str]]:
    """The leader's buttons on the try-it page, as (action, label)."""
    return BUTTON.findall(html)


async def try_sms_as_a_resident(client: Any, app: Any, body: str = "两袋大米") -> str:
    """Text `body` from the first resident on the try-it page; the page (asserted 200)."""
    async with app[SERVICES].db.session() as s:
        resident = (await db.people.list_residents(s))[0]
    token = await page_csrf(client, "/console/try")
    r = await client.post("/console/try/sms", data={"csrf": token, "phone": resident.phone,
                                                    "body": body})
    html = await r.text()
    assert r.status == 200, html
    return html


def routes_of(app: Any) -> set[str]:
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


@pytest.fixture
def demo_settings(make_settings: Any) -> Any:
    """`serve --demo` on the embedded default: no Twilio account configured at all."""
    plain = make_settings(public_url="http://127.0.0.1:8080", console_secret="test-console-secret",
                          twilio_auth_token=None, twilio_account_sid=None)
    settings, warning = plain.for_demo()
    assert warning
    return settings


def _wav(seconds: float = 0.5, rate: int = 16000, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 10))) * channels
                               for i in range(n)))
    return buf.getvalue()


@pytest.fixture
async def fake_client(demo_database: Any, console_settings: Any, make_client: Any,
                      make_app: Any, monkeypatch: Any) -> Any:
    from gateway.channels.console import tryit

    # The stand-in webhooks speak only <Connect><Stream>: use the console's own small caller.
    monkeypatch.setattr(tryit, "real_simulator", lambda: None)
    await add_operator(demo_database)
    app = make_app(console_settings, parts=FAKE)
    c = await make_client(app)
    assert (await login(c)).status == 303
    return c


def test_mulaw_encoding() -> None:
    def _ulaw(sample: int) -> int:
        return ulaw_encode(struct.pack("<h", sample))[0]

    assert _ulaw(0) == 0xFF and _ulaw(-1) == 0x7F
    assert _ulaw(32767) == 0x80 and _ulaw(-32768) == 0x00
    audio = wav_to_mulaw(_wav(0.5, 16000, 2))
    assert len(audio) == 4000  # half a second at 8 kHz, stereo folded to mono


async def test_sms_is_signed_and_the_reply_shown(fake_client: Any) -> None:
    token = await page_csrf(fake_client, "/console/try")
    r = await fake_client.post("/console/try/sms", data={"csrf": token, "phone": "+8613800000001",
                                                         "body": "两袋大米"})
    html = await r.text()
    assert r.status == 200 and "收到：两袋大米" in html
    got = fake_client.server.app[RECEIVED]["sms"][0]
    assert got["From"] == "+8613800000001" and got["Body"] == "两袋大米"
    assert got["MessageSid"].startswith("SM")


async def test_call_streams_the_wav_and_the_keys(fake_client: Any) -> None:
    token = await page_csrf(fake_client, "/console/try")
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("phone", "+8613800000001")
    form.add_field("digits", "1#")
    form.add_field("audio", _wav(0.4), filename="order.wav", content_type="audio/wav")
    r = await fake_client.post("/console/try/call", data=form)
    html = await r.text()
    assert r.status == 200, html
    got = fake_client.server.app[RECEIVED]
    assert got["voice"][0]["From"] == "+8613800000001"
    media = got["media"]
    assert media["events"][:2] == ["connected", "start"] and media["events"][-1] == "stop"
    assert media["start"]["customParameters"] == {"from": "+8613800000001"}
    assert media["digits"] == "1#"
    assert media["audio"] >= 3200 + 8000  # the speech, then a second of silence
    assert "您好" in html and "0.1" in html  # what was said, and the audio that came back


async def test_bad_inputs_to_the_call(fake_client: Any) -> None:
    token = await page_csrf(fake_client, "/console/try")
    r = await fake_client.post("/console/try/call", data={"csrf": token,
                                                          "phone": "+8613800000001"})
    assert r.status == 409 and "WAV" in await r.text()
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("phone", "+8613800000001")
    form.add_field("audio", b"not a wav", filename="x.wav", content_type="audio/wav")
    r = await fake_client.post("/console/try/call", data=form)
    assert r.status == 409 and "PCM WAV" in await r.text()


async def test_a_rejected_signature_is_reported_not_crashed(fake_client: Any,
                                                             monkeypatch: Any) -> None:
    from gateway.channels.console import simcall

    monkeypatch.setattr(simcall, "_signed", lambda *a: {"X-Twilio-Signature": "forged"})
    token = await page_csrf(fake_client, "/console/try")
    r = await fake_client.post("/console/try/sms", data={"csrf": token,
                                                         "phone": "+8613800000001", "body": "x"})
    assert r.status == 409 and "签名" in await r.text()
    assert "sms" not in fake_client.server.app[RECEIVED]


async def test_missing_webhooks_give_a_clear_notice(demo_database: Any, console_settings: Any,
                                                    make_client: Any, make_app: Any) -> None:
    await add_operator(demo_database)
    modules = tuple(m for m in PARTS if m not in ("sms",
                                                    "voice",
                                                    "media",
                                                    "dispatch"))
    c = await make_client(make_app(console_settings, parts=modules))
    await login(c)
    html = await (await c.get("/console/try")).text()
    assert "短信接口（/twilio/sms）还没有装好" in html and "派单模块还没有装好" in html
    token = await page_csrf(c, "/console/try")
    r = await c.post("/console/try/sms", data={"csrf": token, "phone": "+8613800000001",
                                               "body": "两袋大米"})
    assert r.status == 409 and "还没有装好" in await r.text()
    r = await c.post("/console/try/leader", data={"csrf": token, "leader": "1", "task": "1",
                                                  "action": "accept"})
    assert r.status == 409


async def test_real_sms_webhook_if_present(client: Any, app: Any) -> None:
    if not any(r.resource is not None and r.resource.canonical == "/twilio/sms"
               for r in app.router.routes()):
        pytest.skip("the SMS webhook (gateway.channels.twilio.sms) is not in this build")
    html = await try_sms_as_a_resident(client, app)
    assert "bubble in" in html and "两袋大米" in html  # stored as received, shown on the phone


async def test_leader_buttons_go_through_the_dispatcher(client: Any, app: Any) -> None:
    services = app[SERVICES]
    if services.dispatcher is None:
        pytest.skip("the dispatcher (gateway.dispatch.dispatcher) is not in this build")
    async with services.db.session() as s:
        resident = (await db.people.list_residents(s))[0]
        leader = (await db.people.list_leaders(s))[0]
        o = await db.orders.create(s, channel="sms", phone=resident.phone, status="confirmed",
                                   actor="resident", resident_id=resident.id,
                                   items=[{"sku": "rice", "name": "大米", "quantity": 1,
                                           "unit": "袋"}])
        oid = o.id
    # An operator hands it to the leader; the dispatcher's listener creates the offer.
    token = await page_csrf(client, f"/console/orders/{oid}")
    await client.post(f"/console/orders/{oid}/reassign",
                      data={"csrf": token, "leader": str(leader.id)})
    html = await (await client.get(f"/console/try?leader={leader.id}")).text()
    assert f"#{oid}" in html
    # The same buttons as the Telegram card, with the bot's labels (telegram/label_*.j2).
    assert buttons_of(html) == [("accept", "接单"), ("decline", "无法完成")]
    async with services.db.session() as s:
        task = (await db.tasks.open_tasks_of_order(s, oid))[0]
    after = {"accepted": [("bought", "已买到"), ("delivered", "已送达"), ("decline", "无法完成")],
             "purchased": [("delivered", "已送达"), ("decline", "无法完成")],  # no "bought" again
             "delivered": []}
    for action, status in (("accept", "accepted"), ("bought", "purchased"),
                           ("delivered", "delivered")):
        r = await client.post("/console/try/leader", data={
            "csrf": token, "leader": str(leader.id), "task": str(task.id), "action": action})
        assert r.status == 200
        async with services.db.session() as s:
            assert (await db.orders.get(s, oid)).status == status
        assert buttons_of(await r.text()) == after[status], status
    r = await client.post("/console/try/leader", data={"csrf": token, "leader": str(leader.id),
                                                       "task": str(task.id), "action": "bogus"})
    assert r.status == 400


async def test_the_whole_flow_on_the_embedded_default(demo_database: Any, demo_settings: Any,
                                                      make_client: Any, make_app: Any) -> None:
    """SMS order, confirm with 1, the dispatcher offers it, the leader accepts: all from the page,
    with the settings of `doorstep serve --demo` and no Twilio account."""
    await add_operator(demo_database)
    app = make_app(demo_settings, workers=True)
    services = app[SERVICES]
    routes = routes_of(app)
    if "/twilio/sms" not in routes or services.dispatcher is None:
        pytest.skip("needs the SMS webhook and the dispatcher in this build")
    c = await make_client(app)
    await login(c)
    async with services.db.session() as s:
        resident = (await db.people.list_residents(s))[0]
        leaders = await db.people.list_leaders(s)
    token = await page_csrf(c, "/console/try")
    html = await (await c.get(f"/console/try?leader={leaders[0].id}")).text()
    assert "还没在 Telegram 上加入" in html
    assert "没有设置 TWILIO_AUTH_TOKEN" not in html  # the try-it SMS and call are offered
    for ld in leaders:  # the leaders join with simulated accounts, via their invite codes
        r = await c.post("/console/try/join", data={"csrf": token, "leader": str(ld.id)})
        assert r.status == 200
    r = await c.post("/console/try/join", data={"csrf": token, "leader": str(leaders[0].id)})
    assert r.status == 409  # each invite works once
    for body in ("两袋大米", "1"):
        r = await c.post("/console/try/sms", data={"csrf": token, "phone": resident.phone,
                                                   "body": body})
        assert r.status == 200, await r.text()
    html = await r.text()
    assert html.count("bubble in") == 2 and html.count("bubble out") >= 2
    order = None
    for _ in range(100):
        async with services.db.session() as s:
            orders, _ = await db.console.list_orders(
                s, db.console.OrderFilter(phone=resident.phone))
            if orders and orders[0].status == "assigned":
                order = orders[0]
                break
        await asyncio.sleep(0.1)
    assert order is not None and order.leader_id is not None, \
        [(o.status, [e.reason for e in o.events]) for o in orders]
    html = await (await c.get(f"/console/try?leader={order.leader_id}")).text()
    assert f"#{order.id}" in html and ("accept", "接单") in buttons_of(html)
    async with services.db.session() as s:
        task = (await db.tasks.open_tasks_of_order(s, order.id))[0]
    r = await c.post("/console/try/leader", data={"csrf": token, "leader": str(order.leader_id),
                                                  "task": str(task.id), "action": "accept"})
    assert r.status == 200
    assert ("bought", "已买到") in buttons_of(await r.text())
    async with services.db.session() as s:
        assert (await db.orders.get(s, order.id)).status == "accepted"


async def test_a_call_through_the_real_voice_webhooks(client: Any, app: Any) -> None:
    from gateway.channels.console.tryit import real_simulator

    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    if "/twilio/voice" not in routes or real_simulator() is None:
        pytest.skip("the voice webhooks are not in this build")
    token = await page_csrf(client, "/console/try")
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("phone", "+8613800000001")
    form.add_field("digits", "1")
    form.add_field("audio", _wav(0.6), filename="order.wav", content_type="audio/wav")
    r = await client.post("/console/try/call", data=form)
    html = await r.text()
    assert r.status == 200, html
    assert 'class="call-log"' in html and "bubble out" in html  # the greeting was heard


def test_leader_buttons_follow_the_telegram_card() -> None:
    """Rows, actions and labels as the bot's card, in the leader's locale."""
    from gateway.channels.console.tryit import leader_buttons
    from gateway.templates import Templates

    services = SimpleNamespace(templates=Templates(), settings=None)
    leader = SimpleNamespace(locale="ko-KR")
    offered = SimpleNamespace(id=7, status="offered")
    accepted = SimpleNamespace(id=7, status="accepted")
    assert leader_buttons(services, leader, offered, SimpleNamespace(status="assigned")) == \
        [[("accept", "수락"), ("decline", "할 수 없음")]]
    assert leader_buttons(services, leader, accepted, SimpleNamespace(status="accepted")) == \
        [[("bought", "구매 완료"), ("delivered", "배달 완료")], [("decline", "할 수 없음")]]
    assert leader_buttons(services, leader, accepted, SimpleNamespace(status="purchased")) == \
        [[("delivered", "배달 완료")], [("decline", "할 수 없음")]]


def _sms_params(phone: str = "+8613800000001", body: str = "两袋大米") -> dict[str, str]:
    return {"MessageSid": "SM" + "1" * 32, "AccountSid": "AC" + "1" * 32, "From": phone,
            "To": "+10000000000", "Body": body, "NumMedia": "0"}


async def test_demo_mode_signs_the_twilio_endpoints_without_a_token(
        demo_database: Any, make_settings: Any, demo_settings: Any, make_client: Any,
        make_app: Any) -> None:
    """No TWILIO_AUTH_TOKEN: without --demo the endpoints are off; with it they run with a random
    per-process token, refuse unsigned and forged requests, and the try-it SMS gets through."""
    plain = make_settings(twilio_auth_token=None, twilio_account_sid=None)
    assert not plain.twilio_enabled
    assert "/twilio/sms" not in routes_of(make_app(plain))
    configured = make_settings()
    assert configured.for_demo() == (configured, "")  # a configured token is kept as it is
    again, warning = plain.for_demo()
    assert demo_settings.twilio_enabled and demo_settings.twilio_account_sid is None
    assert len(demo_settings.twilio_auth_token) >= 32
    assert again.twilio_auth_token != demo_settings.twilio_auth_token  # random each time
    assert demo_settings.twilio_auth_token not in warning
    assert plain.twilio_auth_token is None  # the original settings are not changed

    await add_operator(demo_database)
    app = make_app(demo_settings)
    if "/twilio/sms" not in routes_of(app):
        pytest.skip("the SMS webhook (gateway.channels.twilio.sms) is not in this build")
    c = await make_client(app)
    url = demo_settings.public_url + "/twilio/sms"
    params = _sms_params()
    for headers in ({}, {"X-Twilio-Signature": "forged"},
                    {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(
                        url, params)}):
        r = await c.post("/twilio/sms", data=params, headers=headers)
        assert r.status == 403, headers
    if "/twilio/voice" in routes_of(app):
        r = await c.post("/twilio/voice", data={"CallSid": "CA" + "1" * 32,
                                                "From": "+8613800000001"})
        assert r.status == 403
    async with app[SERVICES].db.session() as s:
        assert not await db.console.inbound_from(s, "+8613800000001")  # nothing was stored

    assert (await login(c)).status == 303
    html = await (await c.get("/console/try")).text()
    assert "没有设置 TWILIO_AUTH_TOKEN" not in html
    html = await try_sms_as_a_resident(c, app)
    assert "bubble in" in html and "两袋大米" in html and "bubble out" in html


def test_serve_demo_generates_the_token_and_says_so(monkeypatch: Any, tmp_path: Any,
                                                    caplog: Any) -> None:
    """`doorstep serve --demo` and `doorstep demo` build the app with a generated token and log
    one warning; plain `serve` leaves the Twilio endpoints disabled."""
    import aiohttp.web

    import gateway.app
    import gateway.cli
    import gateway.cli.serve
    import gateway.observe.logs

    for k in list(__import__("os").environ):
        if k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_")):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)  # no .env file
    built: list[Any] = []
    monkeypatch.setattr(gateway.cli.serve, "migrate", lambda settings: None)
    monkeypatch.setattr(gateway.cli.serve, "_load_demo", lambda settings: None)
    monkeypatch.setattr(gateway.cli.serve, "bind", lambda host, port: __import__("socket").socket())
    monkeypatch.setattr(gateway.observe.logs, "configure", lambda *a, **kw: None)
    monkeypatch.setattr(gateway.app, "create_app", lambda settings: built.append(settings))
    monkeypatch.setattr(aiohttp.web, "run_app", lambda app, **kw: None)
    runner = CliRunner()
    caplog.set_level(logging.WARNING, logger="gateway.cli.serve")
    for args in (["serve", "--demo"], ["demo"]):
        caplog.clear()
        result = runner.invoke(gateway.cli.main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert built[-1].twilio_enabled, args
        lines = [r.getMessage() for r in caplog.records if r.name == "gateway.cli.serve"]
        assert len(lines) == 1 and "random per-process token" in lines[0]
        assert built[-1].twilio_auth_token not in lines[0]
    caplog.clear()
    result = runner.invoke(gateway.cli.main, ["serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not built[-1].twilio_enabled and not caplog.records


async def test_a_korean_console_plays_a_korean_resident_and_leader(
        fake_client: Any, demo_database: Any) -> None:
    from gateway.orders.demo import load_demo_locales

    await load_demo_locales(demo_database, "zh-CN", ["ko-KR"])
    async with demo_database.session() as s:
        kim = next(r for r in await db.people.list_residents(s) if r.locale == "ko-KR")
        leaders = await db.people.list_leaders(s)
    html = await (await fake_client.get("/console/try")).text()
    selected = re.findall(r'<option value="([^"]+)" selected', html)
    assert selected and selected[0] != kim.phone  # the Chinese console: a Chinese resident
    await fake_client.get("/console/lang?to=ko-KR&next=/console/try")
    html = await (await fake_client.get("/console/try")).text()
    selected = re.findall(r'<option value="([^"]+)" selected', html)
    ko_leaders = {str(ld.id) for ld in leaders if ld.locale == "ko-KR"}
    assert selected[0] == kim.phone and selected[1] in ko_leaders, selected
