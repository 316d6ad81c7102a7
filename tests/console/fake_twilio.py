"""Stand-ins for the Twilio webhooks that check signatures as the real ones must, and record
what they received, so the try-it page's signing and media streaming are tested on their own."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from gateway.services import SERVICES
from gateway.channels.twilio.signature import is_valid, twiml_response, verified_form

RECEIVED = web.AppKey("fake_twilio_received", dict)


async def sms(request: web.Request) -> web.Response:
    form = await verified_form(request, request.app[SERVICES].settings)
    request.app[RECEIVED].setdefault("sms", []).append(dict(form))
    return twiml_response(f"<Response><Message>收到：{form['Body']}</Message></Response>")


async def voice(request: web.Request) -> web.Response:
    settings = request.app[SERVICES].settings
    form = await verified_form(request, settings)
    request.app[RECEIVED].setdefault("voice", []).append(dict(form))
    url = settings.public_url.replace("http", "ws", 1) + "/twilio/media"
    return twiml_response(
        f'<Response><Say>您好</Say><Connect><Stream url="{url}">'
        f'<Parameter name="from" value="{form["From"]}"/></Stream></Connect></Response>')


async def media(request: web.Request) -> web.WebSocketResponse:
    settings = request.app[SERVICES].settings
    url = settings.public_url.replace("http", "ws", 1) + "/twilio/media"
    if not is_valid(settings, url, {}, request.headers.get("X-Twilio-Signature")):
        raise web.HTTPForbidden()
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    got: dict[str, Any] = {"events": [], "audio": 0, "digits": ""}
    request.app[RECEIVED]["media"] = got
    async for msg in ws:
        data = json.loads(msg.data)
        got["events"].append(data["event"])
        if data["event"] == "start":
            got["start"] = data["start"]
            # Answer with a little audio and a mark, as the voice adapter would.
            await ws.send_str(json.dumps({"event": "media", "streamSid": data["streamSid"],
                                          "media": {"payload": base64.b64encode(b"\xff" * 800)
                                                    .decode()}}))
            await ws.send_str(json.dumps({"event": "mark", "streamSid": data["streamSid"],
                                          "mark": {"name": "readback"}}))
        elif data["event"] == "media":
            got["audio"] += len(base64.b64decode(data["media"]["payload"]))
        elif data["event"] == "dtmf":
            got["digits"] += data["dtmf"]["digit"]
        elif data["event"] == "stop":
            await ws.close()
    return ws


def setup(app: web.Application) -> None:
    app[RECEIVED] = {}
    app.router.add_post("/twilio/sms", sms)
    app.router.add_post("/twilio/voice", voice)
    app.router.add_get("/twilio/media", media)
