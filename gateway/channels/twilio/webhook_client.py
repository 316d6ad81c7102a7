"""Twilio's side of our webhooks, for our own clients: the forms Twilio posts, signed as
Twilio signs them, and the texts of the TwiML that comes back.

One seam for every client that plays Twilio against a gateway: `doorstep simulate sms|call`,
the console's try-it page and the benches. The gateway's own check is `signature.py`.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from twilio.request_validator import RequestValidator

SMS_PATH = "/twilio/sms"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32


@dataclass
class Twilio:
    """How to reach and sign for the gateway: `base_url` is where it listens, `public_url`
    the URL it believes Twilio uses (DOORSTEP_PUBLIC_URL, which signatures cover)."""

    base_url: str
    public_url: str
    auth_token: str
    account_sid: str = DEFAULT_ACCOUNT_SID

    def sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        """The signature header for a request to the full URL `url` as Twilio would call it."""
        return {"X-Twilio-Signature": RequestValidator(self.auth_token).compute_signature(
            url, params)}

    def local(self, url: str) -> str:
        """A public URL (or a path) as the address of the local gateway."""
        parts = urlsplit(urljoin(self.public_url + "/", url))
        return self.base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")

    def public(self, url: str) -> str:
        parts = urlsplit(urljoin(self.public_url + "/", url))
        return self.public_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def inbound_form(phone: str, body: str, *, to: str, account_sid: str,
                 sid: str | None = None) -> dict[str, str]:
    """The form of a Twilio inbound SMS webhook."""
    sid = sid or "SM" + uuid.uuid4().hex
    return {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": account_sid,
            "From": phone, "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1",
            "ApiVersion": "2010-04-01"}


def twiml_texts(xml: str) -> list[str]:
    """The texts of <Message>, <Say> and <Body> in a TwiML answer."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    return [(el.text or "").strip() for el in root.iter() if el.tag in ("Message", "Say", "Body")
            and (el.text or "").strip()]
