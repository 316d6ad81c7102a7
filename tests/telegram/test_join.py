"""Leaders join with their invite code, set their base, switch duty; webhook hygiene."""

from __future__ import annotations

import asyncio

import db.people
from tests.telegram.conftest import SECRET, Harness


async def test_start_with_invite_code_links_the_account(gw: Harness) -> None:
    ld = await gw.leader(1001, "吴团长", 30.6, 119.7, link=False)
    await gw.emu.send_text(1001, f"/start {ld.invite_code}")
    text = (await gw.emu.wait_message(1001, "已绑定"))["text"]
    assert "吴团长" in text
    async with gw.services.db.session() as s:
        linked = await db.people.leader_by_telegram(s, 1001)
        assert linked is not None and linked.id == ld.id and linked.telegram_chat_id == 1001
        assert linked.invite_used_at is not None


async def test_wrong_or_used_code_is_refused(gw: Harness) -> None:
    ld = await gw.leader(1001, "吴团长", 30.6, 119.7)
    await gw.emu.send_text(2002, "/start not-a-code")
    await gw.emu.wait_message(2002, "邀请码无效")
    await gw.emu.send_text(2002, f"/start {ld.invite_code}")
    await gw.emu.wait_message(2002, "已经被使用")
    await gw.emu.send_text(2002, "/tasks")
    await gw.emu.wait_message(2002, "还没有绑定")
    async with gw.services.db.session() as s:
        assert await db.people.leader_by_telegram(s, 2002) is None


async def test_location_sets_base_and_duty_toggles(gw: Harness) -> None:
    ld = await gw.leader(1001, "吴团长", 30.6, 119.7)
    await gw.emu.send_location(1001, 30.65, 119.75)
    await gw.emu.wait_message(1001, "已更新您的位置")
    await gw.emu.send_text(1001, "/duty")
    await gw.emu.wait_message(1001, "已下班")
    async with gw.services.db.session() as s:
        now = await db.people.leader_by_phone(s, ld.phone)
        assert now is not None and (now.lat, now.lon) == (30.65, 119.75) and not now.on_duty
    assert gw.dispatcher.index.get(ld.id).lat == 30.65
    await gw.emu.send_text(1001, "/duty")
    await gw.emu.wait_message(1001, "已上班")


async def test_webhook_needs_the_secret_and_ignores_replays(gw: Harness) -> None:
    ld = await gw.leader(1001, "吴团长", 30.6, 119.7, link=False)
    update = {"update_id": 42, "message": {
        "message_id": 1, "date": 0, "chat": {"id": 1001, "type": "private"},
        "from": {"id": 1001, "is_bot": False, "first_name": "W"},
        "text": f"/start {ld.invite_code}"}}
    r = await gw.client.post("/telegram/webhook", json=update,
                             headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
    assert r.status == 401
    r = await gw.client.post("/telegram/webhook", json=update)
    assert r.status == 401
    for _ in range(3):
        r = await gw.client.post("/telegram/webhook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert r.status == 200
    await gw.emu.wait_message(1001, "已绑定")
    await asyncio.sleep(0.3)
    assert len([t for t in gw.emu.texts(1001) if "已绑定" in t or "已经被使用" in t]) == 1
