"""Supported households (特困/低保): a resident marked supported, by whom and until when.

While a resident's support is valid, their orders carry nothing to collect at the door
(`Order.supported`, set at confirmation by `gateway.orders.stock.AtConfirmation`); the cost of
their delivered orders is the month's supported tally. Leaders see that a household is
supported, never why. Every grant or revoke is a new row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

import db.people
import db.stock
from db.models import Resident, SupportGrant
from gateway.orders import csvsafe
from gateway.orders.pricing import money, order_total
from gateway.orders.supply import day_bounds


class SupportError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def valid(grant: SupportGrant | None, today: date) -> bool:
    return grant is not None and grant.kind == "grant" and (grant.until is None
                                                            or grant.until >= today)


async def supported_on(session: AsyncSession, resident_id: int, today: date) -> bool:
    return valid(await db.stock.latest_grant(session, resident_id), today)


async def _resident(session: AsyncSession, phone: str) -> Resident:
    resident = await db.people.resident_by_phone(session, phone)
    if resident is None:
        raise SupportError("unknown_resident", f"no resident with the number {phone}")
    return resident


async def grant(session: AsyncSession, phone: str, *, approved_by: str, until: date | None,
                category: str = "", reason: str = "", actor: str, today: date) -> SupportGrant:
    if not approved_by.strip():
        raise SupportError("needs_approver", "say who approved the support")
    if until is not None and until < today:
        raise SupportError("past", f"{until} is already past")
    resident = await _resident(session, phone)
    return await db.stock.add_grant(session, resident_id=resident.id, kind="grant",
                                    category=category.strip()[:32],
                                    approved_by=approved_by.strip()[:100], until=until,
                                    reason=reason.strip(), actor=actor)


async def revoke(session: AsyncSession, phone: str, *, actor: str, reason: str = ""
                 ) -> SupportGrant:
    resident = await _resident(session, phone)
    return await db.stock.add_grant(session, resident_id=resident.id, kind="revoke",
                                    reason=reason.strip(), actor=actor)


@dataclass
class TallyRow:
    order_id: int
    day: date
    name: str
    village: str
    amount: Decimal | None


@dataclass
class Tally:
    month: str
    rows: list[TallyRow]

    @property
    def total(self) -> Decimal:
        return sum((r.amount or Decimal(0) for r in self.rows), Decimal(0))

    @property
    def households(self) -> int:
        return len({(r.name, r.village) for r in self.rows})

    @property
    def unpriced(self) -> int:
        return sum(1 for r in self.rows if r.amount is None)


TALLY_CSV_COLUMNS = ("month", "order", "day", "name", "village", "amount")


def tally_csv(result: Tally) -> str:
    """CSV with the columns TALLY_CSV_COLUMNS (an order without a price: an empty amount)."""
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(TALLY_CSV_COLUMNS)
    for r in result.rows:
        w.writerow([result.month, r.order_id, r.day.isoformat(), r.name, r.village,
                    money(r.amount) or ""])
    return out.getvalue()


def parse_month(text: str) -> date:
    try:
        year, month = (int(p) for p in text.strip().split("-"))
        return date(year, month, 1)
    except ValueError:
        raise SupportError("bad_month", f"{text!r} is not a month like 2026-12") from None


async def tally(session: AsyncSession, month: date, tz: ZoneInfo) -> Tally:
    """The cost of supported households' delivered orders created in `month` (its catalogue
    total at the prices kept at confirmation)."""
    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    since, _ = day_bounds(month, tz)
    until, _ = day_bounds(nxt, tz)
    rows = []
    for o in await db.stock.supported_orders(session, since, until):
        r = o.resident
        rows.append(TallyRow(o.id, o.created_at.astimezone(tz).date(), r.name if r else o.phone,
                             r.village if r else "", order_total(o)))
    return Tally(month.strftime("%Y-%m"), rows)
