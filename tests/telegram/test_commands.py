"""/tasks, /shopping, /newresident, operator alerts, hiding residents' details, long polling."""

from __future__ import annotations

import wave
from datetime import timedelta
from pathlib import Path

import pytest

import db.orders
import db.people
from db.models import Product, utcnow
from tests.telegram.conftest import HOME, OPERATOR_CHAT, PORK, RICE, Harness

NEAR = (HOME[0] + 0.004, HOME[1])


async def accept(gw: Harness, user_id: int, order_id: int) -> None:
    card = await gw.card(user_id, order_id, buttons=True)
    await gw.emu.press(user_id, card, "接单")
    await gw.wait_status(order_id, "accepted")


async def test_tasks_lists_open_tasks(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    await gw.emu.send_text(1001, "/tasks")
    await gw.emu.wait_message(1001, "没有进行中的订单")
    a = await gw.order(await gw.resident())
    await accept(gw, 1001, a)
    b = await gw.order(await gw.resident("+8613800000002", "李爷爷"))
    await gw.card(1001, b, buttons=True)
    await gw.emu.send_text(1001, "/tasks")
    text = (await gw.emu.wait_message(1001, "进行中的订单（2）"))["text"]
    assert f"{a}号 已接单 · 王奶奶" in text and f"{b}号 待接单 · 李爷爷" in text
    assert "大米×2袋、猪肉×1.5斤" in text


async def test_shopping_combines_accepted_orders_by_category(gw: Harness) -> None:
    async with gw.services.db.session() as s:
        s.add_all([Product(sku="rice", name="大米", unit="袋", category="粮油"),
                   Product(sku="pork", name="猪肉", unit="斤", category="肉类")])
    await gw.leader(1001, "吴团长", *NEAR, capacity=10)
    phones = ["+8613800000001", "+8613800000002", "+8613800000003"]
    for i, phone in enumerate(phones):
        r = await gw.resident(phone, f"居民{i}")
        items = [RICE | {"quantity": [1, 2, 2][i]}] + ([PORK] if i == 0 else [])
        await accept(gw, 1001, await gw.order(r, items))
    unaccepted = await gw.order(await gw.resident("+8613800000004", "不算"),
                                [RICE | {"quantity": 9}])
    await gw.card(1001, unaccepted, buttons=True)
    await gw.emu.send_text(1001, "/shopping")
    text = (await gw.emu.wait_message(1001, "采购清单"))["text"]
    assert "采购清单（3户）" in text
    assert "【粮油】\n大米 ×5袋（3户）" in text
    assert "【肉类】\n猪肉 ×1.5斤（1户）" in text


async def test_newresident_registers_a_resident_who_then_prefers_this_leader(gw: Harness) -> None:
    ld = await gw.leader(1001, "吴团长", *NEAR)
    await gw.leader(1002, "近团长", HOME[0] + 0.001, HOME[1])
    await gw.emu.send_text(1001, "/newresident")
    await gw.emu.wait_message(1001, "登记新居民")
    await gw.emu.send_text(1001, "12345")
    await gw.emu.wait_message(1001, "格式不对")
    await gw.emu.send_text(1001, "+86 138-0000-0009")
    await gw.emu.wait_message(1001, "居民的姓名")
    await gw.emu.send_text(1001, "赵奶奶")
    await gw.emu.wait_message(1001, "居民的地址")
    await gw.emu.send_text(1001, "鲁家村8号")
    await gw.emu.wait_message(1001, "居民家的位置")
    await gw.emu.send_location(1001, *HOME)
    await gw.emu.wait_message(1001, "已登记：赵奶奶 +8613800000009")
    async with gw.services.db.session() as s:
        r = await db.people.resident_by_phone(s, "+8613800000009")
    assert r is not None and r.address == "鲁家村8号" and (r.lat, r.lon) == HOME
    assert r.preferred_leader_id == ld.id and r.registered_by == f"leader:{ld.id}"
    oid = await gw.order(r)
    await gw.card(1001, oid, buttons=True)  # preferred over the nearer leader
    # Someone else's resident is not overwritten.
    await gw.emu.send_text(1002, "/newresident")
    await gw.emu.wait_message(1002, "登记新居民")
    await gw.emu.send_text(1002, "+8613800000009")
    await gw.emu.wait_message(1002, "已由其他人登记")


async def test_operators_hear_of_unassigned_review_and_unknown_callers(gw: Harness) -> None:
    r = await gw.resident(lat=None, lon=None)
    oid = await gw.order(r)
    await gw.wait_status(oid, "unassigned")
    alert = await gw.emu.wait_message(OPERATOR_CHAT, f"订单{oid}号无人接单")
    assert "不知道居民的位置" in alert["text"] and "王奶奶" in alert["text"]
    assert "location" not in alert["text"]
    review = await gw.order(r, status="needs_review")
    await gw.emu.wait_message(OPERATOR_CHAT, f"订单{review}号需要人工处理")
    async with gw.services.db.session() as s:
        o = await db.orders.create(s, channel="sms", phone="+8613900009999", status="draft",
                                   actor="resident", transcript="要两袋米")
        from gateway.orders.events import announce_created
        await announce_created(s, o, gw.services.listeners)
        await gw.services.operator_alerts.unknown_caller(
            s, "+8613900008888", "voice")
    gw.services.outbox.wake()
    text = (await gw.emu.wait_message(OPERATOR_CHAT, "+8613900009999"))["text"]
    assert "未登记的号码来信" in text and "要两袋米" in text
    await gw.emu.wait_message(OPERATOR_CHAT, "未登记的号码来电：+8613900008888")
    await gw.emu.send_text(5005, "/orders", chat_id=OPERATOR_CHAT)
    listing = (await gw.emu.wait_message(OPERATOR_CHAT, "待处理的订单"))["text"]
    assert f"{oid}号 无人接单" in listing and f"{review}号 待人工核对" in listing
    assert "unassigned" not in listing


def _wav(path: Path) -> str:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    return str(path)


@pytest.mark.parametrize(("suffix", "broken", "kind", "method", "sent_as"), [
    # Telegram plays only OGG/Opus, MP3 and M4A as voice: call audio (WAV) goes as MP3
    ("wav", False, "voice", "sendVoice", "call.mp3"),
    ("ogg", False, "voice", "sendVoice", "call.ogg"),
    ("wav", True, "document", "sendDocument", "call.wav")])  # unreadable: the file as it is
async def test_recording_goes_along_and_details_are_hidden_after_the_configured_days(
        gw: Harness, tmp_path: Path, suffix: str, broken: bool, kind: str, method: str,
        sent_as: str) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    recording = _wav(tmp_path / f"call.{suffix}")
    if broken:
        Path(recording).write_bytes(b"RIFF" + b"\x00" * 20000)
    oid = await gw.order(await gw.resident(), recording=recording)
    card = await gw.card(1001, oid, buttons=True)
    await gw.emu.wait_for(lambda: any(kind in m for m in gw.emu.messages(1001)))
    voice = next(c for c in gw.emu.calls if c.method == method)
    files = [v for v in voice.params.values() if isinstance(v, dict) and "size" in v]
    assert files and files[0]["filename"] == sent_as and voice.params["chat_id"] == "1001"
    assert files[0]["size"] > (2000 if sent_as.endswith(".mp3") else 16000)
    assert voice.params["caption"] == f"🎙 订单{oid}号的来电录音"
    await gw.emu.press(1001, card, "接单")
    await gw.wait_status(oid, "accepted")
    await gw.emu.press(1001, await gw.emu.wait_message(1001, "已接单", buttons=True), "已送达")
    await gw.wait_status(oid, "delivered")
    await gw.emu.wait_for(lambda: gw.card_text(1001, oid).startswith("📦 已送达"))

    await gw.dispatcher.run_once(now=utcnow() + timedelta(days=6))
    card = await gw.card(1001, oid)
    assert "王奶奶" in card["text"] and "+8613800000001" in card["text"]
    await gw.dispatcher.run_once(now=utcnow() + timedelta(days=7, minutes=1))
    await gw.emu.wait_for(lambda: "居民信息已隐藏" in gw.card_text(1001, oid))
    text = gw.card_text(1001, oid)
    assert "王奶奶" not in text and "+8613800000001" not in text and "鲁家村" not in text
    await gw.emu.wait_for(lambda: not any(kind in m for m in gw.emu.messages(1001)))


async def test_long_polling_mode(start_gateway) -> None:
    gw: Harness = await start_gateway(telegram_mode="polling")
    ld = await gw.leader(1001, "吴团长", *NEAR, link=False)
    await gw.emu.send_text(1001, f"/start {ld.invite_code}")
    await gw.emu.wait_message(1001, "已绑定")
    assert gw.emu.webhook_url is None
    assert any(c.method == "deleteWebhook" for c in gw.emu.calls)


async def test_help_lists_the_commands_in_the_leaders_language(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    ko = await gw.leader(1002, "김팀장", HOME[0] + 0.002, HOME[1], locale="ko-KR", link=False)
    await gw.emu.send_text(1002, f"/start {ko.invite_code}")
    await gw.emu.wait_message(1002, "계정이 연결되었습니다")
    await gw.emu.send_text(1001, "/help")
    text = (await gw.emu.wait_message(1001, "团长命令"))["text"]
    assert text.strip() == gw.services.templates.render("zh-CN", "telegram/help.j2").strip()
    for cmd in ("/tasks", "/shopping", "/duty", "/newresident", "/help"):
        assert cmd in text
    await gw.emu.send_text(1002, "/help")
    text = (await gw.emu.wait_message(1002, "팀장 명령"))["text"]
    assert text.strip() == gw.services.templates.render("ko-KR", "telegram/help.j2").strip()
    await gw.emu.send_text(3003, "/help")  # not a leader: pointed to the invite link instead
    text = (await gw.emu.wait_message(3003, "还没有绑定团长账号"))["text"]
    assert "/tasks" not in text
