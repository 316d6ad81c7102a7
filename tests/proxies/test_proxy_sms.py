"""Issue 20, family members and carers: a proxy orders for the resident they look after by SMS
(naming them, or from a menu when they look after several), the order is the resident's, the
proxy is told about it too, the leader's card names both, and a proxy never sees another
resident's orders. Real app and database, signed texts, the outbox read back."""

from __future__ import annotations

from typing import Any

import db.orders
import db.people
import db.proxies
from db.models import Task
from db.session import Database
from gateway.app import create_app
from gateway.channels.telegram.messages import TelegramMessages
from gateway.orders.events import change_status
from gateway.services import SERVICES, build_services
from tests.sms.conftest import Texter, fake_twilio, sms_settings
from tests.supply.test_stock import orders_of, texts_to

__all__ = ["fake_twilio", "sms_settings"]

WANG = "+8613800000001"  # 王奶奶, 鲁家村
LIU = "+8613800000005"  # 刘奶奶, 横山坞村
ZHANG = "+8613800000003"  # 张阿姨, 余村
SON = "+8613912345678"  # 王奶奶's son and 刘奶奶's grandson, in the city; not a resident
DAUGHTER = "+8613987654321"  # 张阿姨's daughter


async def add_proxy(database: Database, resident: str, phone: str, name: str,
                    relation: str) -> None:
    async with database.session() as s:
        r = await db.people.resident_by_phone(s, resident)
        await db.proxies.add(s, resident=r, phone=phone, name=name, relation=relation,
                             created_by="test")


async def start(make_client: Any, database: Database, sms_settings: Any) -> Texter:
    settings = sms_settings(api_token="proxy-test-token")
    app = create_app(settings, build_services(settings, database), workers=False)
    return Texter(await make_client(app), app)


async def test_a_son_orders_for_his_mother_and_his_grandmother(
        make_client: Any, demo_database: Database, sms_settings: Any) -> None:
    await add_proxy(demo_database, WANG, SON, "王小明", "妈妈")
    await add_proxy(demo_database, LIU, SON, "王小明", "外婆")
    gw = await start(make_client, demo_database, sms_settings)
    readback = await gw.text("给妈妈订：大米一袋", phone=SON)
    assert readback.startswith("您要：大米1袋。共45元。"), readback
    confirmed = await gw.text("1", phone=SON)
    assert confirmed.startswith("订单") and "已下单：大米1袋" in confirmed, confirmed
    [order] = await orders_of(demo_database, WANG)
    assert (order.phone, order.resident.name, order.status) == (WANG, "王奶奶", "confirmed")
    assert order.proxy is not None and order.proxy.phone == SON
    assert await orders_of(demo_database, SON) == []  # nothing is the son's own
    r = await gw.client.get(f"/api/orders/{order.id}",
                            headers={"Authorization": "Bearer proxy-test-token"})
    assert r.status == 200
    body = await r.json()
    assert body["phone"] == WANG and body["resident"]["name"] == "王奶奶"
    assert body["proxy"] == {"name": "王小明", "phone": SON, "relation": "妈妈"}

    # no name, two residents: which one?
    menu = await gw.text("鸡蛋一板", phone=SON)
    assert menu.startswith("您替谁下单？请回复编号：1 妈妈，2 外婆。"), menu
    readback = await gw.text("2", phone=SON)
    assert readback.startswith("您要：鸡蛋1板。"), readback
    await gw.text("1", phone=SON)
    [liu] = await orders_of(demo_database, LIU)
    assert liu.items[0].name == "鸡蛋" and liu.proxy.relation == "外婆"
    assert len(await orders_of(demo_database, WANG)) == 1

    # the resident's texts about the order reach the son too, marked with whom
    async with demo_database.session() as s:
        o = await db.orders.get(s, order.id)
        leader = (await db.people.list_leaders(s))[0]
        o.leader_id = leader.id
        await change_status(s, o, "assigned", actor="dispatcher",
                            listeners=gw.app[SERVICES].listeners)
        await change_status(s, o, "accepted", actor=f"leader:{leader.id}",
                            listeners=gw.app[SERVICES].listeners)
    to_mother = [t for t in await texts_to(demo_database, WANG) if "已由团长" in t]
    to_son = [t for t in await texts_to(demo_database, SON) if "已由团长" in t]
    assert len(to_mother) == 1 and to_son == ["【妈妈】" + to_mother[0].strip()], to_son

    # the leader's card names both
    async with demo_database.session() as s:
        o = await db.orders.get(s, order.id)
        card, _ = TelegramMessages(gw.app[SERVICES].templates, gw.app[SERVICES].settings).card(
            leader, Task(id=1, order_id=o.id, leader_id=leader.id), o, "offered")
    assert "居民：王奶奶" in card and f"代订：王小明（妈妈） {SON}" in card, card


async def test_a_proxy_sees_only_her_residents_orders(
        make_client: Any, demo_database: Database, sms_settings: Any) -> None:
    await add_proxy(demo_database, ZHANG, DAUGHTER, "张丽", "妈妈")
    gw = await start(make_client, demo_database, sms_settings)
    await gw.text("大米两袋", phone=WANG)
    await gw.text("1", phone=WANG)
    [wang] = await orders_of(demo_database, WANG)
    status = await gw.text("到哪了", phone=DAUGHTER)
    assert f"{wang.id}号" not in status and "大米" not in status, status
    await gw.text("鸡蛋一板", phone=DAUGHTER)  # one resident: no menu needed
    await gw.text("1", phone=DAUGHTER)
    [zhang] = await orders_of(demo_database, ZHANG)
    status = await gw.text("到哪了", phone=DAUGHTER)
    assert f"{zhang.id}号" in status and f"{wang.id}号" not in status, status
    # a stranger naming someone orders for nobody: the text waits for an operator
    await gw.text("给妈妈订：大米一袋", phone="+8613911110000")
    [kept] = await orders_of(demo_database, "+8613911110000")
    assert (kept.status, kept.resident_id, kept.proxy_id) == ("needs_review", None, None)
    assert len(await orders_of(demo_database, ZHANG)) == 1


async def test_a_korean_daughter_orders_for_her_mother(
        make_client: Any, demo_database: Database, sms_settings: Any) -> None:
    from gateway.orders.demo import load_demo_locales

    await load_demo_locales(demo_database, "zh-CN", ["ko-KR"])
    kim = "+821000000001"
    await add_proxy(demo_database, kim, "+821055550000", "이수진", "엄마")
    gw = await start(make_client, demo_database, sms_settings)
    readback = await gw.text("엄마 주문: 계란 한 판", phone="+821055550000")
    assert "계란" in readback and "맞으면 1" in readback, readback
    confirmed = await gw.text("1", phone="+821055550000")
    assert "주문 접수" in confirmed, confirmed
    [order] = await orders_of(demo_database, kim)
    assert order.proxy.name == "이수진" and order.locale == "ko-KR"


async def test_a_resident_who_is_also_a_proxy_orders_for_herself_unless_she_names_one(
        make_client: Any, demo_database: Database, sms_settings: Any) -> None:
    await add_proxy(demo_database, LIU, ZHANG, "张阿姨", "妈妈")  # 张阿姨 looks after 刘奶奶
    gw = await start(make_client, demo_database, sms_settings)
    assert (await gw.text("大米一袋", phone=ZHANG)).startswith("您要：大米1袋。")
    await gw.text("1", phone=ZHANG)
    [own] = await orders_of(demo_database, ZHANG)
    assert (own.resident.name, own.proxy_id) == ("张阿姨", None)
    # naming her mother: the draft, its additions and its 1 are the mother's
    assert (await gw.text("给妈妈订：鸡蛋一板", phone=ZHANG)).startswith("您要：鸡蛋1板。")
    assert (await gw.text("再加大米一袋", phone=ZHANG)).startswith("您要：鸡蛋1板、大米1袋。")
    await gw.text("1", phone=ZHANG)
    [liu] = await orders_of(demo_database, LIU)
    assert (liu.phone, liu.proxy.phone, [i.name for i in liu.items]) == (
        LIU, ZHANG, ["鸡蛋", "大米"])
    assert len(await orders_of(demo_database, ZHANG)) == 1
    # the next order without a name is her own again
    await gw.text("鸡蛋一板", phone=ZHANG)
    await gw.text("1", phone=ZHANG)
    assert len(await orders_of(demo_database, ZHANG)) == 2
    assert len(await orders_of(demo_database, LIU)) == 1


async def test_a_resident_who_is_also_a_proxy_orders_for_himself_unless_he_names_her(
        make_client: Any, demo_database: Database, sms_settings: Any) -> None:
    grandpa = "+8613800000002"  # 李爷爷, a resident, also looks after 王奶奶
    await add_proxy(demo_database, WANG, grandpa, "李爷爷", "老伴")
    gw = await start(make_client, demo_database, sms_settings)
    await gw.text("大米一袋", phone=grandpa)
    await gw.text("1", phone=grandpa)
    [own] = await orders_of(demo_database, grandpa)
    assert (own.resident.name, own.proxy_id) == ("李爷爷", None)
    assert (await gw.text("给老伴订：鸡蛋一板", phone=grandpa)).startswith("您要：鸡蛋1板。")
    await gw.text("1", phone=grandpa)
    [hers] = await orders_of(demo_database, WANG)
    assert (hers.resident.name, hers.proxy.phone, hers.items[0].name) == ("王奶奶", grandpa, "鸡蛋")
    assert len(await orders_of(demo_database, grandpa)) == 1
    # his status question is about his own order
    status = await gw.text("到哪了", phone=grandpa)
    assert f"订单{own.id}号" in status and f"{hers.id}号" not in status, status
