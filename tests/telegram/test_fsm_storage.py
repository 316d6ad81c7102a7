"""A leader's half-finished /newresident survives a gateway restart (the dialogue's state is
in the database, not in the process)."""

from __future__ import annotations

from typing import Any

import db.people
from tests.telegram.conftest import HOME

NEAR = (HOME[0] + 0.004, HOME[1])


async def test_newresident_goes_on_after_a_restart(start_gateway: Any) -> None:
    first = await start_gateway()
    await first.leader(1001, "吴团长", *NEAR)
    await first.emu.send_text(1001, "/newresident")
    await first.emu.wait_message(1001, "登记新居民")
    await first.emu.send_text(1001, "+86 138-0000-0009")
    await first.emu.wait_message(1001, "居民的姓名")
    await first.emu.send_text(1001, "赵奶奶")
    await first.emu.wait_message(1001, "居民的地址")
    # A new gateway process on the same database takes over the bot's webhook.
    second = await start_gateway()
    await second.emu.send_text(1001, "鲁家村8号")
    await second.emu.wait_message(1001, "居民家的位置")
    await second.emu.send_location(1001, *HOME)
    await second.emu.wait_message(1001, "已登记：赵奶奶 +8613800000009")
    async with second.services.db.session() as s:
        r = await db.people.resident_by_phone(s, "+8613800000009")
    assert r is not None and r.name == "赵奶奶" and r.address == "鲁家村8号"
    # The dialogue is over: the next text is not taken as an address.
    await second.emu.send_text(1001, "随便说点什么")
    await second.emu.wait_message(1001, "/newresident")
