"""The demo's village runs and pickup points (`serve --demo` only; the tests' demo data has
none, so their residents keep door delivery): per locale, one remote village served by a run
tomorrow morning and one village whose residents collect at a pickup point in town. The first
demo residents (王奶奶, 김순자) keep door delivery by a leader. Safe to load again: a run is
added only when its village has none ahead."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

import db.people
import db.runs
from db.models import utcnow
from gateway.orders.fulfilment import Fulfilment, RunRequest
from gateway.orders.fulfilment_forms import save_pickup_point
from gateway.templates import Templates

# locale -> run: (village, leader phone, stop name, lat, lon, vehicle)
RUNS = {"zh-CN": ("大竹园村", "+8613900000004", "大竹园村村口", 30.7049, 119.7411, "浙E·流动超市1号"),
        "ko-KR": ("정서리", "+821090000002", "정서리 마을회관 앞", 35.1098, 127.7049, "이동슈퍼 1호")}
# locale -> pickup point: (name, its village, place, lat, lon, prefix, village it serves)
POINTS = {"zh-CN": ("递铺镇供销社东门店", "递铺镇", "昌硕广场东门", 30.6375, 119.6810, "A", "横山坞村"),
          "ko-KR": ("하동농협 하나로마트", "읍내리", "하동읍 시장 입구", 35.0675, 127.7515, "B", "읍내리")}


async def load_demo_fulfilment(session: AsyncSession, locale: str, tz: ZoneInfo) -> dict[str, int]:
    """The locale's demo run (tomorrow 09:00, cut-off tomorrow 07:00) and pickup point."""
    counts = {"runs": 0, "pickup_points": 0}
    if locale in POINTS:
        name, village, place, lat, lon, prefix, serves = POINTS[locale]
        point, _ = await save_pickup_point(session, name=name, village=village, place=place,
                                           lat=lat, lon=lon, hours="08:00-18:00",
                                           slot_minutes=30, capacity=6, prefix=prefix)
        await db.runs.set_pickup_village(session, serves, point.id)
        counts["pickup_points"] = 1
    if locale in RUNS:
        village, phone, stop, lat, lon, vehicle = RUNS[locale]
        now = utcnow()
        leader = await db.people.leader_by_phone(session, phone)
        if leader is not None and await db.runs.next_run(session, village, now, now) is None:
            tomorrow = now.astimezone(tz).date() + timedelta(days=1)
            departs = datetime.combine(tomorrow, time(9, 0), tz)
            fulfil = Fulfilment(Templates(), tz, [])
            await fulfil.create_run(session, RunRequest(
                villages=[village], departs_at=departs, cutoff_at=departs - timedelta(hours=2),
                leader_id=leader.id, vehicle=vehicle,
                stops=[(stop, lat, lon, departs + timedelta(minutes=30), village)]),
                actor="demo")
            counts["runs"] = 1
    return counts
