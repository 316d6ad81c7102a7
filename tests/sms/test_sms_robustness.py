"""Nothing received is lost, nothing is doubled: retries, forgeries, garbage, floods."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import Conversation, InboundMessage, Order
from db.session import Database
from gateway.conversation import reply_text as sms_text
from tests.sms.conftest import FROM_NUMBER, GRANDMA, Texter, new_sid, reply_text
from tests.twilio_sign import signed_headers


async def rows(database: Database, model: Any) -> list[Any]:
    async with database.session() as s:
        return list((await s.execute(select(model).order_by(model.id))).scalars())


async def test_a_retried_webhook_gets_the_same_answer_and_changes_nothing(
        texter: Texter, demo_database: Database) -> None:
    sid = new_sid()
    first = await texter.text("大米两袋", sid=sid)
    again = await texter.text("大米两袋", sid=sid)
    assert first == again and "大米2袋" in first
    confirm = new_sid()
    done = await texter.text("1", sid=confirm)
    assert await texter.text("1", sid=confirm) == done
    (order,) = await rows(demo_database, Order)
    assert [int(i.quantity) for i in order.items] == [2]
    assert len(await rows(demo_database, InboundMessage)) == 2


async def test_concurrent_retries_of_one_text_are_answered_once(texter: Texter,
                                                                demo_database: Database) -> None:
    sid = new_sid()
    replies = await asyncio.gather(*(texter.text("大米两袋", sid=sid) for _ in range(8)))
    assert len(set(replies)) == 1 and "大米2袋" in replies[0]
    (conv,) = await rows(demo_database, Conversation)
    assert conv.draft["items"][0]["quantity"] == "2"


@pytest.mark.parametrize("headers", [
    {}, {"X-Twilio-Signature": "forged"},
    signed_headers("/twilio/sms", {"Body": "something else"}),
    signed_headers("/twilio/sms", {"Body": "大米两袋"}, token="another-token"),
], ids=["missing", "garbage", "other-params", "other-token"])
async def test_bad_signatures_get_403_and_store_nothing(texter: Texter, demo_database: Database,
                                                        headers: dict[str, str]) -> None:
    params = {"MessageSid": new_sid(), "From": GRANDMA, "To": FROM_NUMBER, "Body": "大米两袋"}
    status, _ = await texter.post(params, headers=headers)
    assert status == 403
    assert await rows(demo_database, InboundMessage) == []
    assert await rows(demo_database, Conversation) == []


async def test_signature_for_another_url_is_refused(texter: Texter,
                                                    demo_database: Database) -> None:
    params = {"MessageSid": new_sid(), "From": GRANDMA, "Body": "大米两袋"}
    status, _ = await texter.post(params, headers=signed_headers("/twilio/voice", params))
    assert status == 403
    assert await rows(demo_database, InboundMessage) == []


GARBAGE = [
    "", "   ", "\x00\x01\x02大米\x07两袋\x1b[31m", "<Response><Message>hi</Message></Response>",
    "<script>alert('x')</script> & ]]>", "'; DROP TABLE orders; --", "大米两袋' OR '1'='1",
    "\ud83c\udf5a" * 3 if False else "🍚🍚🍚 大米", "\u202e\u200b\ufeff", "a" * 1601,
    "大米" * 900,
]


@pytest.mark.parametrize("body", GARBAGE)
async def test_garbage_bodies_are_stored_and_answered_politely(
        texter: Texter, demo_database: Database, body: str) -> None:
    reply = await texter.text(body)
    assert sms_text.parts(reply) <= 3
    (msg,) = await rows(demo_database, InboundMessage)
    assert msg.processed_at is not None and msg.response == reply
    assert msg.raw["Body"] == body.replace("\x00", "\ufffd")
    assert len(await rows(demo_database, Order)) <= 1


async def test_the_twiml_answer_is_well_formed_for_markup_in_replies(texter: Texter) -> None:
    import xml.etree.ElementTree as ET

    params = {"MessageSid": new_sid(), "From": "+8613999999990", "To": FROM_NUMBER,
              "Body": "<b>&amp;</b>"}
    status, xml = await texter.post(params)
    assert status == 200
    root = ET.fromstring(xml.encode())
    assert root.tag == "Response" and root[0].tag == "Message"


async def test_a_megabyte_body_is_refused_before_anything(texter: Texter,
                                                          demo_database: Database) -> None:
    import io
    from urllib.parse import urlencode

    params = {"MessageSid": new_sid(), "From": GRANDMA, "Body": "米" * (1 << 20)}
    headers = {**signed_headers("/twilio/sms", params),
               "Content-Type": "application/x-www-form-urlencoded"}
    r = await texter.client.post("/twilio/sms", data=io.BytesIO(urlencode(params).encode()),
                                 headers=headers)
    assert r.status == 413
    assert await rows(demo_database, InboundMessage) == []


async def test_a_signed_text_without_message_sid_is_kept_once(texter: Texter,
                                                              demo_database: Database) -> None:
    params = {"From": GRANDMA, "Body": "大米两袋"}
    s1, x1 = await texter.post(params)
    s2, x2 = await texter.post(params)
    assert s1 == s2 == 200 and x1 == x2 and "大米2袋" in reply_text(x1)
    assert len(await rows(demo_database, InboundMessage)) == 1


async def test_many_texts_at_once_from_one_number(start_app: Any,
                                                  demo_database: Database) -> None:
    texter = await start_app(sms_rate_limit=0)
    n = 30
    await asyncio.gather(*(texter.text("大米一袋") for _ in range(n)))
    (conv,) = await rows(demo_database, Conversation)
    assert conv.draft["items"] == [
        {"sku": "rice", "name": "大米", "quantity": str(n), "unit": "袋",
         "source": conv.draft["items"][0]["source"]}]
    assert len(conv.draft["texts"]) == n
    replies = await asyncio.gather(texter.text("1"), texter.text("1"), texter.text("1"))
    (order,) = await rows(demo_database, Order)
    assert int(order.items[0].quantity) == n
    assert sum("已下单" in r for r in replies) == 1
    assert len(await rows(demo_database, InboundMessage)) == n + 3


async def test_rate_limit_answers_once_then_stays_quiet(start_app: Any,
                                                        demo_database: Database) -> None:
    texter = await start_app(sms_rate_limit=3)
    for _ in range(3):
        assert "大米" in await texter.text("大米一袋")
    limited = await texter.text("大米一袋")
    assert "太多" in limited
    assert await texter.text("大米一袋") == ""
    (conv,) = await rows(demo_database, Conversation)
    assert conv.draft["items"][0]["quantity"] == "3"
    assert len(await rows(demo_database, InboundMessage)) == 5  # kept all the same
    other = await texter.text("大米一袋", phone="+8613800000002")
    assert "大米1袋" in other


async def test_rate_limit_zero_turns_it_off(start_app: Any) -> None:
    texter = await start_app(sms_rate_limit=0)
    for _ in range(25):
        assert "大米" in await texter.text("大米一袋")


async def test_long_orders_are_summarised_within_three_parts(texter: Texter) -> None:
    text = ("大米两袋，面粉一袋，面条三把，方便面一箱，食用油一桶，食盐两包，酱油一瓶，醋一瓶，"
            "白糖一袋，味精一袋，鸡蛋两板，猪肉三斤，鸡肉两斤，鲫鱼一条，豆腐两块，大白菜一颗，"
            "青菜两把，土豆五斤，西红柿三斤，黄瓜两斤，洋葱一斤，胡萝卜两斤，白萝卜一斤，茄子两斤，"
            "大葱一把，大蒜一斤，苹果三斤，香蕉两斤，橘子两斤，纯牛奶一箱，矿泉水一箱，卫生纸一提，"
            "抽纸两包，肥皂一块，洗衣粉一袋，口罩两包，消毒液一瓶，感冒药一盒，体温计一个")
    reply = await texter.text(text)
    assert sms_text.parts(reply) <= 3
    assert "等" in reply and "样" in reply and reply.startswith("您要：大米2袋")
    confirmed = await texter.text("1")
    assert sms_text.parts(confirmed) <= 3 and "已下单" in confirmed


async def test_processing_failure_keeps_the_text_for_an_operator(
        texter: Texter, demo_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.services import SERVICES

    services = texter.app[SERVICES]

    async def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("the parser broke")

    monkeypatch.setattr(services.languages, "get", broken)
    reply = await texter.text("大米两袋")
    assert "已保存" in reply
    (order,) = await rows(demo_database, Order)
    assert order.status == "needs_review" and order.transcript == "大米两袋"
    (msg,) = await rows(demo_database, InboundMessage)
    assert msg.order_id == order.id and msg.response == reply


async def test_database_lost_mid_processing_answers_503_and_the_retry_is_processed(
        texter: Texter, demo_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from gateway.services import SERVICES

    services = texter.app[SERVICES]
    real = services.languages.get

    async def gone(*_a: Any, **_k: Any) -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionResetError("connection reset"))

    monkeypatch.setattr(services.languages, "get", gone)
    params = {"MessageSid": new_sid(), "AccountSid": "AC" + "0" * 32, "From": GRANDMA,
              "To": FROM_NUMBER, "Body": "大米两袋"}
    status, _ = await texter.post(params)
    assert status == 503  # Twilio tries again with the same MessageSid
    (msg,) = await rows(demo_database, InboundMessage)
    assert msg.processed_at is None and await rows(demo_database, Order) == []
    monkeypatch.setattr(services.languages, "get", real)
    status, xml = await texter.post(params)
    assert status == 200 and "大米2袋" in reply_text(xml)
    assert await texter.text("1") and len(await rows(demo_database, InboundMessage)) == 2
    (order,) = await rows(demo_database, Order)
    assert order.events[0].to_status == "confirmed"  # not kept for an operator


async def test_unanswered_stored_texts_are_answered_by_the_sweeper(
        texter: Texter, demo_database: Database, fake_twilio: Any) -> None:
    from datetime import timedelta

    from db.inbound import store
    from db.models import utcnow
    from gateway.channels.twilio.sms import SMS

    async with demo_database.session() as s:  # as if the process died right after storing
        await store(s, channel="sms", vendor_id="SMlost", phone=GRANDMA, body="大米两袋",
                    raw={"Body": "大米两袋"})
    result = await texter.app[SMS].sweep_once(now=utcnow() + timedelta(minutes=5))
    assert result["answered"] == 1
    from tests.sms.test_sms_flow import wait_for
    await wait_for(lambda: fake_twilio.bodies_to(GRANDMA))
    assert "大米2袋" in fake_twilio.bodies_to(GRANDMA)[0]
    async with demo_database.session() as s:
        n = (await s.execute(select(func.count()).select_from(InboundMessage)
                             .where(InboundMessage.processed_at.is_(None)))).scalar_one()
    assert n == 0
