"""Outlet staff on Telegram (issue 18): join with the outlet's invite link, report a shortage
or a restock by name (`/short 鸡蛋`, `/short 계란`) or with product buttons; reports are rows,
never edits. The real gateway against the Bot API emulator."""

from __future__ import annotations

from datetime import timedelta

import db.people
import db.stock
from db.models import Product, utcnow
from tests.telegram.conftest import HOME, Harness

STAFF = 3001
KO_STAFF = 3002


async def setup(gw: Harness) -> tuple[str, str]:
    async with gw.services.db.session() as s:
        s.add_all([Product(sku="eggs", name="鸡蛋", aliases=["蛋", "土鸡蛋"], unit="板"),
                   Product(sku="rice", name="大米", aliases=["米"], unit="袋"),
                   Product(sku="oil", name="菜籽油", aliases=["油"], unit="桶"),
                   Product(sku="ko-eggs", name="계란", aliases=["달걀"], unit="판")])
        zh, _ = await db.stock.add_outlet(s, name="鲁家村服务站", village="鲁家村",
                                          lat=None, lon=None)
        ko, _ = await db.stock.add_outlet(s, name="평사리 농협 매장", village="평사리",
                                          lat=None, lon=None)
        codes = zh.invite_code, ko.invite_code
        # 鲁家村 speaks zh-CN, 평사리 ko-KR: the staff's language is their village's.
        await db.people.upsert_resident(s, "+8613800000001", name="王奶奶", village="鲁家村",
                                        locale="zh-CN")
        await db.people.upsert_resident(s, "+821000000001", name="김순자", village="평사리",
                                        locale="ko-KR")
    return codes


async def reports(gw: Harness) -> list[tuple[str, str, str]]:
    async with gw.services.db.session() as s:
        now = utcnow()
        rows = await db.stock.reports_between(s, now - timedelta(hours=1),
                                              now + timedelta(hours=1))
        return [(o.name, r.sku, r.kind) for r, o in rows]


async def test_staff_join_and_report_by_name_and_by_button(gw: Harness) -> None:
    zh, _ = await setup(gw)
    await gw.emu.send_text(STAFF, "/short 鸡蛋")
    await gw.emu.wait_message(STAFF, "还没有绑定")  # not staff yet: the leaders' answer
    await gw.emu.send_text(STAFF, f"/start {zh}")
    await gw.emu.wait_message(STAFF, "您已加入网点「鲁家村服务站」")
    await gw.emu.send_text(STAFF, "/short 鸡蛋")
    await gw.emu.wait_message(STAFF, "已记录：鲁家村服务站 鸡蛋缺货")
    await gw.emu.send_text(STAFF, "/restock 蛋")  # an alias
    await gw.emu.wait_message(STAFF, "鸡蛋已补货")
    # A misspelt or partial name: the closest products as buttons.
    await gw.emu.send_text(STAFF, "/short 菜油")
    choose = await gw.emu.wait_message(STAFF, "没有找到「菜油」", buttons=True)
    labels = [b["text"] for row in choose["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[0] == "菜籽油" and "계란" not in labels, labels
    await gw.emu.press(STAFF, choose, "菜籽油")
    await gw.emu.wait_message(STAFF, "菜籽油缺货")
    # No product at all: every product of the staff's language.
    await gw.emu.send_text(STAFF, "/short")
    choose = await gw.emu.wait_message(STAFF, "哪样商品缺货", buttons=True)
    labels = [b["text"] for row in choose["reply_markup"]["inline_keyboard"] for b in row]
    assert sorted(labels) == ["大米", "菜籽油", "鸡蛋"]
    await gw.emu.send_text(STAFF, "你好")
    await gw.emu.wait_message(STAFF, "/short 商品名 报告缺货")
    assert await reports(gw) == [("鲁家村服务站", "eggs", "short"),
                                 ("鲁家村服务站", "eggs", "restock"),
                                 ("鲁家村服务站", "oil", "short")]


async def test_korean_staff_and_bad_codes(gw: Harness) -> None:
    _, ko = await setup(gw)
    await gw.emu.send_text(KO_STAFF, "/start o-not-a-code")
    await gw.emu.wait_message(KO_STAFF, "邀请")  # not an outlet code: the leaders' answer
    await gw.emu.send_text(KO_STAFF, f"/start {ko}")
    await gw.emu.wait_message(KO_STAFF, "판매점 직원으로 등록")
    await gw.emu.send_text(KO_STAFF, "/short 달걀")
    await gw.emu.wait_message(KO_STAFF, "계란 품절")
    await gw.emu.send_text(KO_STAFF, "/restock 김치")
    msg = await gw.emu.wait_message(KO_STAFF, "「김치」", buttons=True)
    assert all("\u4e00" > ch or ch > "\u9fff" for ch in msg["text"])  # no Chinese to them
    assert await reports(gw) == [("평사리 농협 매장", "ko-eggs", "short")]


async def test_a_leader_who_is_also_staff_keeps_the_leader_commands(gw: Harness) -> None:
    zh, _ = await setup(gw)
    await gw.leader(STAFF, "吴团长", *HOME)
    await gw.emu.send_text(STAFF, f"/start {zh}")
    await gw.emu.wait_message(STAFF, "您已加入网点")
    await gw.emu.send_text(STAFF, "/short 大米")
    await gw.emu.wait_message(STAFF, "大米缺货")
    await gw.emu.send_text(STAFF, "/help")
    await gw.emu.wait_message(STAFF, "团长命令")


async def test_staff_can_still_join_as_a_leader_with_a_leaders_invite(gw: Harness) -> None:
    zh, _ = await setup(gw)
    await gw.emu.send_text(STAFF, f"/start {zh}")
    await gw.emu.wait_message(STAFF, "您已加入网点")
    await gw.emu.send_text(STAFF, "/start")
    await gw.emu.wait_message(STAFF, "/short 商品名 报告缺货")  # staff help, no code given
    leader = await gw.leader(STAFF, "吴团长", *HOME, link=False)
    await gw.emu.send_text(STAFF, f"/start {leader.invite_code}")
    await gw.emu.wait_message(STAFF, "已绑定")
