"""Twilio's Calls API played by nobody: `serve --demo` (Settings.simulated_calls) places its
outbound calls here, and they ring on the console's try-it page, which answers them through the
real webhooks (gateway.channels.console.tryphone)."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from db.models import Outbox
from gateway.channels.twilio.rest import TwilioRest
from gateway.errors import SendError

log = logging.getLogger(__name__)


class SimulatedPhone(TwilioRest):
    """Twilio's Calls API for simulated calls: placing a call names it (a CallSid, as Twilio
    would) and nothing more. No network: TWILIO_API_URL is never used."""

    async def place_call(self, *, to: str, url: str, status_callback: str,
                         ring_seconds: int = 30) -> str:
        sid = "CA" + secrets.token_hex(16)
        log.info("simulated call %s to %s rings on the try-it page", sid, to)
        return sid

    async def find_call(self, to: str, since: datetime) -> str | None:
        return None  # a try is ringing only once its sid is recorded

    async def call_status(self, sid: str) -> tuple[str, float, str] | None:
        return ("no-answer", 0.0, "")  # left ringing on the page past the sweep: not answered

    async def __call__(self, row: Outbox) -> str | None:
        raise SendError("the simulated phone sends no texts", permanent=True)

    async def close(self) -> None:
        return None
