"""Issue 17 on the phone: a caller in a village with a run ahead hears when and where the
mobile supermarket comes, at the read-back and in the goodbye (keypad ordering: no recogniser
needed). Real gateway on loopback, signed webhooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import db.people
from db.models import utcnow
from gateway.orders.fulfilment import Fulfilment, RunRequest
from gateway.services import SERVICES
from tests.voice.calls import call, start
from tests.voice.test_keypad import only_order, past_order, within_budget

ZHAO = "+8613800000006"  # 赵爷爷, 大竹园村
TZ = ZoneInfo("Asia/Shanghai")


async def test_the_call_says_when_the_run_comes(make_client: Callable[..., Any], settings: Any,
                                                demo_database: Any) -> None:
    await past_order(demo_database, ZHAO, [("rice", "大米", 2, "袋"), ("eggs", "鸡蛋", 1, "板")])
    client, twilio = await start(make_client, settings, demo_database, None)
    app = client.app
    day = utcnow().astimezone(TZ).date() + timedelta(days=1)
    departs = datetime.combine(day, time(9, 0), TZ)
    async with demo_database.session() as s:
        leader = await db.people.leader_by_phone(s, "+8613900000004")
        await Fulfilment.of(app[SERVICES]).create_run(s, RunRequest(
            villages=["大竹园村"], departs_at=departs, cutoff_at=departs - timedelta(hours=2),
            leader_id=leader.id,
            stops=[("大竹园村村口", None, None, departs + timedelta(minutes=30), "大竹园村")]),
            actor="test")
    app[SERVICES].runs_active.invalidate()
    log = await call(twilio, ZHAO, [], "91")
    assert "和上次一样：大米2袋，鸡蛋1板。" in log.heard[1]
    assert "明天上午9点半，流动超市到大竹园村村口，请到时来取。对的请按1" in log.heard[1], log.heard
    assert log.heard[-1].startswith("好的，已经下单：大米2袋，鸡蛋1板")
    assert "明天上午9点半，流动超市到大竹园村村口，请到时来取。再见" in log.heard[-1], log.heard
    within_budget(log, "91", "zh-CN")  # still within 6 keys and 60 s of prompts
    [order] = await only_order(demo_database)
    assert order.status == "confirmed" and order.promised.startswith("run:")
