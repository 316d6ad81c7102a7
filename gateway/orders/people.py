"""Residents and leaders: validation of phone numbers and CSV lists, and saving a validated
row (every way people come in: CLI, console, demo, a leader's /newresident)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

import db.people
from db.models import Leader, Resident
from gateway.language.locales import normalize_locale

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
RESIDENT_COLUMNS = ("phone", "name", "address", "village", "lat", "lon", "locale")
LEADER_COLUMNS = (*RESIDENT_COLUMNS, "radius_km", "capacity")


class PeopleError(ValueError):
    """A person's data that cannot be used; the message says which field and why (in English,
    for the CLI); `code` and `params` let a page say it in its own language."""

    def __init__(self, message: str, code: str = "", **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def locale_of(value: str) -> str | None:
    """zh-CN or ko-KR for the ways people write them (zh, zh_CN, ko, ko-kr...); None else."""
    v = value.strip().replace("_", "-").lower()
    if v in ("zh", "zh-cn", "zh-hans", "zh-hans-cn", "cn", "chs"):
        return "zh-CN"
    if v in ("ko", "ko-kr", "kr", "kor", "kor-kr"):
        return "ko-KR"
    return None


def normalize_phone(raw: str) -> str:
    """E.164 form of a phone number: spaces, dashes and brackets dropped, `00` prefix to `+`."""
    p = re.sub(r"[\s\-().]", "", raw or "")
    if p.startswith("00"):
        p = "+" + p[2:]
    if not E164.match(p):
        raise PeopleError(f"phone {raw!r} is not an international number like +8613800000000",
                          "bad_phone", value=raw)
    return p


def _float(value: str | None, what: str, lo: float, hi: float) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        f = float(value)
    except ValueError:
        raise PeopleError(f"{what} {value!r} is not a number", "not_a_number", field=what,
                          value=value) from None
    if not lo <= f <= hi:
        raise PeopleError(f"{what} {f} is outside {lo}..{hi}", "out_of_range", field=what, value=f,
                          lo=lo, hi=hi)
    return f


@dataclass
class PersonRow:
    phone: str
    name: str
    address: str = ""
    village: str = ""
    lat: float | None = None
    lon: float | None = None
    locale: str = "zh-CN"
    radius_km: float | None = None
    capacity: int | None = None


def person(phone: str, name: str, address: str | None = "", village: str | None = "",
           lat: float | str | None = None, lon: float | str | None = None,
           locale: str | None = None, radius_km: float | str | None = None,
           capacity: int | str | None = None) -> PersonRow:
    """Validate one person's fields."""
    if not (name or "").strip():
        raise PeopleError("the name is empty", "no_name")
    if (locale or "").strip() and locale_of(locale) is None:
        raise PeopleError(f"locale {locale!r} is not zh-CN or ko-KR", "bad_locale", value=locale)
    lat_f = _float(None if lat is None else str(lat), "latitude", -90, 90)
    lon_f = _float(None if lon is None else str(lon), "longitude", -180, 180)
    if (lat_f is None) != (lon_f is None):
        raise PeopleError("give both latitude and longitude, or neither", "half_location")
    radius = _float(None if radius_km is None else str(radius_km), "radius_km", 0.01, 1000)
    cap: int | None = None
    if capacity is not None and str(capacity).strip() != "":
        try:
            cap = int(str(capacity))
        except ValueError:
            raise PeopleError(f"capacity {capacity!r} is not a whole number", "bad_capacity",
                              value=capacity) from None
        if cap < 0:
            raise PeopleError("capacity is negative", "bad_capacity", value=cap)
    return PersonRow(phone=normalize_phone(phone), name=name.strip(),
                     address=(address or "").strip(), village=(village or "").strip(),
                     lat=lat_f, lon=lon_f, locale=normalize_locale(locale),
                     radius_km=radius, capacity=cap)


def read_text_any(path: str | Path) -> str:
    """A CSV as spreadsheets save it: UTF-8 (with or without BOM), else GBK/GB18030."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PeopleError(f"line {line}: the file is neither UTF-8 nor GBK text") from None


def _strict_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV; an unclosed quote is an error naming its line."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    rows = []
    start = 2
    try:
        for r in reader:
            rows.append((start, r))
            start = reader.line_num + 1
        fields = reader.fieldnames
    except csv.Error as exc:
        raise PeopleError(f"line {start}: {exc} (a quote \" is not closed?)") from None
    for line, r in rows:
        if None in r:
            raise PeopleError(f"line {line}: more fields than the header has")
        for k, v in r.items():
            if isinstance(v, str) and ("\n" in v or "\r" in v):
                raise PeopleError(f"line {line}, {k}: a quote \" is not closed")
    if fields is None:
        raise PeopleError("the file is empty")
    return rows


def read_people_csv(path: str | Path, *, leaders: bool = False) -> list[PersonRow]:
    """Rows of a residents (or leaders) CSV; errors name the line (and the field)."""
    text = read_text_any(path)
    reader = csv.DictReader(io.StringIO(text))
    need = {"phone", "name"} | ({"lat", "lon"} if leaders else set())
    missing = need - set(reader.fieldnames or ())
    if missing:
        raise PeopleError(f"the header lacks the column(s): {', '.join(sorted(missing))}")
    rows = []
    for i, r in _strict_rows(text):
        if not any((v or "").strip() for v in r.values() if isinstance(v, str)):
            continue
        try:
            row = person(r.get("phone") or "", r.get("name") or "", r.get("address"),
                         r.get("village"), r.get("lat"), r.get("lon"), r.get("locale"),
                         r.get("radius_km") if leaders else None,
                         r.get("capacity") if leaders else None)
        except PeopleError as exc:
            raise PeopleError(f"line {i}: {exc}") from None
        if leaders and row.lat is None:
            raise PeopleError(f"line {i}: a leader needs a base location (lat, lon)")
        rows.append(row)
    return rows


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


async def save_resident(session: AsyncSession, row: PersonRow, *, registered_by: str,
                        preferred_leader_id: int | None = None,
                        replace_location: bool = False) -> tuple[Resident, bool]:
    """Add the resident of `row`, or update the one with its phone; returns (resident, created).
    A row without a location keeps the stored one unless `replace_location` (a form that shows
    the location and may clear it). `registered_by` is kept from the first registration."""
    r, created = await db.people.upsert_resident(
        session, row.phone, name=row.name, address=row.address, village=row.village,
        lat=row.lat, lon=row.lon, locale=row.locale, preferred_leader_id=preferred_leader_id)
    if replace_location:
        r.lat, r.lon = row.lat, row.lon
    if not r.registered_by:
        r.registered_by = registered_by
    return r, created


async def save_leader(session: AsyncSession, row: PersonRow) -> tuple[Leader, bool]:
    """Add the leader of `row` (with a fresh invite code), or update the one with its phone."""
    return await db.people.upsert_leader(session, row.phone, name=row.name, lat=row.lat,
                                         lon=row.lon, radius_km=row.radius_km,
                                         capacity=row.capacity, locale=row.locale)
