"""Issue 17: village runs and pickup points chosen by the dispatcher's one rule. Real app (the
dispatcher driven by hand with `run_once(now=...)`), real database (SQLite, or PostgreSQL with
DOORSTEP_TEST_DATABASE_URL), signed texts through the Twilio webhook, the outbox read back."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

import db.orders
import db.runs
from db.models import LedgerEntry, OrderEvent, PickupSeat, Resident, utcnow
from db.session import Database
from gateway.app import create_app
from gateway.orders.demo import join_demo_leaders
from gateway.orders.fulfilment import Fulfilment, RunRequest
from gateway.orders.fulfilment_forms import save_pickup_point
from gateway.orders.sheets import run_sheet
from gateway.services import SERVICES, build_services
from tests.sms.conftest import Texter, fake_twilio, sms_settings
from tests.supply.test_stock import orders_of, texts_to

__all__ = ["fake_twilio", "sms_settings"]  # fixtures used here

TZ = ZoneInfo("Asia/Shanghai")
ZHAO = "+8613800000006"  # 赵爷爷, 大竹园村 (remote: the run's village here)
LIU = "+8613800000005"  # 刘奶奶, 横山坞村 (the pickup point's village here)
FENG = "+8613900000004"  # 冯团长, the run's leader
GRANDMA = "+8613800000001"  # 王奶奶, 鲁家村: door delivery by a leader


@pytest.fixture
async def gw(make_client: Any, demo_database: Database, sms_settings: Any) -> Texter:
    """The whole app on the demo data with its workers off: the test drives the dispatcher."""
    await join_demo_leaders(demo_database, 7_000_000)
    settings = sms_settings(unassigned_sms_minutes=0, pickup_lead_minutes=0)
    app = create_app(settings, build_services(settings, demo_database), workers=False)
    client = await make_client(app)
    return Texter(client, app)


def services(gw: Texter) -> Any:
    return gw.app[SERVICES]


async def leader_id(database: Database, phone: str = FENG) -> int:
    import db.people

    async with database.session() as s:
        leader = await db.people.leader_by_phone(s, phone)
        assert leader is not None
        return leader.id


async def schedule(gw: Texter, database: Database, departs: datetime, cutoff: datetime,
                   village: str = "大竹园村", stops: bool = True) -> int:
    lid = await leader_id(database)
    stop = [("大竹园村村口", 30.7049, 119.7411, departs + timedelta(minutes=30), village)] \
        if stops else []
    async with database.session() as s:
        run, _ = await Fulfilment.of(services(gw)).create_run(s, RunRequest(
            villages=[village], departs_at=departs, cutoff_at=cutoff, leader_id=lid,
            stops=stop), actor="test")
        run_id = run.id
    services(gw).runs_active.invalidate()
    return run_id


async def order_by_text(gw: Texter, phone: str, text: str = "大米一袋") -> tuple[str, str]:
    readback = await gw.text(text, phone=phone)
    confirmed = await gw.text("1", phone=phone)
    return readback, confirmed


async def set_confirmed_at(database: Database, order_id: int, at: datetime) -> None:
    async with database.session() as s:
        await s.execute(update(OrderEvent).where(OrderEvent.order_id == order_id,
                                                 OrderEvent.to_status == "confirmed")
                        .values(at=at))


def local(day_offset: int, hh: int, mm: int = 0) -> datetime:
    day = utcnow().astimezone(TZ).date() + timedelta(days=day_offset)
    return datetime.combine(day, time(hh, mm), TZ)


async def test_read_back_and_confirmation_say_when_and_where_the_run_comes(
        gw: Texter, demo_database: Database) -> None:
    await schedule(gw, demo_database, local(1, 9), local(1, 7))
    readback, confirmed = await order_by_text(gw, ZHAO)
    assert "明天上午9点半，流动超市到大竹园村村口" in readback, readback
    assert "明天上午9点半，流动超市到大竹园村村口，请到时来取" in confirmed, confirmed
    assert "团长接单后" not in confirmed
    [order] = await orders_of(demo_database, ZHAO)
    assert order.promised.startswith("run:")
    # a resident of a village without runs hears what they always heard
    readback, confirmed = await order_by_text(gw, GRANDMA)
    assert "流动超市" not in readback + confirmed and "团长接单后会短信告诉您" in confirmed

    await services(gw).dispatcher.run_once()
    [order] = await orders_of(demo_database, ZHAO)
    assert (order.status, order.fulfil_kind, order.run_stop.name) == ("assigned", "run",
                                                                      "大竹园村村口")
    assert order.leader_id == await leader_id(demo_database)
    assert [t for t in await texts_to(demo_database, ZHAO) if "流动超市" in t] == []  # told once


async def test_cut_off_one_second_before_and_after(gw: Texter, demo_database: Database) -> None:
    cutoff = local(1, 7)
    first = await schedule(gw, demo_database, local(1, 9), cutoff)
    second = await schedule(gw, demo_database, local(3, 9), local(3, 7))
    await order_by_text(gw, ZHAO, "大米一袋")
    await order_by_text(gw, ZHAO, "鸡蛋一板")
    early, late = await orders_of(demo_database, ZHAO)
    await set_confirmed_at(demo_database, early.id, cutoff - timedelta(seconds=1))
    await set_confirmed_at(demo_database, late.id, cutoff + timedelta(seconds=1))
    await services(gw).dispatcher.run_once(now=cutoff + timedelta(seconds=2))
    early, late = await orders_of(demo_database, ZHAO)
    assert (early.run_id, late.run_id) == (first, second)
    # the late one was promised the first run at its (real) confirmation: told the new one
    told = await texts_to(demo_database, ZHAO)
    assert any(f"订单{late.id}号由流动超市送来" in t and "到大竹园村村口" in t for t in told), told
    assert not any(f"订单{early.id}号由流动超市送来" in t for t in told)
    # the first run's cut-off passed: its picking list went out and its order is accepted
    assert early.status == "accepted" and late.status == "assigned"


async def test_after_the_cut_off_with_no_next_run_a_leader_takes_it(
        gw: Texter, demo_database: Database) -> None:
    cutoff = local(1, 7)
    await schedule(gw, demo_database, local(1, 9), cutoff)
    await order_by_text(gw, ZHAO)
    [order] = await orders_of(demo_database, ZHAO)
    await set_confirmed_at(demo_database, order.id, cutoff + timedelta(seconds=1))
    await services(gw).dispatcher.run_once(now=cutoff + timedelta(seconds=2))
    [order] = await orders_of(demo_database, ZHAO)
    assert order.fulfil_kind == "leader" and order.status == "assigned" and order.run_id is None


async def test_a_run_scheduled_later_takes_the_orders_waiting_in_its_village(
        gw: Texter, demo_database: Database) -> None:
    # far from every leader: unassigned, waiting
    async with demo_database.session() as s:
        await s.execute(update(Resident).where(Resident.phone == ZHAO)
                        .values(lat=31.5, lon=121.0))
    await order_by_text(gw, ZHAO)
    await services(gw).dispatcher.run_once()
    [order] = await orders_of(demo_database, ZHAO)
    assert order.status == "unassigned"
    f = Fulfilment.of(services(gw))
    async with demo_database.session() as s:
        [waiting] = [v for v in await f.waiting_villages(s, utcnow()) if v["village"] == "大竹园村"]
    assert waiting["households"] == 1 and not waiting["due"]  # threshold: 10 households
    run_id = await schedule(gw, demo_database, local(1, 9), local(1, 7), stops=False)
    [order] = await orders_of(demo_database, ZHAO)
    assert (order.status, order.run_id, order.run_stop_id) == ("assigned", run_id, None)
    told = (await texts_to(demo_database, ZHAO))[-1]
    assert told.startswith(f"您的订单{order.id}号由流动超市送来：明天上午9点到村口"), told
    async with demo_database.session() as s:
        assert not [v for v in await f.waiting_villages(s, utcnow()) if v["village"] == "大竹园村"]


async def test_a_run_moved_or_cancelled_moves_its_orders_and_tells_residents(
        gw: Texter, demo_database: Database) -> None:
    first = await schedule(gw, demo_database, local(1, 9), local(1, 7))
    await order_by_text(gw, ZHAO)
    await services(gw).dispatcher.run_once()
    f = Fulfilment.of(services(gw))
    async with demo_database.session() as s:
        run, told = await f.move_run(s, first, local(2, 14), actor="operator:test")
        assert told == 1 and run.stops[0].arrives_at == local(2, 14, 30)
    moved = (await texts_to(demo_database, ZHAO))[-1]
    assert "流动超市改时间了" in moved and "下午2点半到大竹园村村口" in moved, moved

    second = await schedule(gw, demo_database, local(4, 10), local(4, 8))
    async with demo_database.session() as s:
        _, back = await f.cancel_run(s, first, actor="operator:test")
    assert back == 1
    [order] = await orders_of(demo_database, ZHAO)
    assert order.status == "confirmed" and order.run_id is None
    assert "流动超市取消了" in (await texts_to(demo_database, ZHAO))[-1]
    await services(gw).dispatcher.run_once()
    [order] = await orders_of(demo_database, ZHAO)
    assert order.run_id == second and order.status == "assigned"
    last = (await texts_to(demo_database, ZHAO))[-1]
    assert "由流动超市送来" in last and "上午10点半到大竹园村村口" in last, last
    async with demo_database.session() as s:
        reasons = [e.reason for e in (await db.orders.get(s, order.id)).events]
    assert f"run {first} moved" in reasons and f"run {first} cancelled" in reasons
    assert any(r.startswith(f"on run {second}") for r in reasons)


async def test_at_the_stop_delivered_records_cash_and_not_home_goes_to_operators(
        gw: Texter, demo_database: Database) -> None:
    cutoff = local(1, 7)
    run_id = await schedule(gw, demo_database, local(1, 9), cutoff)
    await order_by_text(gw, ZHAO, "大米一袋")
    await order_by_text(gw, ZHAO, "鸡蛋一板")
    await services(gw).dispatcher.run_once()
    await services(gw).dispatcher.run_once(now=cutoff + timedelta(minutes=1))
    home, away = await orders_of(demo_database, ZHAO)
    assert home.status == away.status == "accepted"
    f = Fulfilment.of(services(gw))
    lid = await leader_id(demo_database)
    other = await leader_id(demo_database, "+8613900000001")
    async with demo_database.session() as s:
        sheet = await run_sheet(s, await db.runs.get(s, run_id), TZ)
        assert {(ln.name, ln.quantity, ln.households) for ln in sheet.lines} == {
            ("大米", Decimal(1), 1), ("鸡蛋", Decimal(1), 1)}
        assert [len(st.bags) for st in sheet.stops] == [2]
        assert await f.delivered_at_stop(s, home.id, leader_id=other) == "not_yours"
        assert await f.delivered_at_stop(s, home.id, leader_id=lid) == "ok"
        assert await f.delivered_at_stop(s, home.id, leader_id=lid) == "already"
        assert await f.not_home(s, away.id, leader_id=lid, actor=f"leader:{lid}") == "ok"
        assert await f.not_home(s, away.id, leader_id=lid, actor=f"leader:{lid}") == "already"
    home, away = await orders_of(demo_database, ZHAO)
    assert home.status == "delivered" and away.status == "unassigned"
    assert away.events[-1].reason == f"not home at the stop of run {run_id}"
    async with demo_database.session() as s:
        cash = (await s.execute(select(LedgerEntry).where(LedgerEntry.order_id == home.id))
                ).scalars().all()
    assert [(c.leader_id, c.kind, c.amount) for c in cash] == [(lid, "received", Decimal("45.00"))]
    texts = await texts_to(demo_database, ZHAO)
    assert any(f"订单{home.id}号已送达" in t for t in texts)
    missed = [t for t in texts if "没等到您" in t]
    assert len(missed) == 1 and f"订单{away.id}号" in missed[0] and "大竹园村村口" in missed[0]
    # it waits for the operators: no leader is offered it, and the dispatcher's late "no
    # leader yet" text is not sent on top of the resident's
    await services(gw).dispatcher.run_once(now=utcnow() + timedelta(hours=1))
    [_, away] = await orders_of(demo_database, ZHAO)
    assert away.status == "unassigned" and away.run_id == run_id
    assert len([t for t in await texts_to(demo_database, ZHAO) if str(away.id) in t]) == \
        len([t for t in texts if str(away.id) in t])


async def test_pickup_slots_never_exceed_capacity_and_numbers_count_per_day(
        gw: Texter, demo_database: Database) -> None:
    async with demo_database.session() as s:
        point, _ = await save_pickup_point(s, name="东门供销社", village="递铺镇",
                                           place="昌硕广场东门", hours="08:00-09:00",
                                           slot_minutes=30, capacity=2, prefix="A")
        await db.runs.set_pickup_village(s, "横山坞村", point.id)
    services(gw).runs_active.invalidate()
    readback, confirmed = await order_by_text(gw, LIU, "大米一袋")
    assert "请到东门供销社（昌硕广场东门）取货" in readback, readback
    assert "到东门供销社取货，取货时间和取货号马上短信告诉您" in confirmed, confirmed
    for text in ("鸡蛋一板", "大米两袋", "菜籽油一桶", "鸡蛋两板"):
        await order_by_text(gw, LIU, text)
    now = local(1, 7).astimezone(ZoneInfo("UTC"))
    await services(gw).dispatcher.run_once(now=now)
    orders = await orders_of(demo_database, LIU)
    got = [(o.slot_start.astimezone(TZ).strftime("%d %H:%M"), o.pickup_no) for o in orders]
    d1, d2 = local(1, 8).strftime("%d"), local(2, 8).strftime("%d")
    assert got == [(f"{d1} 08:00", "A-1"), (f"{d1} 08:00", "A-2"), (f"{d1} 08:30", "A-3"),
                   (f"{d1} 08:30", "A-4"), (f"{d2} 08:00", "A-1")]
    texts = await texts_to(demo_database, LIU)
    month, day = local(1, 8).month, local(1, 8).day
    assert any(t.startswith(f"请于{month}月{day}日 08:30–09:00 到东门供销社（昌硕广场东门）取货，"
                            f"取货号 A-3。订单{orders[2].id}号") for t in texts), texts
    # a cancelled order frees its seat for the next
    async with demo_database.session() as s:
        from gateway.orders.events import change_status

        o = await db.orders.get(s, orders[0].id, for_update=True)
        await change_status(s, o, "cancelled", actor="operator:test",
                            listeners=services(gw).listeners)
    await order_by_text(gw, LIU, "大米一袋")
    await services(gw).dispatcher.run_once(now=now)
    newest = (await orders_of(demo_database, LIU))[-1]
    assert newest.slot_start.astimezone(TZ).strftime("%d %H:%M") == f"{d1} 08:00"
    assert newest.pickup_no == "A-5"  # numbers are never handed out twice in a day
    f = Fulfilment.of(services(gw))
    async with demo_database.session() as s:
        assert await f.collected(s, newest.id, actor="outlet:1", outlet_id=point.id + 99) \
            == "not_yours"
        assert await f.collected(s, newest.id, actor="outlet:1", outlet_id=point.id) == "ok"
    assert (await orders_of(demo_database, LIU))[-1].status == "delivered"
    assert any(f"订单{newest.id}号已取货" in t for t in await texts_to(demo_database, LIU))


async def test_api_shows_the_fulfilment(make_client: Any, demo_database: Database,
                                        sms_settings: Any) -> None:
    await join_demo_leaders(demo_database, 7_000_000)
    settings = sms_settings(api_token="secret-token", pickup_lead_minutes=0)
    app = create_app(settings, build_services(settings, demo_database), workers=False)
    gw = Texter(await make_client(app), app)
    run_id = await schedule(gw, demo_database, local(1, 9), local(1, 7))
    async with demo_database.session() as s:
        point, _ = await save_pickup_point(s, name="东门供销社", village="递铺镇",
                                           hours="08:00-18:00", prefix="A")
        await db.runs.set_pickup_village(s, "横山坞村", point.id)
    await order_by_text(gw, ZHAO)
    await order_by_text(gw, LIU)
    await order_by_text(gw, GRANDMA)
    await services(gw).dispatcher.run_once()
    resp = await gw.client.get("/api/orders", headers={"Authorization": "Bearer secret-token"})
    assert resp.status == 200
    by_phone = {o["phone"]: o for o in (await resp.json())["orders"]}
    run = by_phone[ZHAO]["fulfilment"]
    assert run == {"kind": "run", "run": run_id, "stop": "大竹园村村口",
                   "time": local(1, 9, 30).astimezone(ZoneInfo("UTC")).isoformat()}
    pick = by_phone[LIU]["fulfilment"]
    assert pick["kind"] == "pickup" and pick["point"] == "东门供销社" \
        and pick["pickup_number"] == "A-1" and pick["slot"] < pick["slot_end"]
    assert by_phone[GRANDMA]["fulfilment"]["kind"] == "leader"


async def test_two_gateways_never_put_an_order_on_two_runs_or_overfill_a_slot(
        make_client: Any, demo_database: Database, sms_settings: Any) -> None:
    await join_demo_leaders(demo_database, 7_000_000)
    settings = sms_settings(pickup_lead_minutes=0)
    apps = [create_app(settings, build_services(settings, Database(settings.database_url)),
                       workers=False) for _ in range(2)]
    gws = [Texter(await make_client(app), app) for app in apps]
    await schedule(gws[0], demo_database, local(1, 9), local(1, 7))
    await schedule(gws[0], demo_database, local(2, 9), local(2, 7))
    async with demo_database.session() as s:
        point, _ = await save_pickup_point(s, name="东门供销社", village="递铺镇",
                                           hours="08:00-09:00", capacity=3, prefix="A")
        await db.runs.set_pickup_village(s, "横山坞村", point.id)
    for n in range(4):
        await order_by_text(gws[n % 2], ZHAO, f"大米{n + 1}袋")
        await order_by_text(gws[n % 2], LIU, f"鸡蛋{n + 1}板")
    now = local(1, 6).astimezone(ZoneInfo("UTC"))
    await asyncio.gather(*(services(g).dispatcher.run_once(now=now) for g in gws))
    await asyncio.gather(*(services(g).dispatcher.run_once(now=now) for g in gws))
    zhao, liu = await orders_of(demo_database, ZHAO), await orders_of(demo_database, LIU)
    assert all(o.status == "assigned" and o.fulfil_kind == "run" for o in zhao)
    for o in zhao + liu:  # one choice each: exactly one confirmed -> assigned event
        assert [e.to_status for e in o.events].count("assigned") == 1, o.events
    assert all(o.fulfil_kind == "pickup" for o in liu)
    async with demo_database.session() as s:
        seats = (await s.execute(select(PickupSeat))).scalars().all()
    by_slot: dict[datetime, int] = {}
    for seat in seats:
        by_slot[seat.slot_start] = by_slot.get(seat.slot_start, 0) + 1
    assert len(seats) == 4 and max(by_slot.values()) <= 3
    assert len({o.pickup_no + str(o.slot_start.date()) for o in liu}) == 4
    texts = await texts_to(demo_database, LIU)
    assert len([t for t in texts if "取货号" in t]) == 4  # one each, never twice
    for app in apps:
        await app[SERVICES].db.dispose()


async def test_korean_residents_hear_the_run_and_the_pickup_in_korean(
        gw: Texter, demo_database: Database) -> None:
    from gateway.orders.demo import load_demo_locales

    await load_demo_locales(demo_database, "zh-CN", ["ko-KR"])
    await join_demo_leaders(demo_database, 7_100_000)
    departs = local(1, 9)
    lid = await leader_id(demo_database, "+821090000002")
    async with demo_database.session() as s:
        await Fulfilment.of(services(gw)).create_run(s, RunRequest(
            villages=["정서리"], departs_at=departs, cutoff_at=local(1, 7), leader_id=lid,
            stops=[("정서리 마을회관 앞", None, None, departs + timedelta(minutes=30), "정서리")]),
            actor="test")
        point, _ = await save_pickup_point(s, name="하동농협 하나로마트", village="읍내리",
                                           place="하동읍 시장 입구", hours="08:00-18:00",
                                           prefix="B")
        await db.runs.set_pickup_village(s, "읍내리", point.id)
    services(gw).runs_active.invalidate()
    park = "+821000000003"  # 박말순, 정서리 (a supported household)
    readback, confirmed = await order_by_text(gw, park, "계란 한 판 주세요")
    assert "내일 오전 9시 반에 이동 슈퍼가 정서리 마을회관 앞에 옵니다" in readback, readback
    assert "내일 오전 9시 반에 이동 슈퍼가 정서리 마을회관 앞에 옵니다" in confirmed, confirmed
    lee = "+821000000002"  # 이영수, 읍내리
    readback, confirmed = await order_by_text(gw, lee, "계란 한 판 주세요")
    assert "하동농협 하나로마트(하동읍 시장 입구)에서 찾아가시면 됩니다" in readback, readback
    await services(gw).dispatcher.run_once(now=local(1, 6).astimezone(ZoneInfo("UTC")))
    [text] = [t for t in await texts_to(demo_database, lee) if "찾는 번호" in t]
    assert "하동농협 하나로마트(하동읍 시장 입구)에서 찾아가세요. 찾는 번호 B-1." in text, text
    assert text.startswith(f"{local(1, 8).month}월 {local(1, 8).day}일 08:00–08:30에"), text
    for body in [readback, confirmed, text]:
        assert not any(w in body for w in ("run", "pickup", "slot")), body
