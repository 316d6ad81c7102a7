"""Telegram down and back, and flood control: the outbox holds every message until it is out."""

from __future__ import annotations

from sqlalchemy import select, update

from db.models import Outbox, utcnow
from tests.telegram.conftest import HOME, Harness

NEAR = (HOME[0] + 0.004, HOME[1])


async def telegram_rows(gw: Harness) -> list[Outbox]:
    async with gw.services.db.session() as s:
        return list((await s.execute(select(Outbox).where(Outbox.channel == "telegram")
                                     .order_by(Outbox.id))).scalars())


async def retry_now(gw: Harness) -> None:
    """Skip the back-off wait, as if its time had passed."""
    async with gw.services.db.session() as s:
        await s.execute(update(Outbox).where(Outbox.status == "pending")
                        .values(next_attempt_at=utcnow()))
    gw.services.outbox.wake()


async def test_telegram_down_and_back_loses_nothing(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    port = gw.emu.port
    await gw.emu.stop(keep_client=True)           # connection refused from now on
    oid = await gw.order(await gw.resident())
    await gw.wait_status(oid, "assigned")         # routing does not wait for Telegram

    async def failed_once() -> bool:
        rows = [r for r in await telegram_rows(gw) if "task:" in r.idempotency_key]
        return bool(rows) and rows[0].attempts >= 1 and rows[0].status == "pending"
    await gw.emu.wait_for_async(failed_once)

    await gw.emu.start(port=port)
    await retry_now(gw)
    card = await gw.card(1001, oid, buttons=True)

    # A press arrives, then Telegram's API fails (502s): the press counts, the edit waits.
    gw.emu.down = True
    await gw.emu.press(1001, card, "接单")
    await gw.wait_status(oid, "accepted")

    async def edit_failed() -> bool:
        rows = [r for r in await telegram_rows(gw) if r.idempotency_key.endswith(":accepted")]
        return bool(rows) and rows[0].attempts >= 1
    await gw.emu.wait_for_async(edit_failed)
    gw.emu.down = False
    await retry_now(gw)
    await gw.emu.wait_for(lambda: "已接单" in gw.emu.messages(1001)[-1]["text"])
    cards = [m for m in gw.emu.messages(1001) if f"订单{oid}号" in m.get("text", "")]
    assert len(cards) == 1                          # edited in place, never sent twice

    async def all_sent() -> bool:
        return all(r.status == "sent" for r in await telegram_rows(gw))
    await gw.emu.wait_for_async(all_sent)


async def test_flood_control_waits_for_retry_after(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    gw.emu.flood(1, retry_after=1)
    oid = await gw.order(await gw.resident())
    await gw.card(1001, oid, buttons=True, timeout=8)
    sends = [c for c in gw.emu.calls if c.method == "sendMessage" and "订单" in c.text]
    assert [c.ok for c in sends] == [False, True]
    assert sends[1].at - sends[0].at >= 0.9

    async def settled() -> Outbox | None:
        row = next(r for r in await telegram_rows(gw) if r.idempotency_key.endswith(":offer"))
        return row if row.status == "sent" else None
    assert (await gw.emu.wait_for_async(settled)).attempts == 2


async def test_a_retried_old_edit_does_not_overwrite_a_newer_card(gw: Harness) -> None:
    await gw.leader(1001, "吴团长", *NEAR)
    oid = await gw.order(await gw.resident())
    card = await gw.card(1001, oid, buttons=True)
    gw.emu.flood(1, retry_after=1)                 # the "accepted" edit hits flood control
    await gw.emu.press(1001, card, "接单")
    await gw.wait_status(oid, "accepted")
    await gw.emu.wait_for(lambda: any(not c.ok for c in gw.emu.calls))
    bought = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"].replace(
        ":accept", ":bought")
    await gw.emu.press_data(1001, card, bought)
    await gw.wait_status(oid, "purchased")

    async def all_sent() -> bool:
        return all(r.status == "sent" for r in await telegram_rows(gw))
    await gw.emu.wait_for_async(all_sent)
    assert gw.card_text(1001, oid).startswith("🛒 已买到")
