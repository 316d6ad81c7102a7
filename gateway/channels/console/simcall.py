"""Playing a resident against our own webhooks exactly as Twilio would: signed SMS and calls.

The try-it page uses this so a new user sees the real code paths without Twilio accounts:
requests go over HTTP to this very server, signed with the configured auth token."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import secrets
import struct
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from twilio.request_validator import RequestValidator

from gateway.settings import Settings
from gateway.channels.twilio.simulate_sms import inbound_form, twiml_texts

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


def _signed(settings: Settings, path: str, params: dict[str, str]) -> dict[str, str]:
    if not settings.twilio_auth_token:
        raise SimulationError("try.no_token")
    sig = RequestValidator(settings.twilio_auth_token).compute_signature(
        settings.public_url + path, params)
    return {"X-Twilio-Signature": sig}


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


def wav_to_mulaw(data: bytes) -> bytes:
    """Any PCM WAV (8/16-bit, mono or stereo, any rate) to 8 kHz mu-law, as Twilio streams it."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(min(w.getnframes(), rate * MAX_SECONDS))
    except (wave.Error, EOFError) as exc:
        raise SimulationError("try.bad_wav", str(exc)) from None
    if width == 2:
        samples = list(struct.unpack(f"<{len(frames) // 2}h", frames[: len(frames) // 2 * 2]))
    elif width == 1:
        samples = [(b - 128) << 8 for b in frames]
    else:
        raise SimulationError("try.bad_wav", f"{width * 8}-bit samples")
    if channels > 1:
        samples = [sum(samples[i:i + channels]) // channels
                   for i in range(0, len(samples) - channels + 1, channels)]
    if rate != 8000 and samples:
        step = rate / 8000
        n = int(len(samples) / step)
        out = []
        for k in range(n):
            pos = k * step
            i = int(pos)
            frac = pos - i
            nxt = samples[i + 1] if i + 1 < len(samples) else samples[i]
            out.append(int(samples[i] * (1 - frac) + nxt * frac))
        samples = out
    return bytes(_ulaw(s) for s in samples)


def _ulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), 32635) + 0x84
    exponent = (sample >> 7).bit_length() - 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


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
        sig = RequestValidator(settings.twilio_auth_token or "").compute_signature(url, {})
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
