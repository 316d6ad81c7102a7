"""A resident is texted when their order stays unassigned too long: not at once, once only,
and not at all if a person found a leader in time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from db.models import utcnow
from tests.telegram.conftest import Harness
from tests.telegram.test_tasks import sms_bodies

WAITING = "暂时没有团长"


async def later(gw: Harness, minutes: float) -> None:
    """A dispatcher pass as if `minutes` had gone by."""
    await gw.services.dispatcher.run_once(now=utcnow() + timedelta(minutes=minutes))


async def test_texted_after_the_wait_once(gw: Harness) -> None:
    assert gw.services.settings.unassigned_sms_minutes == 30
    oid = await gw.order(await gw.resident())
    await gw.wait_status(oid, "unassigned")
    await later(gw, 1)
    assert not [b for b in await sms_bodies(gw, "+8613800000001") if WAITING in b]
    await later(gw, 31)
    await later(gw, 45)
    texts = [b for b in await sms_bodies(gw, "+8613800000001") if WAITING in b]
    assert len(texts) == 1 and f"{oid}号" in texts[0]


async def test_not_texted_when_a_person_assigned_it_in_time(start_gateway: Any) -> None:
    gw = await start_gateway(accept_timeout_minutes=120)  # the leader's offer stays open
    oid = await gw.order(await gw.resident())
    await gw.wait_status(oid, "unassigned")
    ld = await gw.leader(1001, "吴团长", 31.5, 120.5)
    await gw.assign_by_hand(oid, ld)
    await later(gw, 31)
    assert not [b for b in await sms_bodies(gw, "+8613800000001") if WAITING in b]


async def test_opted_out_residents_are_not_texted(gw: Harness) -> None:
    oid = await gw.order(await gw.resident(opted_out=True))
    await gw.wait_status(oid, "unassigned")
    await later(gw, 31)
    assert await sms_bodies(gw, "+8613800000001") == []
