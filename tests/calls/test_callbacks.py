"""Missed calls are called back (issue 20): the real app on loopback, signed status callbacks,
the Twilio stand-in placing the calls, a real database (SQLite, or PostgreSQL with
DOORSTEP_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

import db.orders
import db.people
from db.models import Conversation, Order, utcnow
from db.session import Database
from gateway.channels.twilio.calls import CallSender
from gateway.channels.twilio.simulate_call import Caller
from gateway.channels.twilio.webhook_client import Twilio
from gateway.notify.calls import QuietHours
from tests.calls.conftest import (
    FROM_NUMBER,
    LI,
    OPERATOR_CHAT,
    STRANGER,
    WANG,
    new_sid,
    outbox,
    voice_calls,
    wait_calls,
)
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN

TZ = ZoneInfo("Asia/Shanghai")


async def test_a_missed_call_is_called_back_once_though_its_status_comes_twice(
        start: Any, demo_database: Database) -> None:
    gw = await start()
    sid = new_sid()
    assert await gw.missed(WANG, sid, "no-answer") == 200
    assert await gw.missed(WANG, sid, "no-answer") == 200  # Twilio delivers it again
    [call] = await wait_calls(gw.fake, 1)
    await asyncio.sleep(0.3)
    assert len(gw.fake.calls) == 1
    assert (call.to, call.from_, call.url) == (WANG, FROM_NUMBER, f"{PUBLIC_URL}/twilio/voice")
    [vc] = await voice_calls(demo_database)
    assert call.status_callback == f"{PUBLIC_URL}/twilio/voice/status?vc={vc.id}&try=1"
    assert (vc.kind, vc.phone, vc.status, vc.tries, vc.call_sid) == (
        "callback", WANG, "calling", 1, call.sid)


async def test_two_gateways_on_one_database_call_back_once(
        start: Any, demo_database: Database) -> None:
    one, two = await start(), await start()
    sid = new_sid()
    codes = await asyncio.gather(one.missed(WANG, sid, "busy"), two.missed(WANG, sid, "busy"),
                                 one.missed(WANG, sid, "busy"))
    assert codes == [200, 200, 200]
    await wait_calls(one.fake, 1)
    await asyncio.sleep(0.5)
    assert [c.to for c in one.fake.calls] == [WANG]
    assert len(await voice_calls(demo_database)) == 1


async def test_a_short_call_without_an_order_is_called_back(
        start: Any, demo_database: Database) -> None:
    gw = await start()
    assert await gw.missed(LI, new_sid(), "completed", duration=40) == 200  # a real call
    ordered = new_sid()
    async with demo_database.session() as s:  # a short call that made an order
        s.add(Conversation(channel="voice", key=ordered, state="done", locale="zh-CN",
                           draft={"order_id": 1}))
    assert await gw.missed(LI, ordered, "completed", duration=3) == 200
    await asyncio.sleep(0.3)
    assert gw.fake.calls == []
    assert await gw.missed(WANG, new_sid(), "completed", duration=3) == 200
    [call] = await wait_calls(gw.fake, 1)
    assert call.to == WANG
    [vc] = await voice_calls(demo_database)
    assert (vc.last_outcome, vc.tries) == ("short", 1)


async def test_an_unknown_numbers_missed_call_goes_to_the_operators(
        start: Any, demo_database: Database) -> None:
    gw = await start()
    assert await gw.missed(STRANGER, new_sid(), "no-answer") == 200
    assert await gw.missed(STRANGER, new_sid(), "canceled") == 200  # one alert a day
    await asyncio.sleep(0.2)
    assert gw.fake.calls == [] and await voice_calls(demo_database) == []
    alerts = [r for r in await outbox(demo_database, "telegram") if STRANGER in r.body]
    assert len(alerts) == 1 and alerts[0].recipient == str(OPERATOR_CHAT)
    assert "未登记的号码来电" in alerts[0].body


async def test_a_bad_signature_changes_nothing(start: Any, demo_database: Database) -> None:
    gw = await start()
    code, _ = await gw.post("/twilio/voice/status", {
        "CallSid": new_sid(), "From": WANG, "CallStatus": "no-answer",
        "Direction": "inbound"}, signed=False)
    assert code == 403
    assert await voice_calls(demo_database) == []


async def test_an_unanswered_callback_is_tried_again_and_stops_after_the_last_try(
        start: Any, demo_database: Database) -> None:
    gw = await start(call_retry_minutes="0.005,0.01")  # 3 tries, 0.3 s and 0.6 s apart
    await gw.missed(WANG, new_sid())
    [first] = await wait_calls(gw.fake, 1)
    assert await gw.ended(first, "no-answer") == 200
    assert await gw.ended(first, "no-answer") == 200  # delivered twice: still one next try
    calls = await wait_calls(gw.fake, 2)
    assert (calls[1].at - first.at) >= timedelta(seconds=0.25)
    assert calls[1].status_callback.endswith("&try=2")
    await gw.ended(calls[1], "busy")
    calls = await wait_calls(gw.fake, 3)
    assert (calls[2].at - calls[1].at) >= timedelta(seconds=0.55)
    await gw.ended(calls[2], "no-answer")
    await asyncio.sleep(1.0)
    assert [c.to for c in gw.fake.calls] == [WANG] * 3
    [vc] = await voice_calls(demo_database)
    assert (vc.status, vc.tries, vc.last_outcome) == ("gave_up", 3, "no-answer")


async def test_an_answered_callback_takes_the_order_like_her_own_call(
        start: Any, demo_database: Database) -> None:
    async with demo_database.session() as s:  # her usual order, for key 9
        resident = await db.people.resident_by_phone(s, WANG)
        await db.orders.create(s, channel="sms", phone=WANG, status="delivered", actor="test",
                               resident=resident, items=[{"sku": "rice", "name": "大米",
                                                          "quantity": Decimal(2), "unit": "袋"}])
    gw = await start(parts=("health", "voice", "calls", "media", "telegram"))
    await gw.missed(WANG, new_sid())
    [call] = await wait_calls(gw.fake, 1)

    class Answered(Caller):  # Twilio's side of the call we placed: From us, To her
        def _params(self, **extra: str) -> dict[str, str]:
            return {"CallSid": call.sid, "AccountSid": "AC" + "0" * 32, "From": FROM_NUMBER,
                    "To": WANG, "CallStatus": "in-progress", "Direction": "outbound-api",
                    **extra}

    base = str(gw.client.make_url("")).rstrip("/")
    log = await Answered(Twilio(base, PUBLIC_URL, TWILIO_TOKEN), WANG, [], "91").run()
    assert log.heard[0].startswith("对不起，现在听不清您的话。请用按键点菜。"), log.heard
    assert log.heard[-1].startswith("好的，已经下单：大米2袋"), log.heard
    async with demo_database.session() as s:
        [order] = (await s.execute(select(Order).where(Order.channel == "voice"))).scalars()
        assert (order.phone, order.status, order.resident_id) == (WANG, "confirmed",
                                                                  resident.id)
    await gw.ended(call, "completed", duration=70)
    [vc] = await voice_calls(demo_database)
    assert (vc.status, vc.last_outcome) == ("answered", "completed")


async def test_a_callback_no_longer_wanted_is_not_placed(
        start: Any, demo_database: Database) -> None:
    gw = await start(call_retry_minutes="0.01")
    await gw.missed(WANG, new_sid())
    [first] = await wait_calls(gw.fake, 1)
    async with demo_database.session() as s:  # meanwhile she ordered by text
        await db.orders.create(s, channel="sms", phone=WANG, status="confirmed", actor="test",
                               items=[{"sku": "rice", "name": "大米", "quantity": 1}])
    await gw.ended(first, "no-answer")
    for _ in range(200):  # the second try comes due and finds the order
        [vc] = await voice_calls(demo_database)
        if vc.status != "pending":
            break
        await asyncio.sleep(0.02)
    assert (vc.status, vc.last_outcome) == ("cancelled", "ordered")
    await asyncio.sleep(0.2)
    assert len(gw.fake.calls) == 1


async def test_reject_mode_rejects_known_residents_and_calls_them_back(
        start: Any, demo_database: Database) -> None:
    gw = await start(callback_mode="reject")
    sid = new_sid()
    code, xml = await gw.post("/twilio/voice", {"CallSid": sid, "AccountSid": "AC" + "0" * 32,
                                                "From": WANG, "To": FROM_NUMBER,
                                                "CallStatus": "ringing", "Direction": "inbound"})
    assert code == 200 and "<Reject/>" in xml
    await gw.missed(WANG, sid, "busy")  # the rejected call's own status: no second callback
    [call] = await wait_calls(gw.fake, 1)
    await asyncio.sleep(0.3)
    assert len(gw.fake.calls) == 1 and call.to == WANG
    # a stranger is answered as before (nobody to call back)
    code, xml = await gw.post("/twilio/voice", {"CallSid": new_sid(), "From": STRANGER,
                                                "To": FROM_NUMBER, "CallStatus": "ringing",
                                                "Direction": "inbound"})
    assert code == 200 and "<Reject" not in xml
    # the callback itself is answered, not rejected
    code, xml = await gw.post("/twilio/voice", {"CallSid": call.sid, "From": FROM_NUMBER,
                                                "To": WANG, "CallStatus": "in-progress",
                                                "Direction": "outbound-api"})
    assert code == 200 and "<Reject" not in xml and "<Gather" in xml
    async with demo_database.session() as s:  # the call's dialogue is hers
        conv = (await s.execute(select(Conversation).where(
            Conversation.key == call.sid))).scalar_one()
        assert conv.draft["phone"] == WANG


def quiet_now() -> str:
    """Quiet hours around this moment, in the co-operative's time."""
    now = utcnow().astimezone(TZ)
    return f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"


async def test_quiet_hours_postpone_the_callback(start: Any, demo_database: Database) -> None:
    quiet = quiet_now()
    gw = await start(quiet_hours=quiet)
    before = utcnow()
    await gw.missed(WANG, new_sid())
    await asyncio.sleep(0.5)
    assert gw.fake.calls == []
    [row] = await outbox(demo_database, "call")
    due = QuietHours.parse(quiet, TZ).defer(before)
    assert row.status == "pending" and abs(row.next_attempt_at - due) < timedelta(minutes=1)
    assert row.next_attempt_at > before + timedelta(minutes=50)
    # in reject mode, a call in the quiet hours is answered as usual
    reject = await start(quiet_hours=quiet, callback_mode="reject")
    code, xml = await reject.post("/twilio/voice", {"CallSid": new_sid(), "From": WANG,
                                                    "To": FROM_NUMBER, "Direction": "inbound",
                                                    "CallStatus": "ringing"})
    assert code == 200 and "<Reject" not in xml


async def test_a_restart_loses_no_pending_callback(start: Any, demo_database: Database) -> None:
    # the status arrives while this gateway places no calls (its workers are off) ...
    first = await start(workers=False)
    await first.missed(WANG, new_sid())
    await first.client.close()
    assert first.fake.calls == []
    # ... a new process on the same database places it
    second = await start(call_retry_minutes="0.02")
    [call] = await wait_calls(second.fake, 1)
    assert call.to == WANG
    # a retry waiting in the outbox survives a restart too
    await second.ended(call, "no-answer")
    await second.client.close()
    assert len(second.fake.calls) == 1
    third = await start(call_retry_minutes="0.02")
    calls = await wait_calls(third.fake, 2, timeout=8)
    assert calls[1].status_callback.endswith("&try=2")


async def test_a_vendor_outage_delays_the_callback_and_loses_none(
        start: Any, demo_database: Database) -> None:
    gw = await start()
    gw.fake.fail_next_call(1, status=503, code=20503)
    await gw.missed(WANG, new_sid())
    [call] = await wait_calls(gw.fake, 1, timeout=10)
    assert call.to == WANG
    for _ in range(100):  # the worker records the outcome just after the call is placed
        [row] = await outbox(demo_database, "call")
        if row.status == "sent":
            break
        await asyncio.sleep(0.02)
    assert (row.status, row.attempts, row.vendor_id) == ("sent", 2, call.sid)


async def test_a_call_placed_but_never_confirmed_is_not_placed_again(
        start: Any, demo_database: Database) -> None:
    gw = await start()
    sender = gw.services.outbox.senders["call"]
    assert isinstance(sender, CallSender)
    sender.rest.timeout = 0.5
    gw.fake.hang_after_call = 1  # Twilio starts the call, the answer never comes
    await gw.missed(WANG, new_sid())
    [call] = await wait_calls(gw.fake, 1)
    for _ in range(300):  # the outbox tries the row again, finds the call, records it
        [row] = await outbox(demo_database, "call")
        if row.status == "sent":
            break
        await asyncio.sleep(0.02)
    assert (row.status, row.attempts, row.vendor_id) == ("sent", 2, call.sid)
    assert len(gw.fake.calls) == 1
    [vc] = await voice_calls(demo_database)
    assert (vc.status, vc.tries, vc.call_sid) == ("calling", 1, call.sid)


async def test_a_lost_status_callback_is_read_back_from_twilio(
        start: Any, demo_database: Database) -> None:
    gw = await start()
    await gw.missed(WANG, new_sid())
    [call] = await wait_calls(gw.fake, 1)
    gw.fake.set_status(call.sid, "no-answer")
    sender = gw.services.outbox.senders["call"]
    assert isinstance(sender, CallSender)
    later: datetime = utcnow() + timedelta(minutes=20)
    for _ in range(50):  # the try's sid is recorded just after the call is placed
        [vc] = await voice_calls(demo_database)
        if vc.call_sid:
            break
        await asyncio.sleep(0.02)
    assert await sender.sweep(now=later) == 1
    calls = await wait_calls(gw.fake, 2)
    assert calls[1].status_callback.endswith("&try=2")
