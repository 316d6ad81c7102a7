"""Signing test requests exactly as Twilio does, with the twilio library's own validator."""

from __future__ import annotations

from typing import Mapping

from twilio.request_validator import RequestValidator

from tests.conftest import PUBLIC_URL, TWILIO_TOKEN


def signature(path: str, params: Mapping[str, str], token: str = TWILIO_TOKEN,
              base: str = PUBLIC_URL) -> str:
    return RequestValidator(token).compute_signature(base + path, dict(params))


def signed_headers(path: str, params: Mapping[str, str], token: str = TWILIO_TOKEN,
                   base: str = PUBLIC_URL) -> dict[str, str]:
    return {"X-Twilio-Signature": signature(path, params, token, base)}
