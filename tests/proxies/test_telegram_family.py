"""Issue 20 in Telegram: a leader's /newresident may go on to add family members or carers
(phone, name, what they call the resident), who can then order for the resident by text. The
real gateway against the Bot API emulator."""

from __future__ import annotations

import db.people
import db.proxies
from tests.telegram.conftest import HOME, Harness, emulator, gw, start_gateway, tg_settings

__all__ = ["emulator", "gw", "start_gateway", "tg_settings"]  # fixtures used here


async def say(gw: Harness, user_id: int, text: str, expect: str) -> str:
    """Send a text and wait for the answer to it (a new message containing `expect`)."""
    before = len(gw.emu.texts(user_id))
    await gw.emu.send_text(user_id, text)
    try:
        return str(await gw.emu.wait_for(lambda: next(
            (t for t in gw.emu.texts(user_id)[before:] if expect in t), None)))
    except AssertionError:
        raise AssertionError(f"no {expect!r} after {text!r}: {gw.emu.texts(user_id)[before:]}"
                             ) from None


async def register(gw: Harness, user_id: int, phone: str, name: str) -> None:
    await gw.emu.send_text(user_id, "/newresident")
    await gw.emu.wait_message(user_id, "登记新居民")
    await gw.emu.send_text(user_id, phone)
    await gw.emu.wait_message(user_id, "居民的姓名")
    await gw.emu.send_text(user_id, name)
    await gw.emu.wait_message(user_id, "居民的地址")
    await gw.emu.send_text(user_id, "鲁家村8号")
    await gw.emu.wait_message(user_id, "居民家的位置")
    await gw.emu.send_location(user_id, *HOME)
    await gw.emu.wait_message(user_id, f"已登记：{name}")
    await gw.emu.wait_message(user_id, f"要添加{name}的家属或护工吗")


async def test_newresident_adds_family_members_who_can_order(gw: Harness) -> None:
    ld = await gw.leader(1001, "吴团长", HOME[0] + 0.004, HOME[1])
    await register(gw, 1001, "+8613800000009", "赵奶奶")
    await say(gw, 1001, "+8613800000009", "这是居民本人的号码")
    await say(gw, 1001, "+86 139 1234 5678", "家属的姓名")
    await say(gw, 1001, "赵小红", "家属怎么称呼居民")
    done = await say(gw, 1001, "妈妈", "已添加家属：赵小红（妈妈） +8613912345678")
    assert "给妈妈订：大米一袋" in done
    # a second one, without a relation; then /skip ends the flow
    await say(gw, 1001, "+8613700000001", "家属的姓名")
    await say(gw, 1001, "钱护工", "家属怎么称呼居民")
    await say(gw, 1001, "/skip", "已添加家属：钱护工 +8613700000001")
    await say(gw, 1001, "/skip", "登记完成")
    async with gw.services.db.session() as s:
        r = await db.people.resident_by_phone(s, "+8613800000009")
        rows = await db.proxies.of_resident(s, r.id)
    assert [(p.phone, p.name, p.relation, p.created_by) for p in rows] == [
        ("+8613912345678", "赵小红", "妈妈", f"leader:{ld.id}"),
        ("+8613700000001", "钱护工", "", f"leader:{ld.id}")]


async def test_another_command_ends_the_optional_family_step(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", HOME[0] + 0.004, HOME[1])
    await register(gw, 1001, "+8613800000009", "赵奶奶")
    await say(gw, 1001, "/tasks", "没有进行中的订单")  # answered as ever; the step is over
    await gw.emu.send_text(1001, "+8613912345678")  # no longer read as a family member
    await say(gw, 1001, "/tasks", "没有进行中的订单")
    assert not any("家属的姓名" in t for t in gw.emu.texts(1001))
    async with gw.services.db.session() as s:
        r = await db.people.resident_by_phone(s, "+8613800000009")
        assert list(await db.proxies.of_resident(s, r.id)) == []


async def test_a_text_that_is_no_phone_number_ends_the_optional_step(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", HOME[0] + 0.004, HOME[1])
    await register(gw, 1001, "+8613800000009", "赵奶奶")
    await say(gw, 1001, "139-1234-567", "手机号格式不对")  # a mistyped number: asked again
    await say(gw, 1001, "随便说点什么", "/newresident")  # answered as any text; step over
    await gw.emu.send_text(1001, "+8613912345678")
    await say(gw, 1001, "/tasks", "没有进行中的订单")
    assert not any("家属的姓名" in t for t in gw.emu.texts(1001))
