"""Twilio's REST API for this account, in one class: outbound SMS (the outbox sender of the
"sms" channel), outbound calls (placed for gateway.channels.twilio.calls, the "call" channel)
and the download of a caller's left message.

Errors are translated into `SendError` at this boundary: rate limits and server errors are
retried (with Twilio's Retry-After when given), refusals of the message itself (bad number,
unsubscribed recipient) are permanent. A time-out is ambiguous (Twilio may have accepted the
message), so before trying a row again the sender looks for a message it already created with
the same recipient and body, and records that one instead of sending a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from db.models import Outbox
from gateway.errors import SendError
from gateway.services import Services
from gateway.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Twilio error codes about the message or recipient, which no retry will fix.
PERMANENT_CODES = frozenset({21211, 21408, 21610, 21612, 21614, 21617, 30003, 30004, 30005,
                             30006, 30007})
# The same for calls: a number that cannot be called, a country not enabled for calls.
CALL_PERMANENT_CODES = frozenset({13223, 13224, 13225, 13226, 13227, 21210, 21211, 21215,
                                  21216, 21217, 21401})


class _HttpClient(AsyncTwilioHttpClient):
    """twilio's aiohttp client with the Authorization header set directly (aiohttp deprecates
    its BasicAuth helper) and a total time-out per request."""

    def __init__(self, timeout: float) -> None:
        super().__init__(pool_connections=False)
        self.total_timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def request(self, method: str, url: str, params: Any = None, data: Any = None,
                      headers: Any = None, auth: Any = None, timeout: Any = None,
                      allow_redirects: bool = False) -> Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.total_timeout))
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        async with self._session.request(method.upper(), url, params=params, data=data,
                                         headers=headers, allow_redirects=allow_redirects
                                         ) as r:
            return Response(r.status, await r.text(), r.headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class TwilioRest:
    """`await rest(outbox_row)` sends the row's text and returns Twilio's message sid;
    `await rest.fetch_recording(url)` downloads a recording. Both honour TWILIO_API_URL."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._client: Client | None = None
        self._http: _HttpClient | None = None

    def _twilio(self) -> Client:
        """Created on first use, inside the running loop (aiohttp sessions belong to one)."""
        if self._client is None:
            self._http = _HttpClient(self.timeout)
            self._client = Client(self.settings.twilio_account_sid,
                                  self.settings.twilio_auth_token, http_client=self._http)
            if self.settings.twilio_api_url:
                self._client.api.base_url = self.settings.twilio_api_url.rstrip("/")
        return self._client

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._client = self._http = None

    async def __call__(self, row: Outbox) -> str | None:
        if not (self.settings.twilio_account_sid and self.settings.twilio_auth_token):
            raise SendError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to send SMS")
        client = self._twilio()
        if row.attempts > 0:
            earlier = await self._already_sent(client, row)
            if earlier is not None:
                log.info("outbox %s was already accepted by Twilio as %s", row.id, earlier)
                return earlier
        kwargs: dict[str, Any] = {"to": row.recipient, "body": row.body}
        if self.settings.twilio_from_number:
            kwargs["from_"] = self.settings.twilio_from_number
        message = await self._api(client.messages.create_async(**kwargs))
        return str(message.sid)

    async def _api(self, request: Awaitable[T], permanent: frozenset[int] = PERMANENT_CODES,
                   what: str = "message") -> T:
        """One request to Twilio's API, its errors as SendError (see `_translate`)."""
        try:
            return await asyncio.wait_for(request, self.timeout)
        except TwilioRestException as exc:
            raise _translate(exc, permanent, what=what) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"Twilio unreachable: {exc!r}") from None

    async def place_call(self, *, to: str, url: str, status_callback: str,
                         ring_seconds: int = 30) -> str:
        """Start an outbound call whose TwiML is fetched from `url`; Twilio posts its final
        status to `status_callback`. Returns the CallSid."""
        settings = self.settings
        if not (settings.twilio_account_sid and settings.twilio_auth_token
                and settings.twilio_from_number):
            raise SendError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER are "
                            "needed to place calls")
        client = self._twilio()
        extra: dict[str, Any] = {}
        if settings.call_machine_detection:  # AnsweredBy comes with the webhooks
            extra["machine_detection"] = "Enable"
        call = await self._api(client.calls.create_async(
            to=to, from_=settings.twilio_from_number, url=url, method="POST",
            status_callback=status_callback, status_callback_method="POST",
            timeout=ring_seconds, **extra), CALL_PERMANENT_CODES, what="call")
        return str(call.sid)

    async def find_call(self, to: str, since: datetime) -> str | None:
        """The sid of an outbound call to `to` created since `since` (after an ambiguous
        failure to place one: Twilio may have started it)."""
        client = self._twilio()
        try:
            found = await asyncio.wait_for(client.calls.list_async(to=to, limit=20),
                                           self.timeout)
        except Exception as exc:  # noqa: BLE001 - can't tell: calling now could ring twice
            raise SendError(f"could not check for an earlier call: {exc!r}") from None
        for c in found:
            created = c.date_created
            if (c.direction or "").startswith("outbound") and created is not None \
                    and created >= since - timedelta(seconds=5):
                return str(c.sid)
        return None

    async def call_status(self, sid: str) -> tuple[str, float, str] | None:
        """(status, duration in seconds, answered by) of a call; None if Twilio has none."""
        client = self._twilio()
        try:
            c = await asyncio.wait_for(client.calls(sid).fetch_async(), self.timeout)
        except TwilioRestException as exc:
            if exc.status == 404:
                return None
            raise _translate(exc, CALL_PERMANENT_CODES, what="call") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"Twilio unreachable: {exc!r}") from None
        return str(c.status or ""), seconds(c.duration), str(c.answered_by or "")

    def recording_url(self, url: str) -> str:
        """A RecordingUrl as WAV, pointed at TWILIO_API_URL when that override is set."""
        base = self.settings.twilio_api_url
        if base:
            parts = urlsplit(url)
            url = base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
        return url if url.endswith(".wav") else url + ".wav"

    async def fetch_recording(self, url: str, *, timeout: float = 60.0) -> bytes | None:
        """The recording's WAV bytes; None when Twilio does not have it (yet). Network errors
        are raised as SendError."""
        settings = self.settings
        auth = aiohttp.encode_basic_auth(settings.twilio_account_sid or "",
                                         settings.twilio_auth_token or "")
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http, \
                    http.get(self.recording_url(url), headers={"Authorization": auth}) as r:
                if r.status == 200:
                    return await r.read()
                log.warning("recording %s: HTTP %s", url, r.status)
                return None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"Twilio unreachable: {exc!r}") from None

    async def _already_sent(self, client: Client, row: Outbox) -> str | None:
        """The sid of a message Twilio already has for this row (after an ambiguous failure)."""
        try:
            since = row.created_at - timedelta(minutes=1)
            found = await asyncio.wait_for(client.messages.list_async(
                to=row.recipient, date_sent_after=since, limit=50), self.timeout)
        except Exception as exc:  # noqa: BLE001 - can't tell: sending now could double
            raise SendError(f"could not check for an earlier send: {exc!r}") from None
        for m in found:
            if m.body == row.body and m.status not in ("failed", "undelivered", "canceled"):
                return str(m.sid)
        return None


def seconds(value: Any) -> float:
    """A duration Twilio gives as text (CallDuration, RecordingDuration); 0 when missing or
    not a number."""
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _translate(exc: TwilioRestException, permanent: frozenset[int] = PERMANENT_CODES,
               what: str = "message") -> SendError:
    status = exc.status or 0
    code = exc.code or 0
    if status == 429:
        return SendError(f"Twilio rate limit ({code}): {exc.msg}", retry_after=None)
    if status >= 500:
        return SendError(f"Twilio server error {status} ({code}): {exc.msg}")
    if code in permanent or status in (400, 404):
        return SendError(f"Twilio refused the {what} ({status}/{code}): {exc.msg}",
                         permanent=True)
    if status in (401, 403):  # credentials: fixable by the operator, keep the message
        return SendError(f"Twilio refused the credentials ({status}/{code}): {exc.msg}")
    return SendError(f"Twilio error {status} ({code}): {exc.msg}")


def register(app: web.Application, services: Services) -> None:
    """Register the sender for the outbox channel "sms" when Twilio can send."""
    settings = services.settings
    if not settings.twilio_account_sid:
        log.warning("TWILIO_ACCOUNT_SID is not set: outbound SMS wait in the outbox")
        return
    if not settings.twilio_from_number:
        log.warning("TWILIO_FROM_NUMBER is not set: outbound SMS wait in the outbox")
        return
    sender = TwilioRest(settings)
    services.outbox.register("sms", sender)

    async def _close(_app: web.Application) -> None:
        await sender.close()

    app.on_cleanup.append(_close)
