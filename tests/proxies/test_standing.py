"""Issue 20, standing orders ("每周二一样"): set by text after an order (or with the goods), asked
before each time, confirmed by 1 (one order, as any SMS order), skipped by 2, decided at the
deadline when nobody answers, paused and stopped by text, set and asked by a proxy, on each
village run; two gateways on one round make one order. Real app (workers off: the standing
worker is driven by hand with `tick(now=...)`), real database, signed texts, outbox read back."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import db.people
import db.standing
from db.models import Order, Outbox, StandingOrder, StandingRound, utcnow
from db.session import Database
from gateway.app import STANDING, create_app
from gateway.orders.standing import Phrase, Standing, StandingWorker, deadline_of
from gateway.services import SERVICES, build_services
from tests.proxies.test_proxy_sms import SON, WANG, add_proxy
from tests.sms.conftest import Texter, fake_twilio, sms_settings
from tests.supply.test_stock import orders_of, texts_to

__all__ = ["fake_twilio", "sms_settings"]

TZ = ZoneInfo("Asia/Shanghai")
GRANDPA = "+8613800000002"  # 李爷爷
LIU = "+8613800000005"  # 刘奶奶
ASK = "本周照旧吗？回复1确认，2跳过"


async def start(make_client: Any, database: Database, sms_settings: Any) -> Texter:
    settings = sms_settings(unassigned_sms_minutes=0)
    app = create_app(settings, build_services(settings, database), workers=False)
    return Texter(await make_client(app), app)


@pytest.fixture
async def gw(make_client: Any, demo_database: Database, sms_settings: Any) -> Texter:
    return await start(make_client, demo_database, sms_settings)


def worker(gw: Texter) -> StandingWorker:
    return gw.app[STANDING]


async def standing_of(database: Database, phone: str) -> list[StandingOrder]:
    async with database.session() as s:
        return list(await db.standing.listing(s, resident_phone=phone, statuses=None))


async def rounds_of(database: Database, standing_id: int) -> list[StandingRound]:
    async with database.session() as s:
        return list(await db.standing.rounds_of(s, standing_id))


def window(so: StandingOrder, before: timedelta = timedelta(hours=2)) -> tuple[datetime,
                                                                                 datetime]:
    """A moment inside the first round's ask window, and its deadline."""
    dl = deadline_of(so.start_date, TZ, "20:00")
    return dl - before, dl


async def add_standing(gw: Texter, database: Database, phone: str, *, weekday: int = 1,
                       unconfirmed: str = "skip", items: Any = None) -> StandingOrder:
    """A standing order as `doorstep standing add` makes one."""
    async with database.session() as s:
        resident = await db.people.resident_by_phone(s, phone)
        return await Standing.of(gw.app[SERVICES]).create(
            s, resident=resident, items=items or [{"sku": "eggs", "name": "鸡蛋", "quantity": 1,
                                                   "unit": "板"}],
            when=Phrase(weekday), unconfirmed=unconfirmed, created_by="test")


async def test_every_tuesday_the_same_is_asked_and_confirmed_by_1(
        gw: Texter, demo_database: Database) -> None:
    await gw.text("大米两袋")
    await gw.text("1")
    reply = await gw.text("每周二一样")
    assert reply.startswith("好的，每周二送：大米2袋。第一次是"), reply
    assert "（周二）" in reply and "回复“暂停”" in reply
    [so] = await standing_of(demo_database, WANG)
    assert (so.weekday, so.every_weeks, so.status, so.unconfirmed) == (1, 1, "active", "skip")
    assert so.items == [{"sku": "rice", "name": "大米", "quantity": "2", "unit": "袋"}]
    assert so.start_date.weekday() == 1 and so.created_by == f"sms:{WANG}"

    early, dl = window(so, timedelta(hours=30))
    assert (await worker(gw).tick(now=early))["asked"] == 0  # not yet
    at, dl = window(so)
    assert (await worker(gw).tick(now=at))["asked"] == 1
    assert (await worker(gw).tick(now=at + timedelta(minutes=5)))["asked"] == 0  # asked once
    [ask] = [t for t in await texts_to(demo_database, WANG) if ASK in t]
    day = so.start_date
    assert ask.startswith(f"{day.month}月{day.day}日（周二）的固定订单：大米2袋。"), ask
    assert ask.endswith("20:00前不回复就跳过这次。"), ask

    confirmed = await gw.text("1")
    _, second = await orders_of(demo_database, WANG)
    assert confirmed.startswith(f"订单{second.id}号已下单：大米2袋。共90元"), confirmed
    assert (second.status, second.channel, second.phone, second.proxy_id) == (
        "confirmed", "sms", WANG, None)
    assert second.note.startswith("固定订单（每周二）") and second.items[0].unit_price is not None
    [r] = await rounds_of(demo_database, so.id)
    assert (r.state, r.order_id, r.answered_by) == ("ordered", second.id, f"sms:{WANG}")
    # the deadline passes: nothing more
    assert await worker(gw).tick(now=dl + timedelta(seconds=1)) == {
        "asked": 0, "ordered": 0, "skipped": 0}
    assert len(await orders_of(demo_database, WANG)) == 2
    # a 1 with no question open is the conversation's again
    assert (await gw.text("1")).startswith("现在没有待确认的订单。")


async def test_2_skips_the_time_and_no_order_is_made(gw: Texter, demo_database: Database) -> None:
    so = await add_standing(gw, demo_database, WANG, weekday=4)
    at, dl = window(so)
    await worker(gw).tick(now=at)
    reply = await gw.text("2")
    day = so.start_date
    assert reply == f"好的，{day.month}月{day.day}日（周五）的固定订单这次不送了，下次照常问您。", reply
    assert await orders_of(demo_database, WANG) == []
    [r] = await rounds_of(demo_database, so.id)
    assert (r.state, r.order_id) == ("skipped", None)
    await worker(gw).tick(now=dl + timedelta(seconds=1))
    assert await orders_of(demo_database, WANG) == []
    # the next week's time is asked in its own window
    nxt = so.start_date + timedelta(days=7)
    await worker(gw).tick(now=deadline_of(nxt, TZ, "20:00") - timedelta(hours=1))
    assert [r.day for r in await rounds_of(demo_database, so.id)] == [so.start_date, nxt]


async def test_unanswered_times_are_skipped_or_confirmed_as_set(
        gw: Texter, demo_database: Database) -> None:
    skip = await add_standing(gw, demo_database, WANG, weekday=2)
    confirm = await add_standing(gw, demo_database, GRANDPA, weekday=2, unconfirmed="confirm")
    at, dl = window(skip)
    assert (await worker(gw).tick(now=at))["asked"] == 2
    ask = [t for t in await texts_to(demo_database, GRANDPA) if ASK in t]
    assert ask and ask[0].endswith("20:00前不回复就照常下单。"), ask
    woken: list[int] = []
    gw.app[SERVICES].wake_dispatcher = lambda: woken.append(1)
    assert await worker(gw).tick(now=dl) == {"asked": 0, "ordered": 1, "skipped": 1}
    assert woken == [1]
    assert await orders_of(demo_database, WANG) == []
    [order] = await orders_of(demo_database, GRANDPA)
    assert (order.status, order.items[0].name, order.events[0].actor) == (
        "confirmed", "鸡蛋", f"standing:{confirm.id}")
    told = [t for t in await texts_to(demo_database, GRANDPA) if "没有收到回复" in t]
    day = confirm.start_date
    assert told == [(f"{day.month}月{day.day}日（周三）的固定订单没有收到回复，已照常下单："
                     f"订单{order.id}号，鸡蛋1板。共28元，货到付款。")], told
    [r] = await rounds_of(demo_database, confirm.id)
    assert (r.state, r.order_id, r.answered_by) == ("ordered", order.id, "deadline")
    [r] = await rounds_of(demo_database, skip.id)
    assert (r.state, r.answered_by) == ("skipped", "deadline")
    # an answer after the deadline is the conversation's, not the round's
    assert (await gw.text("1", phone=WANG)).startswith("现在没有待确认的订单。")
    assert await orders_of(demo_database, WANG) == []


async def test_pause_resume_and_stop_by_text(gw: Texter, demo_database: Database) -> None:
    reply = await gw.text("每周三：鸡蛋一板")
    assert reply.startswith("好的，每周三送：鸡蛋1板。"), reply
    [so] = await standing_of(demo_database, WANG)
    at, dl = window(so)
    assert await gw.text("暂停") == "已暂停固定订单：每周三鸡蛋1板。回复“继续”恢复。"
    assert (await worker(gw).tick(now=at))["asked"] == 0
    assert await gw.text("暂停") == "您没有固定订单。想每周送一样的，下单后回复“每周二一样”（换成您要的日子）。"
    assert (await gw.text("继续")).startswith("已恢复固定订单：每周三鸡蛋1板。")
    assert (await worker(gw).tick(now=at))["asked"] == 1
    assert await gw.text("停止") == "已停止固定订单：每周三鸡蛋1板。以后不再问您。"
    [r] = await rounds_of(demo_database, so.id)
    assert (r.state, r.answered_by) == ("skipped", f"stopped:sms:{WANG}")
    # the question went with the standing order
    assert (await gw.text("1")).startswith("现在没有待确认的订单。")
    assert (await worker(gw).tick(now=dl))["ordered"] == 0
    assert "暂停的" in await gw.text("继续")  # stopped is for good
    assert [s.status for s in await standing_of(demo_database, WANG)] == ["stopped"]
    assert await orders_of(demo_database, WANG) == []


async def test_korean_resident_sets_pauses_and_stops(
        gw: Texter, demo_database: Database) -> None:
    from gateway.orders.demo import load_demo_locales

    await load_demo_locales(demo_database, "zh-CN", ["ko-KR"])
    kim = "+821000000001"
    await gw.text("계란 한 판", phone=kim)
    await gw.text("1", phone=kim)
    reply = await gw.text("매주 화요일 똑같이 주세요", phone=kim)
    assert reply.startswith("알겠습니다. 매주 화요일 보내 드립니다: 계란 1판. 처음은"), reply
    [so] = await standing_of(demo_database, kim)
    await worker(gw).tick(now=window(so)[0])
    [ask] = [t for t in await texts_to(demo_database, kim) if "정기 주문:" in t]
    assert "이번 주도 그대로 할까요? 확인은 1, 건너뛰려면 2를 보내 주세요." in ask, ask
    assert (await gw.text("일시정지", phone=kim)).startswith("정기 주문을 잠시 멈췄습니다: 매주 화요일 계란 1판.")
    assert (await gw.text("재개", phone=kim)).startswith("정기 주문을 다시 시작했습니다")
    assert (await gw.text("격주 금요일: 쌀 한 포대", phone=kim)).startswith(
        "알겠습니다. 2주마다 금요일 보내 드립니다: 쌀 1포대.")
    assert (await gw.text("중지", phone=kim)).startswith(
        "정기 주문을 그만두었습니다: 매주 화요일 계란 1판; 2주마다 금요일 쌀 1포대.")


async def test_a_son_sets_his_mothers_standing_order_and_is_asked(
        gw: Texter, demo_database: Database) -> None:
    await add_proxy(demo_database, WANG, SON, "王小明", "妈妈")
    await add_proxy(demo_database, LIU, SON, "王小明", "外婆")
    reply = await gw.text("给妈妈订：每周二：大米两袋", phone=SON)
    assert reply.startswith("好的，给妈妈每周二送：大米2袋。"), reply
    [so] = await standing_of(demo_database, WANG)
    assert so.proxy_id is not None and await standing_of(demo_database, LIU) == []
    await worker(gw).tick(now=window(so)[0])
    assert not [t for t in await texts_to(demo_database, WANG) if ASK in t]  # he is asked
    [ask] = [t for t in await texts_to(demo_database, SON) if ASK in t]
    assert ask.startswith("【妈妈】") and "大米2袋" in ask, ask
    confirmed = await gw.text("1", phone=SON)
    [order] = await orders_of(demo_database, WANG)
    assert confirmed.startswith(f"订单{order.id}号已下单：大米2袋"), confirmed
    assert (order.phone, order.resident.name, order.proxy.phone) == (WANG, "王奶奶", SON)
    # 暂停 from him pauses his residents' standing orders; a stranger's 暂停 is no one's
    assert (await gw.text("暂停", phone=SON)).startswith("已暂停固定订单：每周二大米2袋。")
    await gw.text("暂停", phone="+8613911110000")
    assert [s.status for s in await standing_of(demo_database, WANG)] == ["paused"]


async def test_a_standing_order_on_each_run(gw: Texter, demo_database: Database) -> None:
    from gateway.orders.demo import join_demo_leaders
    from gateway.orders.standing import RUN_MARGIN, when_of
    from tests.runs.test_fulfilment import ZHAO, local, schedule

    await join_demo_leaders(demo_database, 7_100_000)
    run_id = await schedule(gw, demo_database, local(3, 9), local(3, 7))
    async with demo_database.session() as s:
        zhao = await db.people.resident_by_phone(s, ZHAO)
        so = await Standing.of(gw.app[SERVICES]).create(
            s, resident=zhao, items=[{"sku": "rice", "name": "大米", "quantity": 1, "unit": "袋"}],
            when=when_of("run"), created_by="test")
    deadline = local(3, 7) - RUN_MARGIN
    assert (await worker(gw).tick(now=deadline - timedelta(hours=25)))["asked"] == 0
    assert (await worker(gw).tick(now=deadline - timedelta(hours=1)))["asked"] == 1
    [r] = await rounds_of(demo_database, so.id)
    assert (r.run_id, r.day, r.deadline) == (run_id, local(3, 9).date(), deadline)
    reply = await gw.text("1", phone=ZHAO)
    assert "流动超市到大竹园村村口，请到时来取" in reply, reply
    await gw.app[SERVICES].dispatcher.run_once()
    [order] = await orders_of(demo_database, ZHAO)
    assert (order.fulfil_kind, order.run_id) == ("run", run_id)


async def test_two_gateways_on_one_round_make_one_order(
        make_client: Any, demo_database: Database, sms_settings: Any, db_url: str) -> None:
    first = await start(make_client, demo_database, sms_settings)
    other_db = Database(db_url)
    try:
        second = await start(make_client, other_db, sms_settings)
        so = await add_standing(first, demo_database, GRANDPA, weekday=3, unconfirmed="confirm")
        at, dl = window(so)
        asked = await asyncio.gather(worker(first).tick(now=at), worker(second).tick(now=at))
        assert sorted(c["asked"] for c in asked) == [0, 1]
        # a restart between the question and the deadline loses nothing: a new worker on the
        # same database applies it, and two of them at once make one order
        again = StandingWorker(second.app[SERVICES])
        done = await asyncio.gather(worker(first).tick(now=dl), again.tick(now=dl),
                                    worker(second).tick(now=dl))
        assert sum(c["ordered"] for c in done) == 1
        assert len(await orders_of(demo_database, GRANDPA)) == 1
        async with demo_database.session() as s:
            n = (await s.execute(select(func.count(Outbox.id)).where(
                Outbox.recipient == GRANDPA, Outbox.body.contains(ASK)))).scalar_one()
            rounds = (await s.execute(select(func.count(StandingRound.id)))).scalar_one()
            orders = (await s.execute(select(func.count(Order.id)))).scalar_one()
        assert (n, rounds, orders) == (1, 1, 1)
    finally:
        await other_db.dispose()


async def test_an_answer_and_the_deadline_racing_make_one_order(
        gw: Texter, demo_database: Database) -> None:
    so = await add_standing(gw, demo_database, WANG, weekday=5, unconfirmed="confirm")
    at, dl = window(so)
    await worker(gw).tick(now=at)
    async with demo_database.session() as s:
        [(rnd, standing)] = await db.standing.open_for(s, WANG, utcnow())
    st = Standing.of(gw.app[SERVICES])

    async def answer() -> Any:
        async with demo_database.session() as s:
            r = await s.get(StandingRound, rnd.id)
            so2 = await db.standing.get(s, standing.id)
            return await st.confirm(s, r, so2, by="sms:test", actor="resident:sms")

    results = await asyncio.gather(answer(), worker(gw).tick(now=dl))
    made = (results[0] is not None) + results[1]["ordered"]
    assert made == 1 and len(await orders_of(demo_database, WANG)) == 1


async def test_the_residents_own_choice_for_unanswered_weeks(
        gw: Texter, demo_database: Database) -> None:
    """An unanswered week is skipped or ordered by a per-resident setting: a standing order set
    by text takes it, and changing it changes the standing orders they have."""
    from gateway.orders.standing import set_unconfirmed

    async with demo_database.session() as s:
        resident = await db.people.resident_by_phone(s, WANG)
        assert resident is not None
        await set_unconfirmed(s, resident, "confirm")
    await gw.text("大米两袋")
    await gw.text("1")
    await gw.text("每周二一样")
    [so] = await standing_of(demo_database, WANG)
    assert so.unconfirmed == "confirm"
    at, dl = window(so)
    await worker(gw).tick(now=at)
    [ask] = [t for t in await texts_to(demo_database, WANG) if ASK in t]
    assert ask.endswith("20:00前不回复就照常下单。"), ask
    async with demo_database.session() as s:
        resident = await db.people.resident_by_phone(s, WANG)
        assert resident is not None
        assert await set_unconfirmed(s, resident, "skip") == 1  # the one they have
        assert await set_unconfirmed(s, resident, "skip") == 0
    await worker(gw).tick(now=dl)
    [r] = await rounds_of(demo_database, so.id)
    assert (r.state, r.answered_by) == ("skipped", "deadline")
    before = len(await orders_of(demo_database, WANG))
    assert before == 1  # only the order texted at the start
