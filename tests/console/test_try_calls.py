"""The try-it page's phone in demo mode (issue 20's "the try-it page shows a callback and a
spoken notification"): Doorstep's outbound calls ring on the page, and its buttons answer them
through the real signed webhooks. The real app on loopback, a real database, the settings of
`serve --demo`, and a Twilio REST stand-in as TWILIO_API_URL that nothing may reach."""

from __future__ import annotations

import asyncio
import html as htmllib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import db.orders
import db.outbox
import db.people
import db.standing
import db.tasks
from bench.twilio_standin import TwilioStandIn
from db.models import Conversation, Leader, Order, Outbox, VoiceCall, utcnow
from db.session import Database
from gateway.channels.console.tryit import SIMULATED_TELEGRAM_BASE
from gateway.channels.console.tryphone import simulated
from gateway.channels.twilio.simulated import SimulatedPhone
from gateway.orders.demo import join_demo_leaders
from gateway.services import SERVICES, Services
from tests.console.conftest import add_operator, login, page_csrf

WANG = "+8613800000001"  # 王奶奶, 鲁家村
TZ = ZoneInfo("Asia/Shanghai")
SID = re.compile(r"^CA[0-9a-f]{32}$")


def visible(part: str) -> str:
    part = re.sub(r"<[^>]+>", " ", part)
    return " ".join(htmllib.unescape(part).split())


def panel_of(html: str) -> str:
    m = re.search(r'<section class="ring-panel".*?</section>', html, re.DOTALL)
    assert m, "no phone panel on the page"
    return visible(m.group(0))


def screen_of(html: str) -> str:
    m = re.search(r'<div class="phone-screen".*?</div>', html, re.DOTALL)
    assert m, "no phone screen on the page"
    return visible(m.group(0))


@dataclass
class Page:
    """The try-it page of one demo gateway, as a logged-in operator sees it."""

    client: Any
    app: Any
    standin: TwilioStandIn

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def get(self, phone: str = WANG, **query: str) -> str:
        r = await self.client.get("/console/try", params={"phone": phone, **query})
        assert r.status == 200
        return str(await r.text())

    async def post(self, path: str, **form: str) -> tuple[int, str]:
        token = await page_csrf(self.client, "/console/try")
        r = await self.client.post(path, data={"csrf": token, **form})
        return r.status, await r.text()

    async def ring(self, vc_id: int, do: str, **form: str) -> str:
        status, html = await self.post("/console/try/ring", phone=WANG, call=str(vc_id), do=do,
                                       **form)
        assert status == 200, html
        return html

    async def calls(self) -> list[VoiceCall]:
        async with self.services.db.session() as s:
            return list((await s.execute(select(VoiceCall).order_by(VoiceCall.id))).scalars())

    async def ringing(self, tries: int = 1, kind: str = "callback") -> VoiceCall:
        """The call of `kind` once its try `tries` rings (placed by the outbox worker)."""
        for _ in range(200):
            found = [vc for vc in await self.calls() if vc.kind == kind and vc.tries == tries
                     and vc.status == "calling" and vc.call_sid]
            if found:
                return found[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind} try {tries} rang: {await self.calls()}")

    async def outbox(self, key: str) -> Outbox:
        async with self.services.db.session() as s:
            return (await s.execute(select(Outbox).where(Outbox.idempotency_key == key))
                    ).scalar_one()


@pytest.fixture
async def standin() -> AsyncIterator[TwilioStandIn]:
    fake = await TwilioStandIn().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start(demo_database: Database, make_settings: Callable[..., Any], make_app: Any,
                make_client: Any, standin: TwilioStandIn) -> AsyncIterator[Callable[..., Any]]:
    """The demo gateway (Settings.for_demo of a configuration without Twilio), with its
    workers; TWILIO_API_URL is the stand-in, which must see no request at all."""
    pages: list[Page] = []

    async def go(*, demo: bool = True, **overrides: Any) -> Page:
        values: dict[str, Any] = {"public_url": "http://127.0.0.1:8080",
                                  "console_secret": "test-console-secret",
                                  "twilio_api_url": standin.base_url}
        if demo:
            values.update(twilio_auth_token=None, twilio_account_sid=None)
        values.update(overrides)
        settings = make_settings(**values)
        if demo:
            settings, warning = settings.for_demo()
            assert "ring on that page" in warning
        await add_operator(demo_database)
        app = make_app(settings, workers=True)
        client = await make_client(app)
        assert (await login(client)).status == 303
        page = Page(client, app, standin)
        pages.append(page)
        return page

    yield go
    for page in pages:
        if page.services.settings.twilio_account_sid is None:
            assert standin.requests == 0  # nothing reached Twilio's REST API


async def accepted_order(page: Page) -> tuple[int, str]:
    """王奶奶 orders by text on the page, the dispatcher offers it, the leader accepts on the
    page's card: (order id, leader's name)."""
    await join_demo_leaders(page.services.db, SIMULATED_TELEGRAM_BASE)
    for body in ("两袋大米", "1"):
        status, html = await page.post("/console/try/sms", phone=WANG, body=body)
        assert status == 200, html
    order = None
    for _ in range(200):
        async with page.services.db.session() as s:
            order = (await s.execute(select(Order).where(Order.phone == WANG))).scalar_one()
            if order.status == "assigned":
                break
        await asyncio.sleep(0.05)
    assert order is not None and order.status == "assigned" and order.leader_id is not None
    async with page.services.db.session() as s:
        [task] = await db.tasks.open_tasks_of_order(s, order.id)
        leader = await s.get(Leader, order.leader_id)
        assert leader is not None
    status, html = await page.post("/console/try/leader", phone=WANG, leader=str(leader.id),
                                   task=str(task.id), action="accept")
    assert status == 200, html
    return order.id, leader.name


async def set_notify(page: Page, notify: str) -> None:
    """The page's control: how 王奶奶 is told of her orders' steps."""
    token = await page_csrf(page.client, "/console/try")
    r = await page.client.post("/console/try/notify", allow_redirects=False,
                               data={"csrf": token, "phone": WANG, "notify": notify})
    assert r.status == 303
    async with page.services.db.session() as s:
        resident = await db.people.resident_by_phone(s, WANG)
        assert resident is not None and resident.notify == notify


def test_demo_settings_simulate_calls(make_settings: Callable[..., Any]) -> None:
    plain = make_settings(twilio_auth_token=None, twilio_account_sid=None)
    demo, _ = plain.for_demo()
    assert demo.simulated_calls and not plain.simulated_calls
    assert (demo.quiet_hours, demo.call_retry_minutes) == ("", "0.5,0.5")
    chosen, _ = make_settings(twilio_auth_token=None, quiet_hours="22:00-06:00",
                              call_retry_minutes="5").for_demo()
    assert (chosen.quiet_hours, chosen.call_retry_minutes) == ("22:00-06:00", "5")
    configured = make_settings()  # a real token: demo mode changes nothing
    assert configured.for_demo()[0].simulated_calls is False


async def test_ring_once_is_called_back_and_the_callback_takes_an_order(start: Any) -> None:
    page = await start()
    assert simulated(page.services) is not None
    html = await page.get()
    assert "现在没有来电。" in panel_of(html) and "响一声就挂" in panel_of(html)
    status, html = await page.post("/console/try/ring-once", phone=WANG)
    assert status == 200, html
    text = panel_of(html)
    assert "老人打来电话，响一声就挂了。" in text
    assert "回拨电话（老人的未接来电） · 正在响铃" in text and "第 1 次，共 3 次" in text
    [vc] = await page.calls()
    assert (vc.kind, vc.phone, vc.status, vc.tries, vc.last_outcome) == (
        "callback", WANG, "calling", 1, "short")
    assert vc.call_sid and SID.match(vc.call_sid)

    html = await page.ring(vc.id, "answer")  # Twilio fetches the ordering flow's TwiML
    text = panel_of(html)
    assert "接听了回拨电话。" in text and "回拨电话（老人的未接来电） · 通话中" in text
    assert "请用按键点菜。" in text and "大米请按" in text, text  # no recogniser: keys
    async with page.services.db.session() as s:  # the call's own dialogue, under its sid
        assert (await s.execute(select(Conversation).where(
            Conversation.key == vc.call_sid))).scalar_one().channel == "voice"
    menu = re.search(r"大米请按(\d)", text)
    assert menu
    html = await page.ring(vc.id, "keys", digits=f"{menu.group(1)}##1")
    text = panel_of(html)
    assert f"在通话里按了：{menu.group(1)}##1" in text and "好的，已经下单：大米" in text, text
    assert "请用按键点菜。" not in text  # not said again on going on with the call
    assert "回拨电话（老人的未接来电） · 已接听" in text
    [vc] = await page.calls()
    assert (vc.status, vc.last_outcome) == ("answered", "completed")
    async with page.services.db.session() as s:
        [order] = (await s.execute(select(Order).where(Order.phone == WANG))).scalars()
        assert order.channel == "voice" and order.status != "draft"


async def test_a_callback_not_answered_rings_again_later(start: Any) -> None:
    page = await start()
    await page.post("/console/try/ring-once", phone=WANG)
    vc = await page.ringing()
    html = await page.ring(vc.id, "missed")
    [vc] = await page.calls()
    assert (vc.status, vc.tries, vc.last_outcome) == ("pending", 1, "no-answer")
    row = await page.outbox(f"call:{vc.id}:2")
    assert timedelta(seconds=20) < row.next_attempt_at - utcnow() <= timedelta(seconds=30)
    at = row.next_attempt_at.astimezone(TZ).strftime("%H:%M:%S")
    text = panel_of(html)
    assert "没有接。" in text and f"回拨电话（老人的未接来电） · 将在 {at} 打来（第 2 次，共 3 次）" in text
    status, html = await page.post("/console/try/ring", phone=WANG, call=str(vc.id),
                                   do="missed")
    assert status == 409 and "这个电话已经不在响了。" in html  # nothing rings now


async def test_ring_once_in_quiet_hours_says_when_it_will_ring(start: Any) -> None:
    now = datetime.now(TZ)
    quiet = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    page = await start(quiet_hours=quiet)
    status, html = await page.post("/console/try/ring-once", phone=WANG)
    assert status == 200
    [vc] = await page.calls()
    assert (vc.status, vc.tries) == ("pending", 0)
    end = f"{now + timedelta(hours=1):%H:%M}"
    text = panel_of(html)
    assert f"现在是安静时段（{quiet}），电话要到" in text
    assert f"回拨电话（老人的未接来电） · 将在 {end}:00 打来（第 1 次，共 3 次）" in text, text


async def test_a_notice_rings_with_the_leaders_name_and_1_settles_its_text(start: Any) -> None:
    page = await start()
    await set_notify(page, "call")
    assert "电话" in panel_of(await page.get())
    order_id, leader = await accepted_order(page)
    text = panel_of(await page.get())
    assert f"语音通知 · #{order_id} · 正在响铃" in text, text
    says = re.search(r"接听后会听到： (\S+)", text)
    assert says, text
    assert f"您的订单{order_id}号，{leader}已经接单" in says.group(1)
    assert says.group(1).startswith("王奶奶您好，这里是门口送。")
    assert says.group(1).endswith("听到了请按1。")
    assert "同样内容的短信先不发：没人听到电话才会改发短信。" in text
    assert "接单，将尽快" not in screen_of(await page.get())  # held back for the call

    vc = await page.ringing(kind="notice")
    html = await page.ring(vc.id, "heard")
    text = panel_of(html)
    assert "接听了语音通知，按了 1。" in text and "好的，谢谢！再见！" in text
    assert f"语音通知 · #{order_id} · 听到了（按了 1）" in text
    assert "电话里听到了，这条短信不再发送。" in text
    [vc] = [v for v in await page.calls() if v.kind == "notice"]
    assert (vc.status, vc.tries) == ("heard", 1)
    async with page.services.db.session() as s:
        order = await db.orders.get(s, order_id)
        assert order is not None
        [event] = [e for e in order.events if e.to_status == "accepted"]
    held = await page.outbox(db.outbox.event_sms_key(order_id, event.id))
    assert (held.status, held.vendor_id) == ("sent", vc.call_sid)  # delivered by the call
    await asyncio.sleep(0.3)
    assert "接单，将尽快" not in screen_of(await page.get())  # never sent as a text


async def test_a_notice_nobody_hears_is_texted_after_the_last_try(start: Any) -> None:
    page = await start(call_retry_minutes="0.005,0.005")
    await set_notify(page, "call")
    order_id, leader = await accepted_order(page)
    for n, do in ((1, "silent"), (2, "missed"), (3, "missed")):
        vc = await page.ringing(n, kind="notice")
        html = await page.ring(vc.id, do)
    text = panel_of(html)
    assert "没有接。" in text and f"语音通知 · #{order_id} · 打了 3 次都没人接，不再打了" in text
    assert "没人听到电话，已改发短信（见上面的手机屏幕）。" in text
    assert f"您的订单{order_id}号已由团长{leader}接单" in screen_of(html)
    [vc] = [v for v in await page.calls() if v.kind == "notice"]
    assert (vc.status, vc.tries, vc.last_outcome) == ("gave_up", 3, "no-answer")


async def test_simulated_calls_with_a_twilio_account_still_never_call_out(start: Any) -> None:
    """Simulated calls chosen with Twilio configured: the calls ring on the page, not through
    the REST Calls API (texts still go to Twilio)."""
    # no quiet hours: the default (21:00-07:00 in the co-operative's time) held the first call
    # back whenever the suite ran in a Chinese evening (13:00-23:00 UTC)
    page = await start(demo=False, simulated_calls=True, twilio_from_number="+8657200000000",
                       call_retry_minutes="0.005", quiet_hours="")
    await page.post("/console/try/ring-once", phone=WANG)
    for n in (1, 2):
        vc = await page.ringing(n)
        await page.ring(vc.id, "missed")
    [vc] = await page.calls()
    assert (vc.status, vc.tries) == ("gave_up", 2)
    assert page.standin.calls == []


async def test_the_simulated_phone_never_reaches_the_network(make_settings: Any) -> None:
    phone = SimulatedPhone(make_settings(twilio_api_url="http://127.0.0.1:9"))
    sid = await phone.place_call(to=WANG, url="u", status_callback="s")
    assert SID.match(sid) and await phone.find_call(WANG, utcnow()) is None
    assert await phone.call_status(sid) == ("no-answer", 0.0, "")
    await phone.close()


async def test_a_standing_question_rings_and_2_skips_the_week(start: Any) -> None:
    """王奶奶 takes calls and has a standing order: its weekly question rings on the page with
    the keys it takes, and "press 2" skips the week through the real webhooks."""
    from gateway.app import STANDING
    from gateway.orders.standing import Phrase, Standing, deadline_of

    page = await start()
    async with page.services.db.session() as s:
        resident = await db.people.resident_by_phone(s, WANG)
        assert resident is not None
        resident.notify = "call"
        so = await Standing.of(page.services).create(
            s, resident=resident, items=[{"sku": "eggs", "name": "鸡蛋", "quantity": 1,
                                          "unit": "板"}], when=Phrase(1), created_by="test")
        so_id, start_date = so.id, so.start_date
    dl = deadline_of(start_date, TZ, page.services.settings.standing_deadline)
    assert (await page.app[STANDING].tick(now=dl - timedelta(hours=2)))["asked"] == 1
    vc = await page.ringing(kind="question")
    shown = panel_of(await page.get())
    assert "照旧请按1，这周不要请按2" in shown and "接听并按 2（这周不要）" in shown, shown
    html = await page.ring(vc.id, "skip")
    assert "接听了询问电话，按了 2：这周不要。" in visible(html)
    assert "好的，这周不送了，下次照常问您。再见！" in visible(html)
    async with page.services.db.session() as s:
        [rnd] = await db.standing.rounds_of(s, so_id)
        assert rnd.state == "skipped"
    held = await page.outbox(f"standing:ask:{rnd.id}")
    assert held.status == "sent" and held.vendor_id == vc.call_sid  # answered: never texted
