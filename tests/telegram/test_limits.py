"""Issue 15, item 4: Telegram's 4,096-unit text and 1,024-unit caption limits. A needs-review
alert of 4,875 characters used to be refused by Telegram and marked failed after one try; the
emulator now refuses over-long texts as Telegram does, and Doorstep splits them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import db.orders
from db.models import Outbox
from gateway.channels.telegram import limits
from gateway.orders.events import change_status
from tests.telegram.conftest import OPERATOR_CHAT, Harness


@pytest.mark.parametrize("text", [
    "短" * 10,
    "\n".join(f"第{i}行：大米两袋、鸡蛋一板、青菜三斤" for i in range(600)),
    "米" * 9000,                                   # one line, no spaces
    "egg " * 3000,                                 # one line, spaces
    "🥚" * 3000,                                   # two UTF-16 units each
    ("一二三 " * 700 + "\n") * 3,
])
def test_split_parts_fit_and_keep_every_character(text: str) -> None:
    parts = limits.split(text)
    assert all(limits.units(p) <= limits.TEXT_LIMIT for p in parts)
    squash = lambda s: "".join(s.split())  # noqa: E731  (cuts drop a line break or a space)
    assert squash("".join(parts)) == squash(text)
    if limits.units(text) <= limits.TEXT_LIMIT:
        assert parts == [text]


def test_shorten_counts_utf16_units() -> None:
    assert limits.units("🥚") == 2
    short = limits.shorten("🥚" * 600, limits.CAPTION_LIMIT)
    assert limits.units(short) <= limits.CAPTION_LIMIT and short.endswith("…")
    assert limits.shorten("好", 10) == "好"


async def test_the_emulator_refuses_what_telegram_refuses(gw: Harness) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        url = f"{gw.emu.url}/bot{gw.emu.token}/sendMessage"
        r = await http.post(url, data={"chat_id": OPERATOR_CHAT, "text": "米" * 4097})
        assert r.status == 400 and "message is too long" in (await r.json())["description"]
        r = await http.post(url, data={"chat_id": OPERATOR_CHAT, "text": "🥚" * 2049})
        assert r.status == 400  # 4,098 UTF-16 units
        r = await http.post(url, data={"chat_id": OPERATOR_CHAT, "text": "米" * 4096})
        assert r.status == 200


async def test_a_long_needs_review_alert_arrives_whole_in_parts(gw: Harness) -> None:
    gw.emu.per_chat_per_second = 1  # and Telegram's per-chat pace, answered with 429
    r = await gw.resident()
    transcript = "\n".join(f"我要第{i}样东西，那个什么来着，就是上回买的那个" for i in range(220))
    async with gw.services.db.session() as s:
        o = await db.orders.create(s, channel="voice", phone=r.phone, status="draft",
                                   actor="resident", resident_id=r.id, transcript=transcript)
        await change_status(s, o, "needs_review", actor="resident",
                            listeners=gw.services.listeners)
        oid = o.id
    gw.services.outbox.wake()
    first = await gw.emu.wait_message(OPERATOR_CHAT, f"订单{oid}号需要人工处理", timeout=20)
    assert limits.units(first["text"]) <= 4096

    async def all_out() -> bool:
        async with gw.services.db.session() as s:
            rows = (await s.execute(select(Outbox).where(
                Outbox.channel == "telegram", Outbox.recipient == str(OPERATOR_CHAT)))).scalars()
            rows = list(rows)
            return len(rows) >= 2 and all(row.status == "sent" for row in rows)

    await gw.emu.wait_for_async(all_out, timeout=30)
    alert = "".join(t for t in gw.emu.texts(OPERATOR_CHAT))
    assert len(alert) > 4875
    squash = lambda s: "".join(s.split())  # noqa: E731
    assert squash(transcript) in squash(alert)  # every line of what was said, in order
    refused = [c for c in gw.emu.calls if not c.ok and "too long" in str(c.result)]
    assert refused == []
