"""The other key steps spoken to residents who take calls (issue 20): bought and on the way,
goods back in stock, a run on the way at its departure, a run moved, cancelled or missed, a
pickup slot. Each is told once per key, as a text and/or a notice per `notify`; a resident who
takes calls only has the text held for when nobody hears. Real app, the Twilio stand-in, a
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

import db.people
import db.proxies
from db.models import Order, Resident, Run, utcnow
from db.session import Database
from gateway.app import PARTS as ALL_PARTS
from gateway.orders.demo import join_demo_leaders
from gateway.orders.events import announce_created, change_status
from gateway.orders.fulfilment import Fulfilment, RunRequest
from gateway.orders.stock import mark_in, mark_out
from tests.calls.conftest import WANG, outbox, path_of, set_notify, voice_calls
from tests.calls.test_notices import FENG, ZHAO, accepted, new_order


async def _on_a_run(gw: Any, database: Database, *, departs_in: timedelta) -> tuple[int, int]:
    """赵爷爷's order on a run to 大竹园村 leaving `departs_in` from now (cut-off an hour
    before): (order id, run id)."""
    services = gw.services
    await join_demo_leaders(database, 7_200_000)
    async with database.session() as s:
        leader = await db.people.leader_by_phone(s, FENG)
        assert leader is not None
        departs = utcnow() + departs_in
        run, _ = await Fulfilment.of(services).create_run(s, RunRequest(
            villages=["大竹园村"], departs_at=departs, cutoff_at=departs - timedelta(hours=1),
            leader_id=leader.id), actor="test")
        run_id = run.id
    services.runs_active.invalidate()
    async with database.session() as s:
        order = await new_order(s, ZHAO)
        await announce_created(s, order, services.listeners)
        order_id = order.id
    assert services.dispatcher is not None
    await services.dispatcher.run_once()
    async with database.session() as s:
        order = await s.get(Order, order_id)
        assert order is not None and (order.fulfil_kind, order.run_id) == ("run", run_id)
    return order_id, run_id


async def _keyed(database: Database, key: str) -> tuple[list[Any], list[Any]]:
    texts = [r for r in await outbox(database, "sms") if r.idempotency_key == key]
    notices = [v for v in await voice_calls(database) if v.key == f"notice|{key}"]
    return texts, notices


async def test_a_run_on_the_way_is_told_once_at_its_departure(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, ZHAO, "call")
    gw = await start(workers=False, parts=tuple(ALL_PARTS))
    order_id, run_id = await _on_a_run(gw, demo_database, departs_in=timedelta(hours=3))
    dispatcher = gw.services.dispatcher
    assert dispatcher is not None
    key = f"run:{run_id}:departed:{order_id}"
    await dispatcher.run_once()  # before the departure: nothing yet
    assert await _keyed(demo_database, key) == ([], [])
    later = utcnow() + timedelta(hours=3, minutes=1)
    await dispatcher.run_once(later)  # the cut-off and the departure have passed
    await dispatcher.run_once(later + timedelta(minutes=1))  # again: told once only
    texts, notices = await _keyed(demo_database, key)
    assert len(notices) == 1 and len(texts) == 1
    [vc], [held] = notices, texts
    assert vc.phone == ZHAO and "流动超市已经出发了" in vc.text and "左右到村口" in vc.text
    assert held.status == "pending" and held.next_attempt_at > utcnow() + timedelta(minutes=30)
    assert held.body.startswith("流动超市已经出发了") and f"订单{order_id}号" in held.body
    async with demo_database.session() as s:
        run = await s.get(Run, run_id)
        assert run is not None and run.departure_told_at is not None


async def test_a_departure_long_past_is_not_told(start: Any, demo_database: Database) -> None:
    gw = await start(workers=False, parts=tuple(ALL_PARTS))
    order_id, run_id = await _on_a_run(gw, demo_database, departs_in=timedelta(hours=3))
    assert gw.services.dispatcher is not None
    # The gateway was down from before the departure until five hours after it.
    await gw.services.dispatcher.run_once(utcnow() + timedelta(hours=8))
    assert await _keyed(demo_database, f"run:{run_id}:departed:{order_id}") == ([], [])


async def test_a_run_moved_is_spoken_and_told_again_at_its_new_departure(
        start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, ZHAO, "both")
    gw = await start(workers=False, parts=tuple(ALL_PARTS))
    order_id, run_id = await _on_a_run(gw, demo_database, departs_in=timedelta(hours=3))
    new_departure = utcnow() + timedelta(hours=6)
    async with demo_database.session() as s:
        await Fulfilment.of(gw.services).move_run(s, run_id, new_departure, actor="test")
    moved = [v for v in await voice_calls(demo_database) if "改时间了" in v.text]
    assert len(moved) == 1 and moved[0].fallback_text == ""  # "both": texted anyway
    [text] = [r for r in await outbox(demo_database, "sms")
              if r.idempotency_key == moved[0].key.split("|", 1)[1]]
    assert text.body.startswith("流动超市改时间了") and text.status == "pending"
    assert gw.services.dispatcher is not None
    await gw.services.dispatcher.run_once(utcnow() + timedelta(hours=3, minutes=5))
    assert await _keyed(demo_database, f"run:{run_id}:departed:{order_id}") == ([], [])
    await gw.services.dispatcher.run_once(new_departure + timedelta(minutes=5))
    texts, notices = await _keyed(demo_database, f"run:{run_id}:departed:{order_id}")
    assert len(texts) == 1 and len(notices) == 1


async def test_a_cancelled_run_is_spoken_to_a_proxy_who_takes_calls(
        start: Any, demo_database: Database) -> None:
    son = "+8613700000011"
    async with demo_database.session() as s:
        resident = await db.people.resident_by_phone(s, ZHAO)
        assert resident is not None
        await db.proxies.add(s, resident=resident, phone=son, name="赵小军", relation="儿子",
                             notify="call")
    gw = await start(workers=False, parts=tuple(ALL_PARTS))
    order_id, run_id = await _on_a_run(gw, demo_database, departs_in=timedelta(hours=3))
    async with demo_database.session() as s:
        await Fulfilment.of(gw.services).cancel_run(s, run_id, actor="test")
    key = f"run:{run_id}:cancelled:{order_id}"
    [resident_text] = [r for r in await outbox(demo_database, "sms") if r.idempotency_key == key]
    assert "流动超市取消了" in resident_text.body  # 赵爷爷 takes texts: no call for him
    [vc] = await voice_calls(demo_database)
    assert vc.phone == son and vc.key.startswith(f"notice|{key}:p") and "的流动超市取消了" in vc.text and "儿子" in vc.text
    [held] = [r for r in await outbox(demo_database, "sms") if r.recipient == son
              and r.idempotency_key.startswith(key)]
    assert held.status == "pending" and held.next_attempt_at > utcnow() + timedelta(minutes=30)


async def test_bought_and_on_the_way_is_spoken(start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start(workers=False)
    order_id = await accepted(gw, demo_database)
    async with demo_database.session() as s:
        order = await s.get(Order, order_id)
        assert order is not None
        await change_status(s, order, "purchased", actor="leader", listeners=gw.services.listeners)
    notices = [v for v in await voice_calls(demo_database) if v.order_id == order_id]
    said = [v.text for v in notices]
    assert len(notices) == 2, said  # accepted, then purchased
    assert any("吴团长已经买好，正在给您送去" in t for t in said), said
    texts = [r for r in await outbox(demo_database, "sms") if r.recipient == WANG]
    assert len(texts) == 2 and all(r.next_attempt_at > utcnow() + timedelta(minutes=30)
                                   for r in texts)  # both held for when nobody hears


async def test_goods_back_in_stock_are_spoken(start: Any, demo_database: Database) -> None:
    await set_notify(demo_database, WANG, "call")
    gw = await start(workers=False)
    async with demo_database.session() as s:
        await mark_out(s, "rice", actor="test")
    gw.services.stock.invalidate()
    async with demo_database.session() as s:
        order = await new_order(s, WANG, channel="console")
        await announce_created(s, order, gw.services.listeners)
        order_id = order.id
    async with demo_database.session() as s:
        await mark_in(s, "rice", actor="test", listeners=gw.services.listeners,
                      templates=gw.services.templates)
    [vc] = [v for v in await voice_calls(demo_database) if "到货了" in v.text]
    assert vc.phone == WANG and vc.order_id == order_id and "大米到货了" in vc.text
    [held] = [r for r in await outbox(demo_database, "sms")
              if r.idempotency_key == vc.key.split("|", 1)[1]]
    assert "到货了" in held.body and held.next_attempt_at > utcnow() + timedelta(minutes=30)


async def test_a_resident_who_takes_texts_gets_no_call(start: Any, demo_database: Database
                                                       ) -> None:
    async with demo_database.session() as s:  # 王奶奶 takes texts (the default)
        await s.execute(update(Resident).where(Resident.phone == WANG).values(notify="sms"))
    gw = await start(workers=False, parts=tuple(ALL_PARTS))
    order_id = await accepted(gw, demo_database)
    async with demo_database.session() as s:
        order = await s.get(Order, order_id)
        assert order is not None
        await change_status(s, order, "purchased", actor="leader", listeners=gw.services.listeners)
    assert await voice_calls(demo_database) == []
    bodies = [r.body for r in await outbox(demo_database, "sms") if r.recipient == WANG]
    assert len(bodies) == 2 and "吴团长已经买好" in bodies[1]


async def test_a_notice_met_by_an_answering_machine_is_tried_again(
        start: Any, demo_database: Database) -> None:
    """Calls ask Twilio for answering-machine detection; a machine that picks up hears nothing
    (the call hangs up), and the try counts as not answered."""
    from tests.calls.conftest import wait_calls

    await set_notify(demo_database, WANG, "call")
    gw = await start()
    await accepted(gw, demo_database)
    [call] = await wait_calls(gw.fake, 1)
    assert call.machine_detection == "Enable"
    code, xml = await gw.post(path_of(call.url), gw._outbound(
        call, CallStatus="in-progress", AnsweredBy="machine_start"))
    assert code == 200 and "<Hangup/>" in xml and "<Say" not in xml
    code, _ = await gw.post(path_of(call.status_callback), gw._outbound(
        call, CallStatus="completed", CallDuration="12", AnsweredBy="machine_start"))
    assert code == 200
    calls = await wait_calls(gw.fake, 2)  # the next try
    assert calls[1].to == WANG
    [vc] = await voice_calls(demo_database)
    assert (vc.status, vc.last_outcome, vc.tries) == ("calling", "machine", 2)


async def test_machine_detection_can_be_turned_off(start: Any, demo_database: Database) -> None:
    from tests.calls.conftest import wait_calls

    await set_notify(demo_database, WANG, "call")
    gw = await start(call_machine_detection=False)
    await accepted(gw, demo_database)
    [call] = await wait_calls(gw.fake, 1)
    assert call.machine_detection == ""


async def test_a_callback_met_by_an_answering_machine_hangs_up_and_retries(
        start: Any, demo_database: Database) -> None:
    from tests.calls.conftest import new_sid, wait_calls

    gw = await start()
    assert await gw.missed(WANG, new_sid(), "no-answer") == 200
    [call] = await wait_calls(gw.fake, 1)
    code, xml = await gw.post(path_of(call.url), gw._outbound(
        call, CallStatus="in-progress", AnsweredBy="machine_end_beep"))
    assert code == 200 and "<Hangup/>" in xml  # no ordering flow for a machine
    await gw.post(path_of(call.status_callback), gw._outbound(
        call, CallStatus="completed", CallDuration="9", AnsweredBy="machine_end_beep"))
    calls = await wait_calls(gw.fake, 2)  # not answered: the next try
    [vc] = await voice_calls(demo_database)
    assert (vc.kind, vc.last_outcome, vc.tries) == ("callback", "machine", 2)
    assert calls[1].to == WANG
