"""Helpers for call tests: the real app with an injected recogniser, and a Twilio-like caller."""

from __future__ import annotations

import math
from array import array
from typing import Any, Callable, Sequence

from gateway.app import create_app
from gateway.services import build_services
from gateway.settings import Settings
from gateway.channels.twilio.simulate_call import CallLog, place_call
from gateway.channels.twilio.webhook_client import Twilio
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN
from voice.audio import silence_ulaw, ulaw_encode
from voice.recognizer import FakeEngine, LocalRecognizer

PARTS = ("health", "api", "voice", "media")


def tone(seconds: float = 0.6, amp: int = 8000) -> bytes:
    """Something loud enough to be speech for the end-pointer (the fake engine decides words)."""
    n = int(8000 * seconds)
    pcm = array("h", (int(amp * math.sin(i * 0.31)) for i in range(n))).tobytes()
    return silence_ulaw(0.3) + ulaw_encode(pcm)


def scripted(answers: Sequence[str | list[str]], locales: Sequence[str] = ("zh-CN", "ko-KR")
             ) -> tuple[LocalRecognizer, list[Any]]:
    """A recogniser answering each utterance with the next scripted text(s)."""
    queue: list[Any] = [a if isinstance(a, list) else [a] for a in answers]
    words_seen: list[Any] = []

    def answer(pcm: bytes, words: Sequence[str] | None) -> list[str]:
        words_seen.append(words)
        return queue.pop(0) if queue else []

    return LocalRecognizer(FakeEngine(answer=answer, locales=locales)), words_seen


async def start(make_client: Callable[..., Any], settings: Settings, database: Any,
                recognizer: Any | None) -> tuple[Any, Twilio]:
    services = build_services(settings, database)
    if recognizer is not None:
        services.recognizer = recognizer
    app = create_app(settings, services, parts=PARTS, workers=False)
    client = await make_client(app)
    base = str(client.make_url("")).rstrip("/")
    return client, Twilio(base, PUBLIC_URL, TWILIO_TOKEN)


async def call(twilio: Twilio, phone: str, speech: list[bytes], digits: str = "",
               **kw: Any) -> CallLog:
    return await place_call(twilio, phone, speech, digits, **kw)
