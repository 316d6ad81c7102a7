"""Fixtures of the outbound-call tests: the real app on loopback (voice, calls and the operators'
Telegram alerts), the Twilio stand-in placing calls, and Twilio's side of the webhooks, signed."""

from __future__ import annotations

import asyncio
import itertools
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

import db.people
from bench.twilio_standin import PlacedCall, TwilioStandIn
from db.models import Outbox, VoiceCall
from db.session import Database
from gateway.app import create_app
from gateway.services import SERVICES, Services, build_services
from gateway.settings import Settings
from tests.conftest import TWILIO_TOKEN
from tests.twilio_sign import signed_headers

ACCOUNT = "AC" + "0" * 32
FROM_NUMBER = "+8657200000000"
WANG = "+8613800000001"  # 王奶奶, 鲁家村, in the zh-CN demo data
LI = "+8613800000002"  # 李爷爷
STRANGER = "+8613999990000"
OPERATOR_CHAT = -1001234
PARTS = ("health", "sms", "voice", "calls", "telegram")  # telegram off: alerts only queue
_sids = itertools.count(1)


def new_sid() -> str:
    return f"CA{next(_sids):032x}"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def says(xml: str) -> list[str]:
    return [(el.text or "").strip() for el in ET.fromstring(xml).iter("Say")]


@dataclass
class Gateway:
    """One gateway process: its app, its client and Twilio's side of its webhooks."""

    client: TestClient[Any, Any]
    app: Any
    fake: TwilioStandIn

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def post(self, path: str, params: dict[str, str], *, signed: bool = True
                   ) -> tuple[int, str]:
        headers = signed_headers(path, params) if signed else {"X-Twilio-Signature": "bad"}
        r = await self.client.post(path, data=params, headers=headers)
        return r.status, await r.text()

    async def missed(self, phone: str, sid: str, status: str = "no-answer",
                     duration: int = 0) -> int:
        """Twilio's status callback of a resident's own call (set on the number)."""
        code, _ = await self.post("/twilio/voice/status", {
            "CallSid": sid, "AccountSid": ACCOUNT, "From": phone, "To": FROM_NUMBER,
            "CallStatus": status, "CallDuration": str(duration), "Direction": "inbound"})
        return code

    def _outbound(self, call: PlacedCall, **extra: str) -> dict[str, str]:
        return {"CallSid": call.sid, "AccountSid": ACCOUNT, "From": call.from_, "To": call.to,
                "Direction": "outbound-api", **extra}

    async def ended(self, call: PlacedCall, status: str, duration: int = 0) -> int:
        """Twilio's status callback of a call we placed."""
        code, _ = await self.post(path_of(call.status_callback), self._outbound(
            call, CallStatus=status, CallDuration=str(duration)))
        return code

    async def answer(self, call: PlacedCall) -> str:
        """The callee picks up: Twilio fetches the call's url."""
        code, xml = await self.post(path_of(call.url), self._outbound(
            call, CallStatus="in-progress"))
        assert code == 200, xml
        return xml

    async def press(self, call: PlacedCall, xml: str, digit: str) -> str:
        gather = ET.fromstring(xml).find("Gather")
        assert gather is not None, xml
        code, out = await self.post(gather.get("action", ""), self._outbound(
            call, CallStatus="in-progress", Digits=digit))
        assert code == 200, out
        return out


async def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def wait_calls(fake: TwilioStandIn, n: int, timeout: float = 5.0) -> list[PlacedCall]:
    await wait_for(lambda: len(fake.calls) >= n, timeout)
    return list(fake.calls)


async def voice_calls(database: Database) -> list[VoiceCall]:
    async with database.session() as s:
        return list((await s.execute(select(VoiceCall).order_by(VoiceCall.id))).scalars())


async def outbox(database: Database, channel: str | None = None) -> list[Outbox]:
    async with database.session() as s:
        q = select(Outbox).order_by(Outbox.id)
        if channel is not None:
            q = q.where(Outbox.channel == channel)
        return list((await s.execute(q)).scalars())


async def set_notify(database: Database, phone: str, notify: str) -> None:
    async with database.session() as s:
        resident = await db.people.resident_by_phone(s, phone)
        assert resident is not None
        resident.notify = notify


@pytest.fixture
async def fake() -> AsyncIterator[TwilioStandIn]:
    stand_in = await TwilioStandIn(ACCOUNT, TWILIO_TOKEN).start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
def call_settings(make_settings: Callable[..., Settings], fake: TwilioStandIn
                  ) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "twilio_api_url": fake.base_url, "twilio_from_number": FROM_NUMBER,
            "quiet_hours": "", "call_retry_minutes": "0.005,0.005",
            "operator_chat_id": OPERATOR_CHAT}
        values.update(overrides)
        return make_settings(**values)
    return make


@pytest.fixture
async def start(make_client: Callable[..., Any], demo_database: Database,
                call_settings: Callable[..., Settings], fake: TwilioStandIn
                ) -> AsyncIterator[Callable[..., Any]]:
    """Start a gateway on the demo data, with a Database object of its own (a process of its
    own); its workers (outbox, call sweeps) run unless `workers=False`."""
    idle: list[Database] = []

    async def go(*, workers: bool = True, parts: tuple[str, ...] = PARTS,
                 **overrides: Any) -> Gateway:
        settings = call_settings(**overrides)
        database = Database(settings.database_url)
        if not workers:
            idle.append(database)  # else the app's workers dispose of it
        app = create_app(settings, build_services(settings, database), parts=parts,
                         workers=workers)
        client = await make_client(app)
        return Gateway(client, app, fake)

    yield go
    for database in idle:
        await database.dispose()
