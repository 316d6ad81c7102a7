"""Fixtures of the SMS tests: the real app on loopback with the demo data, a Twilio stand-in for
outbound texts, and a helper that posts signed texts exactly as Twilio does."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestClient

from db.session import Database
from gateway.app import create_app
from gateway.services import build_services
from gateway.settings import Settings
from bench.twilio_standin import TwilioStandIn
from tests.twilio_sign import signed_headers

GRANDMA = "+8613800000001"  # 王奶奶 in the zh-CN demo residents
GRANDPA = "+8613800000002"
STRANGER = "+8613999999999"
FROM_NUMBER = "+8610690000"
_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_sids = itertools.count(1)


def new_sid() -> str:
    return f"SM{next(_sids):032x}"


def reply_text(xml: str) -> str:
    m = _MESSAGE.search(xml)
    return html.unescape(m.group(1)) if m else ""


@dataclass
class Texter:
    """Posts signed inbound texts to the app and returns (status, reply text)."""

    client: TestClient[Any, Any]
    app: Any

    async def post(self, params: dict[str, str], headers: dict[str, str] | None = None
                   ) -> tuple[int, str]:
        h = signed_headers("/twilio/sms", params) if headers is None else headers
        r = await self.client.post("/twilio/sms", data=params, headers=h)
        return r.status, await r.text()

    async def text(self, body: str, phone: str = GRANDMA, sid: str | None = None,
                   **extra: str) -> str:
        params = {"MessageSid": sid or new_sid(), "AccountSid": "AC" + "0" * 32,
                  "From": phone, "To": FROM_NUMBER, "Body": body, "NumMedia": "0", **extra}
        status, xml = await self.post(params)
        assert status == 200, xml
        assert xml.startswith("<?xml")
        return reply_text(xml)


@pytest.fixture
async def fake_twilio() -> AsyncIterator[TwilioStandIn]:
    fake = await TwilioStandIn("AC" + "0" * 32, "test-twilio-auth-token").start()
    yield fake
    await fake.stop()


@pytest.fixture
def sms_settings(make_settings: Callable[..., Settings], fake_twilio: TwilioStandIn
                 ) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = dict(twilio_api_url=fake_twilio.base_url,
                                      twilio_from_number=FROM_NUMBER)
        values.update(overrides)
        return make_settings(**values)
    return make


@pytest.fixture
def start_app(make_client: Callable[..., Any], demo_database: Database,
              sms_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """Start the real app (outbox worker included) on the demo database; returns a Texter."""

    async def start(database: Database | None = None, **overrides: Any) -> Texter:
        settings = sms_settings(**overrides)
        db = database or Database(settings.database_url)
        app = create_app(settings, build_services(settings, db))
        client = await make_client(app)
        return Texter(client, app)

    return start


@pytest.fixture
async def texter(start_app: Callable[..., Any]) -> Texter:
    return await start_app()
