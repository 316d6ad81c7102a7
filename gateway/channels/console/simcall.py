"""Playing a resident against our own webhooks exactly as Twilio would: signed SMS and calls,
and Doorstep's own calls to them answered (or not).

The try-it page uses this so a new user sees the real code paths without Twilio accounts:
requests go over HTTP to this very server, signed with the configured auth token."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import click

from gateway.channels.twilio.simulate_call import SAY_SECONDS_PER_CHAR, Caller
from gateway.channels.twilio.webhook_client import Twilio, inbound_form, twiml_texts
from gateway.settings import Settings
from voice.audio import WavError, read_wav, ulaw_encode

log = logging.getLogger(__name__)

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
MAX_SECONDS = 60


class SimulationError(Exception):
    """The simulated request could not be made; `key` names the UI string."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(detail or key)
        self.key = key
        self.detail = detail


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _twilio(base_url: str, settings: Settings) -> Twilio:
    return Twilio(base_url, settings.public_url, settings.twilio_auth_token or "",
                  settings.twilio_account_sid or _sid("AC"))


def _signed(settings: Settings, path: str, params: dict[str, str]) -> dict[str, str]:
    if not settings.twilio_auth_token:
        raise SimulationError("try.no_token")
    return _twilio("", settings).sign(settings.public_url + path, params)


@dataclass
class SmsResult:
    status: int
    replies: list[str]


async def send_sms(base_url: str, settings: Settings, phone: str, body: str) -> SmsResult:
    path = "/twilio/sms"
    params = inbound_form(phone, body, to=settings.twilio_from_number or "+10000000000",
                          account_sid=settings.twilio_account_sid or _sid("AC"))
    async with aiohttp.ClientSession() as http, http.post(base_url + path, data=params,
                         headers=_signed(settings, path, params)) as r:
        text = await r.text()
    if r.status == 404:
        raise SimulationError("try.sms_missing")
    if r.status == 403:
        raise SimulationError("try.rejected")
    return SmsResult(r.status, twiml_texts(text) if r.status == 200 else [text[:300]])


async def ring_once(base_url: str, settings: Settings, phone: str) -> None:
    """A call from `phone` hung up at once: the incoming call's webhook, then its status
    (completed after a second), as Twilio posts them."""
    params = {"CallSid": _sid("CA"), "AccountSid": settings.twilio_account_sid or _sid("AC"),
              "From": phone, "To": settings.twilio_from_number or "+10000000000",
              "Direction": "inbound", "ApiVersion": "2010-04-01"}
    async with aiohttp.ClientSession() as http:
        for path, extra in (("/twilio/voice", {"CallStatus": "ringing"}),
                            ("/twilio/voice/status", {"CallStatus": "completed",
                                                      "CallDuration": "1"})):
            form = {**params, **extra}
            async with http.post(base_url + path, data=form,
                                 headers=_signed(settings, path, form)) as r:
                await r.read()
            if r.status == 404:
                raise SimulationError("try.voice_missing")
            if r.status == 403:
                raise SimulationError("try.rejected")


def wav_to_mulaw(data: bytes) -> bytes:
    """Any WAV to 8 kHz mu-law, as Twilio streams it (at most MAX_SECONDS)."""
    try:
        return ulaw_encode(read_wav(data, max_seconds=MAX_SECONDS))
    except WavError as exc:
        raise SimulationError("try.bad_wav", str(exc)) from None


@dataclass
class CallResult:
    twiml: str
    said: list[str]
    stream_url: str | None = None
    events_back: dict[str, int] = field(default_factory=dict)
    audio_back_seconds: float = 0.0


async def _stream_frames(ws: Any, sid: str, audio: bytes, *, start_ts: int, pace: float) -> int:
    ts = start_ts
    for chunk_no, i in enumerate(range(0, len(audio), FRAME_BYTES)):
        frame = audio[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff")
        await ws.send_str(json.dumps({
            "event": "media", "sequenceNumber": str(chunk_no + 2), "streamSid": sid,
            "media": {"track": "inbound", "chunk": str(chunk_no + 1), "timestamp": str(ts),
                      "payload": base64.b64encode(frame).decode()}}))
        ts += 20
        if pace:
            await asyncio.sleep(0.02 / pace)
    return ts


async def place_call(base_url: str, settings: Settings, phone: str, audio: bytes, digits: str,
                     *, pace: float = 1.0, listen_seconds: float = 8.0) -> CallResult:
    """POST /twilio/voice, then stream the audio (and keypad digits) over the media socket."""
    path = "/twilio/voice"
    call_sid = _sid("CA")
    params = {"CallSid": call_sid, "AccountSid": settings.twilio_account_sid or _sid("AC"),
              "From": phone, "To": settings.twilio_from_number or "+10000000000",
              "CallStatus": "ringing", "Direction": "inbound"}
    async with aiohttp.ClientSession() as http:
        async with http.post(base_url + path, data=params,
                             headers=_signed(settings, path, params)) as r:
            twiml = await r.text()
        if r.status == 404:
            raise SimulationError("try.voice_missing")
        if r.status == 403:
            raise SimulationError("try.rejected")
        result = CallResult(twiml=twiml, said=twiml_texts(twiml))
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError:
            return result
        stream = next(root.iter("Stream"), None)
        if stream is None or not stream.get("url"):
            return result
        url = stream.get("url", "")
        result.stream_url = url
        custom = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
        parts = urlsplit(url)
        local = base_url.replace("http", "ws", 1) + parts.path + (f"?{parts.query}" if parts.query else "")
        sig = _twilio(base_url, settings).sign(url, {})["X-Twilio-Signature"]
        stream_sid = _sid("MZ")
        try:
            ws = await http.ws_connect(local, headers={"X-Twilio-Signature": sig})
        except aiohttp.WSServerHandshakeError as exc:
            raise SimulationError("try.media_missing", str(exc.status)) from None
        async with ws:
            received: dict[str, int] = {}
            back_bytes = 0

            async def listen() -> None:
                nonlocal back_bytes
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        continue
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        continue
                    ev = str(data.get("event"))
                    received[ev] = received.get(ev, 0) + 1
                    if ev == "media":
                        back_bytes += len(base64.b64decode(data["media"]["payload"]))
                    if ev == "mark":  # echo marks as Twilio does once playback finishes
                        await ws.send_str(json.dumps({"event": "mark", "streamSid": stream_sid,
                                                      "mark": data.get("mark", {})}))

            listener = asyncio.create_task(listen())
            await ws.send_str(json.dumps({"event": "connected", "protocol": "Call",
                                          "version": "1.0.0"}))
            await ws.send_str(json.dumps({
                "event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
                "start": {"streamSid": stream_sid, "accountSid": params["AccountSid"],
                          "callSid": call_sid, "tracks": ["inbound"],
                          "customParameters": custom,
                          "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                          "channels": 1}}}))
            silence = b"\xff" * 8000  # a second of silence, so the end of speech is heard
            ts = await _stream_frames(ws, stream_sid, audio + silence, start_ts=0, pace=pace)
            if digits:
                # Like a caller, press keys once the gateway has started to answer.
                for _ in range(int(listen_seconds * 10)):
                    if received.get("media") or received.get("mark") or ws.closed:
                        break
                    await asyncio.sleep(0.1)
            for digit in digits:
                await ws.send_str(json.dumps({"event": "dtmf", "streamSid": stream_sid,
                                              "dtmf": {"track": "inbound_track", "digit": digit}}))
                ts = await _stream_frames(ws, stream_sid, silence, start_ts=ts, pace=pace)
            await asyncio.wait([listener], timeout=listen_seconds)
            if not ws.closed:
                await ws.send_str(json.dumps({"event": "stop", "streamSid": stream_sid,
                                              "stop": {"callSid": call_sid,
                                                       "accountSid": params["AccountSid"]}}))
            listener.cancel()
            try:
                await listener
            except asyncio.CancelledError:
                pass
            except (aiohttp.ClientError, ValueError, KeyError) as exc:
                log.info("simulated call %s: the media socket ended with %r", call_sid, exc)
            result.events_back = received
            result.audio_back_seconds = back_bytes / 8000
    return result


# --- Doorstep's calls to the resident -------------------------------------------------------

class _Answered(Caller):
    """The resident on a call Doorstep placed (From us, To them), pressing the given keys; once
    they are pressed, they wait at the next menu, so the call goes on with the next keys."""

    def __init__(self, twilio: Twilio, call: OutboundCall, speech: list[bytes],
                 digits: str, *, resume: bool) -> None:
        super().__init__(twilio, call.phone, speech, digits)
        self.log.call_sid = call.call_sid
        self.from_ = call.from_
        self.ended = False  # the gateway hung up
        # Going on with a call under way: its TwiML is fetched again (Twilio's retry of the
        # webhook gets the state the call is in), which the resident heard already.
        self.resume = resume

    def _params(self, **extra: str) -> dict[str, str]:
        extra.pop("CallStatus", None)
        return {"CallSid": self.log.call_sid, "AccountSid": self.t.account_sid,
                "From": self.from_, "To": self.phone, "CallStatus": "in-progress",
                "Direction": "outbound-api", **extra}

    async def _execute(self, http: aiohttp.ClientSession, xml: str, recording: Any) -> str | None:
        try:
            root: ET.Element | None = ET.fromstring(xml)
        except ET.ParseError:
            root = None
        again, self.resume = self.resume, False
        if root is not None and self._spoke_all and not self.digits \
                and root.find("Gather") is not None:
            self.log.heard += [] if again else twiml_texts(xml)
            return None  # waiting at the menu
        heard = len(self.log.heard)
        nxt = await super()._execute(http, xml, recording)
        if again:
            del self.log.heard[heard:]
        self.ended = nxt is None and root is not None and root.find("Hangup") is not None
        return nxt


@dataclass
class OutboundCall:
    """A call Doorstep placed that rings on the simulated phone: Twilio's side of it, against
    the real webhooks: its TwiML (`answer_url`), keys, and the final status callback."""

    base_url: str
    settings: Settings
    call_sid: str
    phone: str
    answer_url: str
    status_url: str
    said: list[str] = field(default_factory=list)

    @property
    def from_(self) -> str:
        return self.settings.twilio_from_number or "+10000000000"

    async def _post(self, http: aiohttp.ClientSession, url: str, **extra: str) -> str:
        twilio = _twilio(self.base_url, self.settings)
        params = {"CallSid": self.call_sid, "AccountSid": twilio.account_sid,
                  "From": self.from_, "To": self.phone, "Direction": "outbound-api",
                  "ApiVersion": "2010-04-01", **extra}
        async with http.post(twilio.local(url), data=params,
                             headers=twilio.sign(twilio.public(url), params)) as r:
            body = await r.text()
        if r.status == 403:
            raise SimulationError("try.rejected")
        if r.status != 200:
            raise SimulationError("try.failed", f"{r.status} {body[:200]}")
        return body

    async def end(self, http: aiohttp.ClientSession, status: str) -> None:
        """The try's final status callback (`completed` lasts as long as what was said)."""
        seconds = round(sum(len(x) for x in self.said) * SAY_SECONDS_PER_CHAR) + 3 \
            if status == "completed" else 0
        await self._post(http, self.status_url, CallStatus=status, CallDuration=str(seconds))

    async def spoken(self, do: str) -> list[str]:
        """A spoken notice or question: answer and press 1 (`heard`; a question: as usual),
        press 2 (`skip`: a question's "not this week"), answer and press nothing (`silent`),
        or let it ring out (`missed`); what the resident heard."""
        async with aiohttp.ClientSession() as http:
            if do != "missed":
                xml = await self._post(http, self.answer_url, CallStatus="in-progress")
                gather = ET.fromstring(xml).find("Gather")
                if do in ("heard", "skip") and gather is not None:
                    # the key is pressed once the text was said (not said again)
                    self.said += twiml_texts(ET.tostring(gather, encoding="unicode"))[:1]
                    xml = await self._post(http, gather.get("action", ""),
                                           CallStatus="in-progress",
                                           Digits="1" if do == "heard" else "2")
                self.said += twiml_texts(xml)  # no key: what follows the prompt's time-out
            await self.end(http, "no-answer" if do == "missed" else "completed")
        return self.said

    async def callback(self, do: str, digits: str = "", speech: bytes = b"") -> list[str]:
        """Answer the callback (its ordering flow up to the first menu: `answer`), speak
        (8 kHz mu-law) and press keys in it (`keys`), hang up, or let it ring out (`missed`);
        what the resident heard."""
        async with aiohttp.ClientSession() as http:
            if do in ("missed", "hangup"):
                await self.end(http, "no-answer" if do == "missed" else "completed")
                return []
            caller = _Answered(_twilio(self.base_url, self.settings), self,
                               [speech] if speech else [], digits, resume=do == "keys")
            try:
                await caller.run()
            except click.ClickException as exc:  # the caller's report of a refused webhook
                raise SimulationError("try.failed", exc.message[:200]) from None
            self.said = caller.log.heard
            if caller.ended:
                await self.end(http, "completed")
        return self.said
