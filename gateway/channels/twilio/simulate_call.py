"""`doorstep simulate call`: play a caller into a running gateway exactly as Twilio would.

It posts signed voice webhooks, follows the TwiML (<Say>, <Gather>, <Connect><Stream>,
<Redirect>, <Record>, <Hangup>), streams WAV audio as 20 ms mu-law Media Streams frames over a
signed websocket, presses keys, and serves a left message from a loopback "recording" URL.
It prints what the caller heard.

Caller script: each <Stream> speaks the next WAV (then silence, as a live line does, until the
gateway closes the socket). Keys in --digits are pressed one per <Gather>, starting with the
first <Gather> after all WAVs were spoken (without --wav: from the greeting on).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import aiohttp
import click
from aiohttp import web

from gateway.channels.twilio.webhook_client import Twilio
from voice.audio import FRAME_BYTES, read_wav, silence_ulaw, ulaw_encode, ulaw_rms, wav_bytes

MAX_STEPS = 40
MAX_STREAM_SECONDS = 30.0
SAY_SECONDS_PER_CHAR = 0.12
RECORDING_WAIT = 15.0


@dataclass
class CallLog:
    call_sid: str
    heard: list[str] = field(default_factory=list)  # what the caller heard, in order
    events: list[str] = field(default_factory=list)  # what happened, for people and tests
    readback_latency: list[float] = field(default_factory=list)  # end of speech -> next TwiML
    hung_up: bool = False

    def lines(self) -> list[str]:
        return self.events


def _texts(el: ET.Element) -> list[str]:
    return [" ".join((s.text or "").split()) for s in el.iter("Say") if (s.text or "").strip()]


class Caller:
    def __init__(self, twilio: Twilio, phone: str, speech: list[bytes], digits: str,
                 *, pace: float = 0.0, hang_up_after: float | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        self.t, self.phone = twilio, phone
        self.speech = list(speech)  # mu-law, one per <Stream>
        self.digits = list(digits)
        self.pace = pace
        self.hang_up_after = hang_up_after
        self.echo = echo or (lambda line: None)
        self.log = CallLog("CA" + secrets.token_hex(16))
        self.last_audio = speech[-1] if speech else silence_ulaw(1.0)
        self._spoke_all = not speech
        self._end_of_speech: float | None = None

    async def _listen(self, text: str) -> None:
        """In real time, the caller hears the prompt out before acting (about 8 characters a
        second, as Twilio's <Say> speaks Chinese and Korean)."""
        if self.pace:
            await asyncio.sleep(len(text) * SAY_SECONDS_PER_CHAR / self.pace)

    def _note(self, line: str) -> None:
        self.log.events.append(line)
        self.echo(line)

    def _params(self, **extra: str) -> dict[str, str]:
        return {"CallSid": self.log.call_sid, "AccountSid": self.t.account_sid,
                "From": self.phone, "To": "+10000000000", "CallStatus": "in-progress",
                "Direction": "inbound", **extra}

    async def post(self, http: aiohttp.ClientSession, url: str, **extra: str) -> str:
        params = self._params(**extra)
        async with http.post(self.t.local(url), data=params,
                             headers=self.t.sign(self.t.public(url), params)) as r:
            body = await r.text()
            if r.status != 200:
                raise click.ClickException(f"{url}: HTTP {r.status} {body[:200]}")
            if self._end_of_speech is not None:
                self.log.readback_latency.append(time.monotonic() - self._end_of_speech)
                self._end_of_speech = None
            return body

    async def run(self) -> CallLog:
        async with aiohttp.ClientSession() as http:
            recording = _RecordingServer(self.last_audio)
            await recording.start()
            try:
                xml = await self.post(http, "/twilio/voice", CallStatus="ringing")
                for _ in range(MAX_STEPS):
                    nxt = await self._execute(http, xml, recording)
                    if nxt is None:
                        break
                    xml = nxt
            finally:
                if recording.offered:  # like Twilio, keep the message until the gateway has it
                    try:
                        await asyncio.wait_for(recording.served.wait(), RECORDING_WAIT)
                    except asyncio.TimeoutError:
                        self._note("[the gateway did not fetch the recording]")
                await recording.stop()
        return self.log

    async def _execute(self, http: aiohttp.ClientSession, xml: str,
                       recording: _RecordingServer) -> str | None:
        try:
            root = ET.fromstring(xml)
        except ET.ParseError:
            self._note(f"[not TwiML: {xml[:80]!r}]")
            return None
        for verb in root:
            if verb.tag in ("Say", "Gather"):
                for text in _texts(verb):
                    self.log.heard.append(text)
                    self._note(f"gateway: {text}")
                    await self._listen(text)
            if verb.tag == "Say":
                pass
            elif verb.tag == "Gather":
                if self._spoke_all and self.digits:
                    digit = self.digits.pop(0)
                    self._note(f"caller presses {digit}")
                    return await self.post(http, verb.get("action", ""), Digits=digit)
            elif verb.tag == "Connect":
                stream = verb.find("Stream")
                if stream is not None:
                    await self._stream(http, stream.get("url", ""), {
                        q.get("name", ""): q.get("value", "") for q in stream.iter("Parameter")})
            elif verb.tag == "Redirect":
                return await self.post(http, (verb.text or "").strip())
            elif verb.tag == "Record":
                self._note("caller leaves a message")
                recording.offered = True
                return await self.post(
                    http, verb.get("action", ""), RecordingUrl=recording.url,
                    RecordingSid="RE" + secrets.token_hex(16),
                    RecordingDuration=str(round(len(self.last_audio) / 8000)))
            elif verb.tag == "Hangup":
                self._note("[the gateway hangs up]")
                return None
        self._note("[end of TwiML]")
        return None

    async def _stream(self, http: aiohttp.ClientSession, url: str,
                      custom: dict[str, str] | None = None) -> None:
        audio = self.speech.pop(0) if self.speech else b""
        if not self.speech:
            self._spoke_all = True
        ws_url = self.t.local(url).replace("http", "ws", 1) if url.startswith("http") else \
            self.t.base_url.replace("http", "ws", 1) + urlsplit(url).path
        sig = self.t.sign(url, {})
        stream_sid = "MZ" + secrets.token_hex(16)
        self._note(f"[stream: caller speaks {len(audio) / 8000:.1f} s]" if audio else
                   "[stream: caller stays silent]")
        async with http.ws_connect(ws_url, headers=sig) as ws:
            await ws.send_str(json.dumps({"event": "connected", "protocol": "Call",
                                          "version": "1.0.0"}))
            await ws.send_str(json.dumps({"event": "start", "sequenceNumber": "1",
                                          "streamSid": stream_sid, "start": {
                                              "streamSid": stream_sid, "callSid": self.log.call_sid,
                                              "accountSid": self.t.account_sid,
                                              "tracks": ["inbound"], "customParameters": custom or {},
                                              "mediaFormat": {"encoding": "audio/x-mulaw",
                                                              "sampleRate": 8000, "channels": 1}}}))
            closed = asyncio.ensure_future(ws.receive())
            sent = 0.0
            speech_end = last_voiced(audio)
            silence = silence_ulaw(0.02)
            seq = 2
            t0 = time.monotonic()
            try:
                while not closed.done() and sent < MAX_STREAM_SECONDS + speech_end:
                    i = int(sent * 8000)
                    frame = audio[i:i + FRAME_BYTES] if i < len(audio) else silence
                    frame = frame.ljust(FRAME_BYTES, b"\xff")
                    await ws.send_str(json.dumps({
                        "event": "media", "sequenceNumber": str(seq), "streamSid": stream_sid,
                        "media": {"track": "inbound", "chunk": str(seq - 1),
                                  "timestamp": str(int(sent * 1000)),
                                  "payload": base64.b64encode(frame).decode()}}))
                    seq += 1
                    sent += 0.02
                    if speech_end and self._end_of_speech is None and \
                            sent >= speech_end + 0.8 - 1e-6:  # the gateway's end-of-speech frame
                        self._end_of_speech = time.monotonic()
                    if self.hang_up_after is not None and sent >= self.hang_up_after:
                        await ws.send_str(json.dumps({"event": "stop", "streamSid": stream_sid,
                                                      "stop": {"callSid": self.log.call_sid}}))
                        self._note("[caller hangs up]")
                        self.log.hung_up = True
                        break
                    if self.pace:  # keep to the schedule of a live line, without drift
                        await asyncio.sleep(max(0.0, t0 + sent / self.pace - time.monotonic()))
                    else:
                        await asyncio.sleep(0)
            except (ConnectionError, RuntimeError):
                pass
            finally:
                if not closed.done():
                    await ws.close()
                closed.cancel()
                await asyncio.gather(closed, return_exceptions=True)
        if self.log.hung_up:
            raise _HungUp()
        self._note("[stream closed by the gateway]")


def last_voiced(audio: bytes, threshold: float = 300.0) -> float:
    """Seconds up to the end of the last 20 ms frame loud enough to count as speech (0 if none)."""
    end = 0
    for i in range(0, len(audio), FRAME_BYTES):
        if ulaw_rms(audio[i:i + FRAME_BYTES]) >= threshold:
            end = i + FRAME_BYTES
    return end / 8000


class _HungUp(Exception):
    pass


class _RecordingServer:
    """A loopback stand-in for api.twilio.com serving the caller's left message."""

    def __init__(self, ulaw: bytes) -> None:
        self.wav = wav_bytes(ulaw=ulaw)
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.offered = False
        self.served = asyncio.Event()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._serve)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = (f"http://127.0.0.1:{port}/2010-04-01/Accounts/AC/Recordings/"
                    f"RE{secrets.token_hex(16)}")

    async def _serve(self, request: web.Request) -> web.Response:
        self.served.set()
        return web.Response(body=self.wav, content_type="audio/x-wav")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def place_call(twilio: Twilio, phone: str, speech: list[bytes], digits: str = "",
                     **kw: Any) -> CallLog:
    caller = Caller(twilio, phone, speech, digits, **kw)
    try:
        return await caller.run()
    except _HungUp:
        return caller.log


def load_speech(path: Path) -> bytes:
    """Any WAV file as the mu-law a phone line carries."""
    return ulaw_encode(read_wav(path, max_seconds=60))


def _said(texts: tuple[str, ...]) -> list[bytes]:
    """Each text as a caller's turn (voice.synth.speak), a little silence either side."""
    import tempfile

    from voice import synth

    out: list[bytes] = []
    bank = synth.WordBank(synth.PERSON_BANK)
    with tempfile.TemporaryDirectory() as tmp:
        for text in texts:
            pcm, voice = synth.speak(text, Path(tmp), bank=bank)
            click.echo(f"[says in {voice}: {text}]", err=True)
            out.append(silence_ulaw(0.3) + ulaw_encode(pcm) + silence_ulaw(0.3))
    return out


@click.command("call")
@click.option("--from", "phone", required=True, help="The caller's number, e.g. +8613800000000.")
@click.option("--wav", "wavs", multiple=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="What the caller says at each listening turn (repeatable).")
@click.option("--say", "says", multiple=True, help="Instead of --wav: what the caller says at "
              "each listening turn, as text (repeatable): Chinese in a person's recorded words "
              "where they can say it, else espeak-ng; e.g. --say 大米两袋 --say 是.")
@click.option("--digits", default="", help="Keys pressed at the prompts after speaking, e.g. 1.")
@click.option("--url", default=None, help="Where the gateway listens (default "
              "http://DOORSTEP_HOST:DOORSTEP_PORT).")
@click.option("--realtime", is_flag=True, help="Send audio at the pace of a real call.")
@click.option("--hang-up-after", type=float, default=None,
              help="Hang up this many seconds into the first stream.")
def call(phone: str, wavs: tuple[Path, ...], says: tuple[str, ...], digits: str,
         url: str | None, realtime: bool, hang_up_after: float | None) -> None:
    """Play a phone call into a running gateway (signed webhooks, media frames, keys)."""
    from gateway.cli.common import cli_settings as _settings
    from gateway.cli.common import twilio_token

    settings = _settings()
    base = url or f"http://{settings.host}:{settings.port}"
    # TWILIO_AUTH_TOKEN, or the token a `serve --demo` in this folder left (as simulate sms)
    twilio = Twilio(base, settings.public_url, twilio_token(settings),
                    settings.twilio_account_sid or "AC" + "0" * 32)
    if wavs and says:
        raise click.UsageError("give the caller's words either as --wav files or as --say texts")
    try:
        speech = [load_speech(p) for p in wavs] or _said(says)
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    digits = "".join(d for d in digits if d in "0123456789*#")
    try:
        log = asyncio.run(place_call(twilio, phone, speech, digits, pace=1.0 if realtime else 0.0,
                                     hang_up_after=hang_up_after, echo=click.echo))
    except aiohttp.ClientError as exc:
        raise click.ClickException(f"cannot reach the gateway at {base}: {exc}") from None
    if log.readback_latency:
        click.echo(f"[end of speech -> next prompt: {log.readback_latency[0] * 1000:.0f} ms]",
                   err=True)
    sys.stdout.flush()
