"""Twilio request signatures: every Twilio request is checked before anything is stored."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import time
from typing import Mapping

from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

from gateway.settings import Settings

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 64 * 1024


def public_url_for(settings: Settings, request: web.BaseRequest, *, with_query: bool = True) -> str:
    """The URL Twilio signed: DOORSTEP_PUBLIC_URL + the request's path (and query) exactly as
    they came on the wire, percent-encoding and all (Twilio signs the URL as configured)."""
    raw = request.raw_path
    return settings.public_url + (raw if with_query else raw.split("?", 1)[0])


@functools.lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def is_valid(settings: Settings, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Twilio's RequestValidator decides. Its `validate` always computes two signatures (the
    URL with and without its port); the usual case, the URL exactly as configured, is tried
    first with the validator's own `compute_signature` and compared in constant time."""
    if not settings.twilio_auth_token or not signature:
        return False
    try:
        validator = _validator(settings.twilio_auth_token)
        params = dict(params)
        if "bodySHA256" not in url and hmac.compare_digest(
                validator.compute_signature(url, params).encode(), signature.encode()):
            return True
        return bool(validator.validate(url, params, signature))
    except Exception:  # a malformed signature or parameters: simply not valid
        return False


# A call's media stream carries its own token, as the <Stream>'s <Parameter name="token">: an
# HMAC of the CallSid and an expiry under the auth token. The socket's X-Twilio-Signature
# covers only the fixed stream URL, the same for every call; the token ties a `start` frame to
# the call whose TwiML offered the stream, for a few minutes.
STREAM_TOKEN_SECONDS = 600


def _stream_mac(settings: Settings, call_sid: str, expires: int) -> str:
    key = ("doorstep-media-stream:" + (settings.twilio_auth_token or "")).encode()
    return hmac.new(key, f"{call_sid}|{expires}".encode(), hashlib.sha256).hexdigest()[:40]


def stream_token(settings: Settings, call_sid: str, *, now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + STREAM_TOKEN_SECONDS
    return f"{expires}.{_stream_mac(settings, call_sid, expires)}"


def stream_token_ok(settings: Settings, call_sid: str, token: object, *,
                    now: float | None = None) -> bool:
    """The token was made for this call and has not expired."""
    if not settings.twilio_auth_token or not isinstance(token, str) or "." not in token:
        return False
    expires, _, mac = token.partition(".")
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac.encode(), _stream_mac(settings, call_sid, int(expires)).encode())


async def verified_form(request: web.Request, settings: Settings) -> MultiDictProxy[str]:
    """Read the form of a Twilio webhook and check its signature; 403 if it does not match,
    413 if the body is larger than any Twilio webhook."""
    form = await read_form(request)
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    url = public_url_for(settings, request)
    if not is_valid(settings, url, params, request.headers.get("X-Twilio-Signature")):
        log.warning("rejected a Twilio request to %s with a bad or missing signature",
                    request.rel_url.path)
        raise web.HTTPForbidden(text="invalid Twilio signature")
    return form  # type: ignore[return-value]


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """A Twilio webhook's urlencoded form, read with the limit applied while streaming (a
    chunked body is cut off at MAX_FORM_BYTES, not at the app-wide limit): 413 when larger,
    400 when it is not UTF-8 form data."""
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES,
                                            actual_size=request.content_length)
    try:
        body = await request.content.read(MAX_FORM_BYTES + 1)
        while len(body) <= MAX_FORM_BYTES and not request.content.at_eof():
            more = await request.content.read(MAX_FORM_BYTES + 1 - len(body))
            if not more:
                break
            body += more
    except (ConnectionError, asyncio.TimeoutError):
        raise web.HTTPBadRequest(text="unreadable form body") from None
    if len(body) > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=len(body))
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict",
                          max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="the form is not UTF-8 form data") from None
    return MultiDictProxy(MultiDict(pairs))


def twiml_response(xml: str) -> web.Response:
    return web.Response(text=xml, content_type="application/xml", charset="utf-8")
