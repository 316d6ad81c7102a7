"""The real gateway (webhook mode) talking to the Bot API emulator on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

import db.orders
import db.people
from db.models import Leader, Order, Recording
from gateway.app import create_app
from gateway.orders.events import change_status
from gateway.services import SERVICES, Services
from tests.telegram.emulator import BotApiEmulator

TOKEN = "123456:TEST-doorstep-token"
OPERATOR_CHAT = -100777
SECRET = "test-webhook-secret"

# Only what this suite exercises; the other adapters have suites of their own.
PARTS = ("health", "telegram", "dispatch")

# A village near Huzhou; leaders a few hundred metres to some kilometres apart.
HOME = (30.6000, 119.7000)
RICE = {"sku": "rice", "name": "大米", "quantity": 2, "unit": "袋"}
PORK = {"sku": "pork", "name": "猪肉", "quantity": "1.5", "unit": "斤"}


@dataclass
class Harness:
    services: Services
    emu: BotApiEmulator
    client: Any

    @property
    def dispatcher(self) -> Any:
        return self.services.dispatcher

    async def leader(self, user_id: int, name: str, lat: float, lon: float, *,
                     link: bool = True, **fields: Any) -> Leader:
        """A leader added like `doorstep leaders add`, linked through /start <invite code>."""
        async with self.services.db.session() as s:
            ld, _ = await db.people.upsert_leader(s, f"+86139{user_id:08d}", name=name,
                                                  lat=lat, lon=lon, **fields)
        if link:
            await self.emu.send_text(user_id, f"/start {ld.invite_code}")
            await self.emu.wait_message(user_id, "已绑定")
        return ld

    async def resident(self, phone: str = "+8613800000001", name: str = "王奶奶",
                       lat: float | None = HOME[0], lon: float | None = HOME[1],
                       **fields: Any) -> Any:
        async with self.services.db.session() as s:
            r, _ = await db.people.upsert_resident(s, phone, name=name, address="鲁家村3号",
                                                   village="鲁家村", lat=lat, lon=lon, **fields)
            return r

    async def order(self, resident: Any, items: list[dict[str, Any]] | None = None,
                    status: str = "confirmed", recording: str | None = None) -> int:
        """An order as the SMS or voice code would create and confirm it."""
        async with self.services.db.session() as s:
            o = await db.orders.create(s, channel="voice" if recording else "sms",
                                       phone=resident.phone, status="draft", actor="resident",
                                       resident_id=getattr(resident, "id", None),
                                       items=items or [RICE, PORK])
            if recording:
                s.add(Recording(order_id=o.id, call_sid=f"CA{o.id}", path=recording,
                                duration_s=2.0))
                await s.flush()
                await s.refresh(o, ["recordings"])
            await change_status(s, o, status, actor="resident",
                                listeners=self.services.listeners)
            oid = o.id
        self.services.wake_dispatcher()
        return oid

    async def assign_by_hand(self, order_id: int, leader: Leader) -> None:
        """An operator gives the order to `leader`, as the console does."""
        async with self.services.db.session() as s:
            o = await db.orders.get(s, order_id)
            assert o is not None
            o.leader_id = leader.id
            await change_status(s, o, "assigned", actor="operator:admin",
                                listeners=self.services.listeners)
        self.services.outbox.wake()

    async def get_order(self, order_id: int) -> Order:
        async with self.services.db.session() as s:
            o = await db.orders.get(s, order_id)
            assert o is not None
            return o

    async def wait_status(self, order_id: int, status: str, timeout: float = 10.0) -> Order:
        order: list[Order] = []

        async def check() -> bool:
            order[:] = [await self.get_order(order_id)]
            return order[0].status == status

        await self.emu.wait_for_async(check, timeout)
        return order[0]

    def card_text(self, user_id: int, order_id: int) -> str:
        return next((m.get("text", "") for m in reversed(self.emu.messages(user_id))
                     if f"订单{order_id}号" in m.get("text", "")), "")

    async def card(self, user_id: int, order_id: int, **kw: Any) -> dict[str, Any]:
        return await self.emu.wait_message(user_id, f"订单{order_id}号", **kw)


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator(TOKEN)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
def tg_settings(make_settings: Callable[..., Any], emulator: BotApiEmulator) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN, "telegram_api_url": emulator.url,
            "telegram_mode": "webhook", "telegram_webhook_secret": SECRET,
            "operator_chat_id": OPERATOR_CHAT,
            # Both workers are woken on every change; slow polls make it unlikely that shutdown
            # cancels a pass in the middle of a transaction.
            "dispatch_poll_seconds": 1.0, "outbox_poll_seconds": 0.25}
        values.update(overrides)
        return make_settings(**values)
    return make


@pytest.fixture
async def start_gateway(tg_settings: Callable[..., Any], make_client: Callable[..., Any],
                        emulator: BotApiEmulator) -> Callable[..., Any]:
    async def start(**overrides: Any) -> Harness:
        settings = tg_settings(**overrides)
        app = create_app(settings, parts=PARTS)
        client = await make_client(app)
        if settings.telegram_mode == "webhook":
            emulator.webhook_target = str(client.make_url("/telegram/webhook"))
            await emulator.wait_for(lambda: emulator.webhook_url is not None)
        return Harness(app[SERVICES], emulator, client)
    return start


@pytest.fixture
async def gw(start_gateway: Callable[..., Any]) -> Harness:
    return await start_gateway()
