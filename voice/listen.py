"""One utterance from a stream of mu-law frames: end-pointing, pre-roll, recognition.

The media socket pushes each frame's payload; the listener opens a recogniser stream only
when speech starts (silence costs no decoding), feeds it, and finishes it at the end.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

from voice.audio import ulaw_decode, ulaw_rms
from voice.endpoint import EndpointConfig, Endpointer, Event
from voice.recognizer import Alternative, RecognitionError, Recognizer, Stream


MAX_PREROLL = 40  # frames of audio kept from before speech starts (0.8 s)


class Outcome(enum.Enum):
    SPEECH = "speech"  # alternatives may still be empty if nothing was recognised
    NO_SPEECH = "no_speech"
    FAILED = "failed"  # the recogniser failed (worker crash, no model): fall back to recording


@dataclass
class Utterance:
    outcome: Outcome
    alternatives: list[Alternative] = field(default_factory=list)
    reason: str = ""  # silence | max_length | timeout | forced
    speech_seconds: float = 0.0
    error: str = ""
    ended_at: float = 0.0  # time.monotonic() when the end of speech was detected

    @property
    def texts(self) -> list[str]:
        return [a.text for a in self.alternatives if a.text]


class Listener:
    """Push mu-law payloads with `push`; when it returns True the utterance is over and
    `result()` gives it. `end()` forces the end (the caller pressed #, or hung up)."""

    def __init__(self, recognizer: Recognizer | None, locale: str,
                 words: Sequence[str] | None = None, config: EndpointConfig | None = None) -> None:
        self.recognizer, self.locale, self.words = recognizer, locale, words
        self.endpointer = Endpointer(config)
        self._preroll: deque[bytes] = deque(maxlen=self.endpointer.preroll_frames + MAX_PREROLL)
        self._stream: Stream | None = None
        self._held: list[bytes] = []  # silent frames inside speech, fed only if speech resumes
        self._error = ""
        self._done = False
        self.ended_at = 0.0

    @property
    def done(self) -> bool:
        return self._done

    async def push(self, payload: bytes) -> bool:
        """One media payload (any length; 160 bytes = 20 ms); True when the utterance is over."""
        if self._done:
            return True
        event = self.endpointer.push(ulaw_rms(payload))
        if event is Event.NONE:
            if self.endpointer.state != "speech":
                self._preroll.append(payload)
            elif self.endpointer.voiced:  # a pause inside speech: it reaches the recogniser
                for chunk in self._held:
                    await self._feed(chunk)
                self._held.clear()
                await self._feed(payload)
            else:
                self._held.append(payload)
            return False
        if event is Event.START:
            await self._open()
            # the voiced run that started the utterance (minus this frame), and the pre-roll
            # An engine may want audio from before the voiced run (Whisper: the soft onset of
            # 是 "sh" is below the energy threshold; without it 是 is heard as 肥).
            wanted = round(getattr(self._stream, "preroll_s", 0.0) / self.endpointer.config.frame_s)
            keep = max(self.endpointer.preroll_frames, min(wanted, MAX_PREROLL - 8)) + \
                self.endpointer.speech_frames - 1
            for chunk in list(self._preroll)[-keep:] if keep > 0 else []:
                await self._feed(chunk)
            self._preroll.clear()
            await self._feed(payload)
            return False
        self._held.append(payload)
        await self._feed_tail()
        self._mark_done()
        return True

    async def _feed_tail(self) -> None:
        """The start of the trailing silence (tail_s) only; the rest is not decoded."""
        ep = self.endpointer
        keep = round(ep.config.tail_s / ep.config.frame_s)
        for chunk in self._held[:keep]:
            await self._feed(chunk)
        self._held.clear()

    def end(self) -> None:
        if not self._done:
            self.endpointer.force_end()
            self._mark_done()

    def _mark_done(self) -> None:
        self._done = True
        self.ended_at = time.monotonic()

    async def _open(self) -> None:
        if self.recognizer is None:
            self._error = "no recogniser"
            return
        try:
            self._stream = await self.recognizer.open(self.locale, self.words)
        except RecognitionError as exc:
            self._error = str(exc) or type(exc).__name__

    async def _feed(self, payload: bytes) -> None:
        if self._stream is None:
            return
        try:
            await self._stream.feed(ulaw_decode(payload))
        except RecognitionError as exc:
            self._error = str(exc) or type(exc).__name__
            self._stream = None

    async def result(self) -> Utterance:
        """Finish recognition (call once `push` returned True or after `end`)."""
        ep = self.endpointer
        seconds = ep.speech_frames * ep.config.frame_s
        if ep.state != "done":
            self.end()
        if ep.started_at < 0:
            await self.cancel()
            return Utterance(Outcome.NO_SPEECH, reason=ep.reason, ended_at=self.ended_at)
        if self._held:  # ended by a key or a hang-up during a pause
            await self._feed_tail()
        stream, self._stream = self._stream, None
        if stream is None:
            return Utterance(Outcome.FAILED, reason=ep.reason, speech_seconds=seconds,
                             error=self._error or "recognition unavailable",
                             ended_at=self.ended_at)
        try:
            alts = await stream.finish()
        except RecognitionError as exc:
            return Utterance(Outcome.FAILED, reason=ep.reason, speech_seconds=seconds,
                             error=str(exc) or type(exc).__name__, ended_at=self.ended_at)
        return Utterance(Outcome.SPEECH, alts, ep.reason, seconds, ended_at=self.ended_at)

    async def cancel(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(RecognitionError):
                await stream.cancel()
