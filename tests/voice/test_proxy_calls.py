"""A family member or carer orders by phone for a resident they look after (issue 20: "a proxy
can order for them by SMS (and by call)"): one resident, the call is theirs at once; several, a
key says whom for ("给妈妈订请按1，给外婆订请按2"). The order is the resident's, with the proxy
on it, so both are told. The real gateway on loopback, signed webhooks, keys at each <Gather>
(no recogniser: the keypad path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import db.orders
import db.people
import db.proxies
from gateway.orders.demo import load_demo
from tests.voice.calls import call, start
from tests.voice.test_keypad import WANG, only_order, past_order

LIU = "+8613800000005"  # 刘奶奶
SON = "+8613700000021"  # 王奶奶's son, 刘奶奶's grandson


async def _proxy(database: Any, resident_phone: str, relation: str) -> None:
    async with database.session() as s:
        resident = await db.people.resident_by_phone(s, resident_phone)
        assert resident is not None
        await db.proxies.add(s, resident=resident, phone=SON, name="王小明", relation=relation)


async def test_a_son_orders_his_mothers_usual_by_phone(
        make_client: Callable[..., Any], settings: Any, demo_database: Any) -> None:
    await past_order(demo_database, WANG, [("rice", "大米", 2, "袋"), ("eggs", "鸡蛋", 1, "板")])
    await _proxy(demo_database, WANG, "妈妈")
    _, twilio = await start(make_client, settings, demo_database, None)
    log = await call(twilio, SON, [], "91")
    assert log.heard[0].startswith("您好！这里是门口送。给妈妈订货，请用按键点菜。"), log.heard
    assert "和上次一样：大米2袋，鸡蛋1板，请按9" in log.heard[0]  # 王奶奶's usual, not his
    assert log.heard[-1].startswith("好的，已经下单：大米2袋，鸡蛋1板")
    [order] = await only_order(demo_database)
    async with demo_database.session() as s:
        order = await db.orders.get(s, order.id)
        assert order is not None and order.proxy is not None
        assert (order.status, order.phone, order.proxy.phone) == ("confirmed", WANG, SON)
        assert order.resident is not None and order.resident.name == "王奶奶"


async def test_a_grandson_looking_after_two_chooses_by_key(
        make_client: Callable[..., Any], settings: Any, demo_database: Any) -> None:
    await past_order(demo_database, LIU, [("noodles", "面条", 3, "把")])
    await _proxy(demo_database, WANG, "妈妈")
    await _proxy(demo_database, LIU, "外婆")
    _, twilio = await start(make_client, settings, demo_database, None)
    log = await call(twilio, SON, [], "7291")  # 7: no such one; 2: 外婆; 9 and 1: her usual
    assert log.heard[0] == "您好！这里是门口送。请问给谁订货？给妈妈订请按1，给外婆订请按2。留言请按0。"
    assert log.heard[1].startswith("没有这个编号。请问给谁订货？")
    assert "给外婆订货" in log.heard[2] and "和上次一样：面条3把" in log.heard[2], log.heard
    [order] = await only_order(demo_database)
    async with demo_database.session() as s:
        order = await db.orders.get(s, order.id)
        assert order is not None and order.proxy is not None
        assert (order.phone, order.proxy.relation) == (LIU, "外婆")
        assert [(i.sku, int(i.quantity)) for i in order.items] == [("noodles", 3)]


async def test_a_proxy_who_presses_nothing_leaves_a_message(
        make_client: Callable[..., Any], settings: Any, demo_database: Any) -> None:
    await _proxy(demo_database, WANG, "妈妈")
    await _proxy(demo_database, LIU, "外婆")
    _, twilio = await start(make_client, settings, demo_database, None)
    log = await call(twilio, SON, [], "")
    assert log.heard[0].startswith("您好！这里是门口送。请问给谁订货？")
    assert log.heard[1].startswith("没有听到按键。请问给谁订货？")
    assert any("留言" in h for h in log.heard[2:]), log.heard


async def test_a_korean_daughter_orders_for_her_mother_in_korean(
        make_client: Callable[..., Any], settings: Any, database: Any) -> None:
    kim = "+821000000001"  # 김순자
    daughter = "+821099990001"
    await load_demo(database, "ko-KR")
    demo_database = database
    async with demo_database.session() as s:
        resident = await db.people.resident_by_phone(s, kim)
        assert resident is not None
        await db.proxies.add(s, resident=resident, phone=daughter, name="이영희", relation="엄마")
    await past_order(demo_database, kim, [("rice", "쌀", 1, "포대")])
    _, twilio = await start(make_client, settings, demo_database, None)
    log = await call(twilio, daughter, [], "91")
    assert log.heard[0].startswith("안녕하세요, 도어스텝입니다. 엄마의 주문을 받겠습니다."), log.heard
    [order] = await only_order(demo_database)
    assert (order.status, order.phone, order.locale) == ("confirmed", kim, "ko-KR")
