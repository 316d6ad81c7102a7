"""Hypothesis against every webhook and the media socket of the real app: whatever arrives,
signed or not, the gateway answers without a server error and keeps serving."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.conftest import API_TOKEN, PUBLIC_URL, TWILIO_TOKEN
from tests.security.conftest import TELEGRAM_SECRET, ThreadedGateway
from tests.security.test_auth import concrete

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

TWILIO_FIELDS = ["From", "To", "Body", "MessageSid", "SmsSid", "AccountSid", "NumMedia",
                 "CallSid", "CallStatus", "Digits", "RecordingUrl", "RecordingSid",
                 "RecordingDuration", "SpeechResult", "Direction", "FromCountry"]
nasty_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", " ", "1", "0", "#", "大米两袋", "쌀 두 포대", "<Say>x</Say>", "]]>",
                     "'; DROP TABLE orders;--", "\x00\x01\x1b[31m", "\u202e", "%s%n",
                     "+8613800000001", "米" * 2000, "{{ 7*7 }}", "http://127.0.0.1:9/x.wav",
                     "-1", "1e309", "NaN"]),
)
twilio_form = st.dictionaries(st.one_of(st.sampled_from(TWILIO_FIELDS), st.text(max_size=20)),
                              nasty_text, max_size=12)


def _post_signed(live: ThreadedGateway, path: str, form: dict[str, str]) -> requests.Response:
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, form)
    return requests.post(live.url + path, data={k.encode("utf-8", "surrogatepass"):
                                                v.encode("utf-8", "surrogatepass")
                                                for k, v in form.items()},
                         headers={"X-Twilio-Signature": sig}, timeout=30)


# aiohttp answers these with 400 and logs them at error level: not handler failures.
PROTOCOL_400 = ("LineTooLong", "BadHttpMessage", "BadStatusLine", "InvalidURLError")


def _no_errors(live: ThreadedGateway, ignore: tuple[str, ...] = ()) -> None:
    """No handler raised (aiohttp logs each unhandled exception as an ERROR)."""
    errors = live.errors  # type: ignore[attr-defined]
    found = [m for r, m in zip(errors.records, errors.messages()) if not r.name.startswith(ignore)
             and not any(x in m for x in PROTOCOL_400)]
    errors.records.clear()
    assert not found, found[:3]


def _post_routes(live: ThreadedGateway) -> list[str]:
    return [concrete(p) for m, p in live.routes if m == "POST" and p.startswith("/twilio")]


def _encodable(form: dict[str, str]) -> bool:
    try:
        for k, v in form.items():
            k.encode("utf-8")
            v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_signed_twilio_webhooks_never_fail(live: ThreadedGateway) -> None:
    paths = _post_routes(live)
    if not paths:
        pytest.skip("no Twilio adapter has landed")

    @FUZZ
    @given(path=st.sampled_from(paths), form=twilio_form)
    def check(path: str, form: dict[str, str]) -> None:
        if not _encodable(form):
            return
        r = _post_signed(live, path, form)
        assert r.status_code < 500, (path, form, r.status_code, r.text[:300])
        if r.status_code == 200 and r.headers.get("Content-Type", "").startswith(
                ("application/xml", "text/xml")):
            ET.fromstring(r.content)  # always well-formed TwiML

    check()
    _no_errors(live)


def test_unsigned_garbage_is_refused(live: ThreadedGateway) -> None:
    paths = _post_routes(live) + ["/telegram/webhook", "/api/orders", "/console/login"]

    @FUZZ
    @given(path=st.sampled_from(paths), body=st.binary(max_size=2000),
           ctype=st.sampled_from(["application/x-www-form-urlencoded", "application/json",
                                  "multipart/form-data; boundary=x", "text/plain", ""]))
    def check(path: str, body: bytes, ctype: str) -> None:
        r = requests.post(live.url + path, data=body,
                          headers={"Content-Type": ctype} if ctype else {}, timeout=30)
        assert r.status_code < 500, (path, body[:100], r.status_code)
        if path.startswith("/twilio"):
            assert r.status_code in (400, 403, 413), (path, r.status_code)

    check()
    _no_errors(live)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10),
                                                                      children, max_size=4),
    max_leaves=20)


def test_telegram_updates_with_the_secret_never_fail(live: ThreadedGateway) -> None:
    if ("POST", "/telegram/webhook") not in live.routes:
        pytest.skip("the Telegram webhook is not registered")
    update_id = iter(range(10_000, 10_000_000))
    message = st.fixed_dictionaries({
        "message_id": st.integers(1, 2**31), "date": st.integers(0, 2**31),
        "chat": st.fixed_dictionaries({"id": st.integers(-2**40, 2**40),
                                       "type": st.sampled_from(["private", "group"])}),
        "from": st.fixed_dictionaries({"id": st.integers(1, 2**40), "is_bot": st.booleans(),
                                       "first_name": st.text(max_size=10)}),
        "text": nasty_text})
    callback = st.fixed_dictionaries({
        "id": st.text(min_size=1, max_size=10), "chat_instance": st.just("1"),
        "from": st.fixed_dictionaries({"id": st.integers(1, 2**40), "is_bot": st.just(False),
                                       "first_name": st.just("x")}),
        "data": nasty_text})
    update = st.one_of(st.fixed_dictionaries({"message": message}),
                       st.fixed_dictionaries({"callback_query": callback}),
                       st.dictionaries(st.text(max_size=10), json_values, max_size=5))

    @FUZZ
    @given(update=update)
    def check(update: dict[str, Any]) -> None:
        body = {"update_id": next(update_id), **update}
        r = requests.post(live.url + "/telegram/webhook", json=body, timeout=30,
                          headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        assert r.status_code < 500, (body, r.status_code, r.text[:300])

    check()
    # aiogram logs updates of an unknown type as errors of its own (and leaves the task's
    # exception unretrieved) after the webhook answered; the process goes on.
    time.sleep(0.5)
    gc.collect()
    _no_errors(live, ignore=("aiogram.event", "asyncio"))


def test_api_query_parameters_never_fail(live: ThreadedGateway) -> None:
    @FUZZ
    @given(params=st.dictionaries(st.sampled_from(["status", "phone", "limit", "offset", "x"]),
                                  nasty_text, max_size=4),
           order_id=st.one_of(st.integers(-10, 2**40).map(str), nasty_text))
    def check(params: dict[str, str], order_id: str) -> None:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        r = requests.get(live.url + "/api/orders", params=params, headers=headers, timeout=30)
        assert r.status_code in (200, 400), (params, r.status_code, r.text[:200])
        quoted = requests.utils.quote(order_id, safe="")
        if quoted:
            r = requests.get(live.url + "/api/orders/" + quoted, headers=headers, timeout=30)
            assert r.status_code in (200, 400, 404), (order_id, r.status_code)

    check()
    _no_errors(live)


# --- the media socket ------------------------------------------------------------------------

frame_event = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "x", ""])
media_frame = st.one_of(
    st.builds(lambda ev, sid, payload, extra: json.dumps({
        "event": ev, "sequenceNumber": "1", "streamSid": "MZ" + "0" * 32,
        "start": {"callSid": sid, "streamSid": "MZ1", "accountSid": "AC1",
                  "tracks": ["inbound"], "customParameters": extra,
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                  "channels": 1}},
        "media": {"track": "inbound", "chunk": "1", "timestamp": "20", "payload": payload},
        "dtmf": {"track": "inbound_track", "digit": sid[:1]},
        "mark": {"name": sid}}),
        frame_event, st.one_of(st.just("CA" + "f" * 32), nasty_text),
        st.one_of(st.binary(max_size=400).map(lambda b: base64.b64encode(b).decode()),
                  nasty_text),
        st.dictionaries(st.text(max_size=5), nasty_text, max_size=3)),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4).map(json.dumps),
    nasty_text,
    st.binary(max_size=300))


def test_media_socket_survives_any_frames(live: ThreadedGateway) -> None:
    if ("GET", "/twilio/media") not in live.routes:
        pytest.skip("the media socket has not landed")
    ws_url = "ws" + PUBLIC_URL[4:] + "/twilio/media"
    headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(ws_url, {})}

    async def session(frames: list[Any]) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(live.url + "/twilio/media", headers=headers,
                                       timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
                for f in frames:
                    if ws.closed:
                        break
                    if isinstance(f, bytes):
                        await ws.send_bytes(f)
                    else:
                        await ws.send_str(f)
                await ws.close()

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(frames=st.lists(media_frame, max_size=12))
    def check(frames: list[Any]) -> None:
        asyncio.run(asyncio.wait_for(session(frames), 30))
        assert requests.get(live.url + "/healthz", timeout=10).status_code == 200

    check()
    _no_errors(live)
