"""What operators type for runs and pickup points, read and checked (the CLI and the console
share these): local times, stops, opening hours, and a pickup point saved."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Outlet
from gateway.orders.fulfilment import FulfilmentError


def parse_local(text: str, tz: ZoneInfo) -> datetime:
    """"YYYY-MM-DD HH:MM" in the co-operative's zone, to UTC; FulfilmentError("bad_time")."""
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise FulfilmentError("bad_time", f"{text!r} is not a time like 2026-12-05 09:00") \
            from None
    return local.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))


def parse_stop(text: str, departs_at: datetime, tz: ZoneInfo
               ) -> tuple[str, float | None, float | None, datetime, str]:
    """"NAME@lat,lon@HH:MM" (the place may be empty: "NAME@@HH:MM"; the time may be left
    out: the departure's) to (name, lat, lon, arrives_at UTC, village ""). The stop is on the
    departure's day, or the next day when its time is earlier than the departure's."""
    parts = [p.strip() for p in text.split("@")]
    if not parts[0] or len(parts) > 3:
        raise FulfilmentError("bad_stop", f"{text!r} is not a stop like 村口@30.1,120.2@09:30")
    lat = lon = None
    if len(parts) > 1 and parts[1]:
        try:
            lat, lon = (float(x) for x in parts[1].split(","))
        except ValueError:
            raise FulfilmentError("bad_stop", f"{parts[1]!r} is not a place like 30.1,120.2") \
                from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise FulfilmentError("bad_stop", f"{parts[1]!r} is not on the map")
    at = departs_at
    if len(parts) > 2 and parts[2]:
        try:
            hm = datetime.strptime(parts[2], "%H:%M").time()
        except ValueError:
            raise FulfilmentError("bad_stop", f"{parts[2]!r} is not a time like 09:30") from None
        local = departs_at.astimezone(tz)
        candidate = datetime.combine(local.date(), hm, tz)
        if candidate < local:
            candidate += timedelta(days=1)
        at = candidate.astimezone(ZoneInfo("UTC"))
    return parts[0], lat, lon, at, ""


def parse_hours(text: str) -> tuple[str, str]:
    """"08:00-18:00" to ("08:00", "18:00"); FulfilmentError("bad_hours")."""
    try:
        a, b = (datetime.strptime(x.strip(), "%H:%M").strftime("%H:%M")
                for x in text.replace("–", "-").split("-"))
    except ValueError:
        raise FulfilmentError("bad_hours", f"{text!r} is not opening hours like 08:00-18:00") \
            from None
    if a >= b:
        raise FulfilmentError("bad_hours", f"{text!r}: opening must be before closing")
    return a, b


async def save_pickup_point(session: AsyncSession, *, name: str, village: str, place: str = "",
                            lat: float | None = None, lon: float | None = None,
                            hours: str = "08:00-18:00", slot_minutes: int = 30,
                            capacity: int = 10, prefix: str = "A") -> tuple[Outlet, bool]:
    """Add a pickup point (an outlet with pickup slots) or update one by name; its staff join
    with the outlet's invite link. Returns (point, created)."""
    import db.stock

    if not name.strip() or not village.strip():
        raise FulfilmentError("bad_point", "a pickup point needs a name and a village")
    if not 5 <= slot_minutes <= 24 * 60 or not 1 <= capacity <= 1000:
        raise FulfilmentError("bad_point", "slots are 5 minutes to a day, 1 to 1000 households")
    prefix = prefix.strip().upper()
    if not (1 <= len(prefix) <= 4 and prefix.isalnum()):
        raise FulfilmentError("bad_point", f"{prefix!r} is not a number prefix like A")
    opens, closes = parse_hours(hours)
    point, created = await db.stock.add_outlet(session, name=name.strip(), village=village.strip(),
                                               lat=lat, lon=lon)
    point.pickup, point.place, point.opens, point.closes = True, place.strip(), opens, closes
    point.slot_minutes, point.slot_capacity, point.prefix = slot_minutes, capacity, prefix
    await session.flush()
    return point, created
