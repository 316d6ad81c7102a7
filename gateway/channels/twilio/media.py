"""WS /twilio/media: the Twilio Media Streams socket that hears one utterance per connection.

The upgrade is refused (403) unless X-Twilio-Signature signs the socket URL. Frames are
`connected`, `start`, `media` (base64 mu-law 8 kHz), `dtmf`, `mark` and `stop`; anything else,
or anything malformed, is counted and ignored. At the end of speech (or a key, or a hang-up)
the socket turns what it heard into an event for the call's rules (`gateway.conversation.call`:
the recogniser's alternatives with what the order language made of each, a key, a hang-up),
keeps the call's audio, stores the next state and closes, so Twilio goes on with the TwiML
after <Connect> (a <Redirect> to /twilio/voice/next).

May import db, voice, gateway.conversation and the other Twilio channel modules.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

import db.conversations
import db.recordings
from gateway.services import SERVICES, Services
from gateway.channels.twilio.signature import is_valid, stream_token_ok
from gateway.conversation import call as rules
from gateway.conversation.call import MESSAGE_KEY
from gateway.channels.twilio.voice import (
    CHANNEL, VoiceService, decide, item_dict, load_call, safe_name, save_call,
    stream_url, voice_of, write_file,
)
from voice.audio import RATE, wav_bytes
from voice.endpoint import EndpointConfig
from voice.listen import Listener, Outcome, Utterance

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024
START_TIMEOUT = 10.0
CALL_TIMEOUT = 60.0  # a socket is never held longer than this, whatever arrives
MAX_AUDIO = RATE * 60  # bytes of mu-law kept per connection
LISTEN = EndpointConfig()
CONFIRM = EndpointConfig(no_speech_s=5.0)


@dataclass(frozen=True)
class MediaFrame:
    """One Media Streams message, tolerant of what Twilio (or anyone) may send."""

    event: str
    call_sid: str = ""
    payload: bytes = b""
    digit: str = ""
    token: str = ""  # the start frame's customParameters.token

    @classmethod
    def from_json(cls, text: str) -> MediaFrame | None:
        try:
            data = json.loads(text)
        except (ValueError, TypeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            return None
        event = data["event"]
        body = data.get(event)
        body = body if isinstance(body, dict) else {}
        if event == "start":
            sid = body.get("callSid")
            custom = body.get("customParameters")
            token = custom.get("token") if isinstance(custom, dict) else None
            return cls(event, call_sid=sid[:64], token=token[:100] if isinstance(token, str)
                       else "") if isinstance(sid, str) and sid else None
        if event == "media":
            if body.get("track", "inbound") not in ("inbound", "inbound_track"):
                return cls("ignored")
            payload = body.get("payload")
            if not isinstance(payload, str) or len(payload) > 8192:
                return None
            try:
                return cls(event, payload=base64.b64decode(payload, validate=True))
            except (binascii.Error, ValueError):
                return None
        if event == "dtmf":
            digit = body.get("digit")
            return cls(event, digit=digit) if isinstance(digit, str) and len(digit) == 1 else None
        return cls(event)


class MediaCall:
    def __init__(self, services: Services, voice: VoiceService, ws: web.WebSocketResponse) -> None:
        self.services, self.voice, self.ws = services, voice, ws
        self.garbage = 0
        self.audio = bytearray()
        self.call_sid = ""

    async def frames(self) -> Any:
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                self.garbage += 1
                continue
            frame = MediaFrame.from_json(msg.data)
            if frame is None:
                self.garbage += 1
                continue
            yield frame

    async def run(self) -> None:
        frames = self.frames()
        call_sid = await self._wait_start(frames)
        if call_sid is None:
            return
        self.call_sid = call_sid
        async with self.services.db.session() as s:
            row = await db.conversations.lock(s, CHANNEL, call_sid,
                                              locale=self.services.settings.default_locale)
            st = load_call(row)
            if not rules.hears(st):
                log.info("media stream for call in state %s; closing", st.state)
                return
            try:
                lang = await self.services.languages.get(s, st.locale)
            except Exception:
                log.exception("order language unavailable")
                lang = None
        words = None
        if lang is not None and self.voice.can_listen(st.locale):
            try:
                words = await self.voice.words_for(st.locale, lang, st.state != "listen")
            except Exception as exc:
                log.warning("no word list for %s (%s); free dictation", st.locale, exc)
        listener = Listener(self.voice.recognizer if self.voice.can_listen(st.locale) else None,
                            st.locale, words, LISTEN if st.state == "listen" else CONFIRM)
        digit, hung_up = "", True
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                async for frame in frames:
                    if frame.event == "media":
                        if len(self.audio) < MAX_AUDIO:
                            self.audio += frame.payload
                        if await listener.push(frame.payload):
                            hung_up = False
                            break
                    elif frame.event == "dtmf":
                        if rules.ends_listening(st.state, frame.digit):
                            digit = "" if frame.digit == "#" else frame.digit
                            listener.end()
                            hung_up = False
                            break
                    elif frame.event == "stop":
                        break
        except TimeoutError:
            listener.end()
            hung_up = False
        if hung_up and listener.endpointer.started_at < 0:
            await listener.cancel()
            utt = Utterance(Outcome.NO_SPEECH, reason="hangup")
        else:
            utt = await listener.result()
            if utt.outcome is not Outcome.NO_SPEECH and utt.ended_at:
                # end of speech -> recognised (or failed): what the caller waits for
                self.services.metrics.observe("doorstep_recognition_seconds",
                                              time.monotonic() - utt.ended_at,
                                              outcome=utt.outcome.value)
        if not hung_up:
            if len(self.voice.ended) > 10000:  # calls that never came back for /next
                self.voice.ended.clear()
            self.voice.ended[call_sid] = utt.ended_at or time.monotonic()
        await self._decide(call_sid, lang, utt, digit, hung_up)

    async def _wait_start(self, frames: Any) -> str | None:
        try:
            async with asyncio.timeout(START_TIMEOUT):
                async for frame in frames:
                    if frame.event == "start":
                        if not stream_token_ok(self.services.settings, frame.call_sid,
                                               frame.token):
                            log.warning("media stream for call %s with a bad, expired or "
                                        "another call's token; closing", frame.call_sid)
                            self.services.metrics.inc("doorstep_media_token_rejected_total")
                            return None
                        return str(frame.call_sid)
                    if frame.event == "stop":
                        return None
        except TimeoutError:
            log.info("media stream sent no start frame; closing")
        return None

    async def _decide(self, call_sid: str, lang: Any, utt: Utterance, digit: str,
                      hung_up: bool) -> None:
        services = self.services
        wav, unsaved = None, ""
        if self.audio:
            wav = wav_bytes(ulaw=bytes(self.audio))
            path = services.settings.recordings_dir / \
                f"{safe_name(call_sid)}-stream-{int(time.time() * 1000)}.wav"
            try:
                await asyncio.to_thread(write_file, path, wav)
            except OSError as exc:  # disk full or unwritable: the call goes on without audio
                log.error("call %s: call audio not saved: %s", call_sid, exc)
                services.metrics.inc("doorstep_recording_write_failures_total")
                wav, unsaved = None, str(exc)
        async with services.db.session() as s:
            alerts = services.operator_alerts
            if unsaved and alerts is not None:
                day = time.strftime("%Y-%m-%d")
                await alerts.messages.operator_alert(
                    s, "recording_not_saved", key=f"recordings-disk:{day}",
                    text=f"call audio could not be saved in {services.settings.recordings_dir}: "
                         f"{unsaved}")
            if wav is not None:
                await db.recordings.add(s, call_sid=call_sid, kind="stream",
                                        path=services.settings.recording_name(path),
                                        duration_s=len(self.audio) / RATE, size_bytes=len(wav))
            row = await db.conversations.lock(s, CHANNEL, call_sid,
                                              locale=services.settings.default_locale)
            st = load_call(row)
            if not rules.hears(st):
                return
            st = await decide(s, services, call_sid, st,
                              self._event(lang, utt, digit, hung_up))
            save_call(row, st)
        if st.state == rules.DONE and st.order_id and not hung_up:
            services.wake_dispatcher()
        if self.garbage:
            log.info("call %s: %d malformed media frames ignored", call_sid, self.garbage)

    @staticmethod
    def _event(lang: Any, utt: Utterance, digit: str, hung_up: bool) -> rules.Event:
        """What the socket heard, as an event for the call's rules."""
        best = utt.texts[0] if utt.texts else ""
        if digit:
            return rules.Key(digit, heard=best)
        if hung_up:
            return rules.HangUp(spoke=utt.outcome is Outcome.SPEECH, heard=best)
        alternatives = []
        for text in utt.texts:
            p = lang.parse(text) if lang is not None else None
            alternatives.append(rules.Alternative(
                text, p.intent if p is not None else "",
                tuple(item_dict(i) for i in p.items) if p is not None else ()))
        return rules.Heard(utt.outcome.value, tuple(alternatives))


async def media(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    settings = services.settings
    if not settings.twilio_enabled:
        raise web.HTTPForbidden(text="Twilio is not configured")
    if not is_valid(settings, stream_url(settings), {}, request.headers.get("X-Twilio-Signature")):
        log.warning("rejected a media socket with a bad or missing signature")
        raise web.HTTPForbidden(text="invalid Twilio signature")
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, autoping=True)
    await ws.prepare(request)
    call = MediaCall(services, voice_of(services), ws)
    try:
        await call.run()
    except Exception:
        log.exception("media stream failed")
        if call.call_sid:
            await _fall_back(services, call.call_sid)
    finally:
        await ws.close()
    return ws


async def _fall_back(services: Services, call_sid: str) -> None:
    """Whatever broke, the caller is asked to leave a message rather than looping."""
    try:
        async with services.db.session() as s:
            row = await db.conversations.lock(s, CHANNEL, call_sid,
                                              locale=services.settings.default_locale)
            st = load_call(row)
            if rules.hears(st):
                save_call(row, rules.give_up(st))
    except Exception:
        log.exception("could not record the fallback of call %s", call_sid)


def setup(app: web.Application) -> None:
    app.router.add_get("/twilio/media", media)


__all__ = ["MediaFrame", "MESSAGE_KEY", "setup"]
