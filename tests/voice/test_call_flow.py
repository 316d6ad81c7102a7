"""The phone call flow on the real app and a real websocket, with a scripted recogniser."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import aiohttp
import pytest
from sqlalchemy import select

import db.orders
from db.models import InboundMessage, Order, Recording
from tests.twilio_sign import signed_headers
from tests.voice.calls import call, scripted, start, tone
from voice.audio import silence_ulaw

WANG = "+8613800000001"  # 王奶奶 in the demo data
STRANGER = "+8613999999999"


async def orders(database: Any) -> list[Order]:
    async with database.session() as s:
        rows, _ = await db.orders.list_orders(s)
        return list(rows)


async def recordings(database: Any) -> list[Recording]:
    async with database.session() as s:
        return list((await s.execute(select(Recording).order_by(Recording.id))).scalars())


async def test_order_read_back_and_key_1(make_client: Callable[..., Any], settings: Any,
                                         demo_database: Any) -> None:
    rec, words = scripted(["大米两袋"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [tone()], "1")
    assert log.heard[0].startswith("王奶奶您好")
    assert any("您要的是：大米2袋" in h for h in log.heard)
    assert log.heard[-1].startswith("好的，已经下单：大米2袋")
    assert words[0] and "大米" in words[0]  # the catalogue's word list reached the recogniser
    [order] = await orders(demo_database)
    assert order.status == "confirmed" and order.channel == "voice" and order.phone == WANG
    assert [(i.sku, int(i.quantity), i.unit) for i in order.items] == [("rice", 2, "袋")]
    assert order.transcript == "大米两袋" and order.resident and order.resident.name == "王奶奶"
    recs = await recordings(demo_database)
    assert [r.kind for r in recs] == ["stream"] and recs[0].order_id == order.id
    assert recs[0].duration_s > 1.0


async def test_spoken_yes_confirms(make_client: Callable[..., Any], settings: Any,
                                   demo_database: Any) -> None:
    rec, _ = scripted(["鸡蛋一板", ["嗯", "对"]])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [tone(), tone(0.3)])
    assert "好的，已经下单：鸡蛋1板" in log.heard[-1]
    [order] = await orders(demo_database)
    assert order.status == "confirmed" and order.transcript == "鸡蛋一板\n嗯"
    assert len(await recordings(demo_database)) == 2


async def test_a_lower_alternative_that_parses_is_used_and_kept(
        make_client: Callable[..., Any], settings: Any, demo_database: Any) -> None:
    # N-best: the recogniser's best guesses mean nothing; the third is an order, the yes is
    # only the second alternative of its utterance.
    rec, _ = scripted([["呜呜", "哎呀", "大米两袋"], ["呜", "对"]])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [tone(), tone(0.3)])
    assert any("您要的是：大米2袋" in h for h in log.heard)
    assert "好的，已经下单：大米2袋" in log.heard[-1]
    [order] = await orders(demo_database)
    assert order.status == "confirmed" and order.transcript == "大米两袋\n对"


async def test_key_2_says_again_then_not_understood_leaves_a_message(
        make_client: Callable[..., Any], settings: Any, demo_database: Any) -> None:
    rec, _ = scripted(["大米两袋", "呜呜呜"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [tone(), tone()], "2")
    assert any("请再说一遍" in h for h in log.heard)
    assert any("嘀声后" in h for h in log.heard)  # two failed attempts: record a message
    assert log.heard[-1].startswith("谢谢，您的留言已经收到")
    await _voice(client).drain()
    [order] = await orders(demo_database)
    assert order.status == "needs_review" and order.transcript == "大米两袋\n呜呜呜"
    assert order.events[0].reason == "not understood twice"
    recs = await recordings(demo_database)
    assert sorted(r.kind for r in recs) == ["message", "stream", "stream", "stream"]
    msg = next(r for r in recs if r.kind == "message")
    assert msg.order_id == order.id and msg.size_bytes > 1000 and msg.path.endswith(".wav")


async def test_key_0_at_the_read_back_leaves_a_message(
        make_client: Callable[..., Any], settings: Any, demo_database: Any) -> None:
    rec, _ = scripted(["大米两袋"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [tone()], "0")
    readback = next(i for i, h in enumerate(log.heard) if "您要的是：大米2袋" in h)
    assert "留言请按0" in log.heard[readback]
    assert "caller presses 0" in log.events
    assert any("嘀声后" in h for h in log.heard[readback + 1:])  # asked to leave a message
    assert "caller leaves a message" in log.events  # the TwiML had a <Record>
    assert log.heard[-1].startswith("谢谢，您的留言已经收到")
    assert not any("已经下单" in h for h in log.heard)
    await _voice(client).drain()
    [order] = await orders(demo_database)
    assert order.status == "needs_review" and order.channel == "voice" and order.phone == WANG
    assert order.transcript == "大米两袋"
    assert order.events[0].reason == "the caller chose to leave a message"
    assert [(i.sku, int(i.quantity), i.unit) for i in order.items] == [("rice", 2, "袋")]
    recs = await recordings(demo_database)
    assert sorted(r.kind for r in recs) == ["message", "stream"]
    assert all(r.order_id == order.id for r in recs)


def _voice(client: Any) -> Any:
    """The voice part of the app under test (its background work: recording downloads)."""
    from gateway.services import SERVICES
    return client.app[SERVICES].voice


async def test_silence_only_call_reprompts_then_records(make_client: Callable[..., Any],
                                                        settings: Any, demo_database: Any) -> None:
    rec, words = scripted([])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [silence_ulaw(0.2), silence_ulaw(0.2)])
    assert any("没有听到您说话" in h for h in log.heard)
    assert any("嘀声后" in h for h in log.heard)
    assert words == []  # silence never opened a recogniser stream
    await _voice(client).drain()
    [order] = await orders(demo_database)
    assert order.status == "needs_review"


async def test_key_3_repeats_the_last_order(make_client: Callable[..., Any], settings: Any,
                                            demo_database: Any) -> None:
    rec, _ = scripted(["大米两袋"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    await call(twilio, WANG, [tone()], "1")
    log = await call(twilio, WANG, [], "31")
    assert any("和上次一样：大米2袋" in h for h in log.heard)
    assert [o.status for o in await orders(demo_database)] == ["confirmed", "confirmed"]


async def test_key_0_at_the_greeting_and_an_unknown_caller(
        make_client: Callable[..., Any], settings: Any, demo_database: Any) -> None:
    client, twilio = await start(make_client, settings, demo_database, scripted([])[0])
    log = await call(twilio, WANG, [], "0")
    assert any("嘀声后" in h for h in log.heard)
    log = await call(twilio, STRANGER, [])
    assert "还没有登记" in log.heard[0]
    await _voice(client).drain()
    statuses = sorted((o.phone, o.status, o.events[0].reason) for o in await orders(demo_database))
    assert statuses == [(WANG, "needs_review", "the caller chose to leave a message"),
                        (STRANGER, "needs_review", "unregistered caller")]


async def test_hang_up_mid_stream_keeps_the_words(make_client: Callable[..., Any], settings: Any,
                                                  demo_database: Any) -> None:
    rec, _ = scripted(["大米两袋"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    log = await call(twilio, WANG, [tone(1.0)], hang_up_after=0.9)
    assert log.hung_up
    [order] = await orders(demo_database)
    assert order.status == "needs_review" and order.transcript == "大米两袋"
    assert order.events[0].reason == "the caller hung up"
    [r] = await recordings(demo_database)
    assert r.order_id == order.id


async def test_hang_up_in_silence_makes_no_order(make_client: Callable[..., Any], settings: Any,
                                                 demo_database: Any) -> None:
    client, twilio = await start(make_client, settings, demo_database, scripted([])[0])
    log = await call(twilio, WANG, [silence_ulaw(1)], hang_up_after=0.5)
    assert log.hung_up and await orders(demo_database) == []


async def test_no_recogniser_falls_back_to_a_message(make_client: Callable[..., Any],
                                                     settings: Any, demo_database: Any) -> None:
    client, twilio = await start(make_client, settings, demo_database, None)
    log = await call(twilio, WANG, [tone()])
    assert log.heard[0].startswith("对不起，现在听不清")
    await _voice(client).drain()
    assert [o.status for o in await orders(demo_database)] == ["needs_review"]


async def test_forged_signatures_change_nothing(make_client: Callable[..., Any], settings: Any,
                                                demo_database: Any) -> None:
    client, twilio = await start(make_client, settings, demo_database, scripted([])[0])
    params = {"CallSid": "CAforged", "From": WANG}
    bad = signed_headers("/twilio/voice", params, token="not-the-token")
    r = await client.post("/twilio/voice", data=params, headers=bad)
    assert r.status == 403
    r = await client.post("/twilio/voice/next", data=params)
    assert r.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await client.ws_connect("/twilio/media", headers={"X-Twilio-Signature": "forged"})
    assert exc.value.status == 403
    async with demo_database.session() as s:
        assert (await s.execute(select(InboundMessage))).first() is None


def stream_token_of(twiml: str) -> str:
    """The call's media-stream token, as Twilio passes the <Stream>'s <Parameter>s along."""
    import xml.etree.ElementTree as ET

    stream = next(ET.fromstring(twiml).iter("Stream"))
    return {p.get("name"): p.get("value") for p in stream.iter("Parameter")}["token"]


async def test_garbage_frames_are_ignored(make_client: Callable[..., Any], settings: Any,
                                          demo_database: Any) -> None:
    rec, _ = scripted(["大米两袋"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    params = {"CallSid": "CAgarbage", "From": WANG, "AccountSid": twilio.account_sid}
    r = await client.post("/twilio/voice", data=params,
                          headers=signed_headers("/twilio/voice", params))
    twiml = await r.text()
    assert "<Stream" in twiml
    url = "wss://doorstep.example.org/twilio/media"
    ws = await client.ws_connect("/twilio/media", headers=twilio.sign(url, {}))
    for junk in ["", "not json", "[]", "{}", '{"event": 5}', '{"event": "media"}',
                 '{"event": "media", "media": {"payload": "***"}}', '{"event": "start"}',
                 '{"event": "dtmf", "dtmf": {"digit": "12"}}', '{"event": "unknown"}']:
        await ws.send_str(junk)
    await ws.send_bytes(b"\x00\x01binary")
    await ws.send_str(json.dumps({"event": "start", "start": {
        "callSid": "CAgarbage", "customParameters": {"token": stream_token_of(twiml)}}}))
    await ws.send_str('{"event": "mark", "mark": {"name": "x"}}')
    import base64
    audio = tone() + silence_ulaw(1.0)
    for i in range(0, len(audio), 160):
        await ws.send_str(json.dumps({"event": "media", "media": {
            "payload": base64.b64encode(audio[i:i + 160]).decode()}}))
        if i % 3200 == 0:
            await ws.send_str("garbage between frames")
    msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await ws.close()
    r = await client.post("/twilio/voice/next", data=params,
                          headers=signed_headers("/twilio/voice/next", params))
    assert "大米2袋" in await r.text()



@pytest.mark.parametrize("which", ["forged", "expired", "another call's", "none"])
async def test_a_stream_start_needs_its_own_calls_token(
        make_client: Callable[..., Any], settings: Any, demo_database: Any, which: str) -> None:
    """Issue 15: the socket's signature is the same for every call, so each call's <Stream>
    carries a short-lived token of its own; a start frame for another call, or with a forged
    or expired token, is refused and hears nothing."""
    import base64
    import time

    from gateway.channels.twilio.signature import stream_token

    rec, _ = scripted(["大米两袋"] * 2)
    client, twilio = await start(make_client, settings, demo_database, rec)
    params = {"CallSid": "CAvictim", "From": WANG, "AccountSid": twilio.account_sid}
    own = stream_token_of(await (await client.post(
        "/twilio/voice", data=params, headers=signed_headers("/twilio/voice", params))).text())
    other = {**params, "CallSid": "CAother"}
    others = stream_token_of(await (await client.post(
        "/twilio/voice", data=other, headers=signed_headers("/twilio/voice", other))).text())
    token = {"forged": own.split(".")[0] + "." + "0" * 40,
             "expired": stream_token(settings, "CAvictim", now=time.time() - 3600),
             "another call's": others, "none": None}[which]
    url = "wss://doorstep.example.org/twilio/media"

    async def speak(token: str | None) -> None:
        ws = await client.ws_connect("/twilio/media", headers=twilio.sign(url, {}))
        custom = {"token": token} if token is not None else {}
        await ws.send_str(json.dumps({"event": "start", "start": {
            "callSid": "CAvictim", "customParameters": custom}}))
        audio = tone() + silence_ulaw(1.0)
        try:
            for i in range(0, len(audio), 160):
                await ws.send_str(json.dumps({"event": "media", "media": {
                    "payload": base64.b64encode(audio[i:i + 160]).decode()}}))
        except (ConnectionResetError, aiohttp.ClientError):
            pass  # refused: the gateway closed the socket
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()

    await speak(token)
    r = await client.post("/twilio/voice/next", data=params,
                          headers=signed_headers("/twilio/voice/next", params))
    assert "大米2袋" not in await r.text()  # nothing was heard on the refused socket
    await speak(stream_token_of(await r.text()) if "<Stream" in await r.text() else own)
    r = await client.post("/twilio/voice/next", data=params,
                          headers=signed_headers("/twilio/voice/next", params))
    assert "大米2袋" in await r.text()  # the call's own token is heard


async def test_key_hash_ends_speaking(make_client: Callable[..., Any], settings: Any,
                                      demo_database: Any) -> None:
    rec, _ = scripted(["大米两袋"])
    client, twilio = await start(make_client, settings, demo_database, rec)
    params = {"CallSid": "CAhash", "From": WANG}
    r = await client.post("/twilio/voice", data=params,
                          headers=signed_headers("/twilio/voice", params))
    ws = await client.ws_connect("/twilio/media", headers=twilio.sign(
        "wss://doorstep.example.org/twilio/media", {}))
    await ws.send_str(json.dumps({"event": "start", "start": {
        "callSid": "CAhash", "customParameters": {"token": stream_token_of(await r.text())}}}))
    import base64
    audio = tone(1.0)
    for i in range(0, len(audio), 160):
        await ws.send_str(json.dumps({"event": "media", "media": {
            "payload": base64.b64encode(audio[i:i + 160]).decode()}}))
    await ws.send_str(json.dumps({"event": "dtmf", "dtmf": {"digit": "#"}}))
    msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    r = await client.post("/twilio/voice/next", data=params,
                          headers=signed_headers("/twilio/voice/next", params))
    assert "大米2袋" in await r.text()


async def test_recording_download_honours_twilio_api_url(
        make_client: Callable[..., Any], make_settings: Callable[..., Any],
        demo_database: Any) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from voice.audio import wav_bytes

    seen: list[tuple[str, str]] = []

    async def recording(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization", "")))
        if len(seen) == 1:
            return web.Response(status=404)  # not ready yet: retried
        return web.Response(body=wav_bytes(ulaw=b"\xff" * 8000), content_type="audio/x-wav")

    stand_in = web.Application()
    stand_in.router.add_get("/{tail:.*}", recording)
    server = TestServer(stand_in, host="127.0.0.1")
    await server.start_server()
    try:
        settings = make_settings(twilio_api_url=str(server.make_url("")).rstrip("/"))
        client, twilio = await start(make_client, settings, demo_database, scripted([])[0])
        params = {"CallSid": "CAapi", "From": WANG}
        await client.post("/twilio/voice/key", data=params,
                          headers=signed_headers("/twilio/voice/key", params))  # unknown call
        await client.post("/twilio/voice", data=params,
                          headers=signed_headers("/twilio/voice", params))
        await client.post("/twilio/voice/key", data={**params, "Digits": "0"},
                          headers=signed_headers("/twilio/voice/key", {**params, "Digits": "0"}))
        rec = {**params, "RecordingSid": "RE42", "RecordingDuration": "1",
               "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE42"}
        r = await client.post("/twilio/voice/recorded", data=rec,
                              headers=signed_headers("/twilio/voice/recorded", rec))
        assert "留言已经收到" in await r.text()
        r = await client.post("/twilio/voice/recorded", data=rec,  # Twilio retrying
                              headers=signed_headers("/twilio/voice/recorded", rec))
        assert r.status == 200
        await _voice(client).drain()
    finally:
        await server.close()
    import base64
    auth = "Basic " + base64.b64encode(f"{'AC' + '0' * 32}:test-twilio-auth-token".encode()).decode()
    assert seen == [("/2010-04-01/Accounts/AC1/Recordings/RE42.wav", auth)] * 2
    [order] = await orders(demo_database)
    assert order.status == "needs_review"
    [msg] = [r for r in await recordings(demo_database) if r.kind == "message"]
    assert msg.size_bytes > 8000 and msg.order_id == order.id


@pytest.mark.parametrize(("public_url", "stream"), [
    ("https://doorstep.example.org", "wss://doorstep.example.org/twilio/media"),
    ("http://127.0.0.1:8080/", "ws://127.0.0.1:8080/twilio/media")])
async def test_stream_url_follows_the_public_url_scheme(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], demo_database: Any,
        public_url: str, stream: str) -> None:
    import xml.etree.ElementTree as ET

    settings = make_settings(public_url=public_url)
    client, _ = await start(make_client, settings, demo_database, scripted([])[0])
    params = {"CallSid": "CAscheme", "From": WANG}
    # Signatures cover the public URL, so sign for the one this gateway believes in.
    r = await client.post("/twilio/voice", data=params, headers=signed_headers(
        "/twilio/voice", params, base=settings.public_url))
    assert r.status == 200
    urls = [el.get("url") for el in ET.fromstring(await r.text()).iter("Stream")]
    assert urls == [stream]
