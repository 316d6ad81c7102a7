"""The leaders' cash ledger: entries are only ever added; sums give what each leader holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Leader, LedgerEntry


async def add(session: AsyncSession, *, leader_id: int, kind: str, amount: Decimal,
              actor: str, reason: str = "", order_id: int | None = None) -> LedgerEntry:
    entry = LedgerEntry(leader_id=leader_id, kind=kind, amount=amount, actor=actor,
                        reason=reason, order_id=order_id)
    session.add(entry)
    await session.flush()
    return entry


async def entries(session: AsyncSession, leader_id: int) -> Sequence[LedgerEntry]:
    return (await session.execute(select(LedgerEntry).where(LedgerEntry.leader_id == leader_id)
                                  .order_by(LedgerEntry.at, LedgerEntry.id))).scalars().all()


async def of_order(session: AsyncSession, order_id: int) -> Sequence[LedgerEntry]:
    return (await session.execute(select(LedgerEntry).where(LedgerEntry.order_id == order_id)
                                  .order_by(LedgerEntry.id))).scalars().all()


@dataclass(frozen=True)
class Balance:
    leader_id: int
    name: str
    phone: str
    received: Decimal  # received and corrections
    handed_over: Decimal  # positive: what went to the co-operative
    balance: Decimal  # what the leader still holds


async def balances(session: AsyncSession) -> list[Balance]:
    """Per leader with any entry: received, handed over and the balance, by name."""
    rows = (await session.execute(
        select(Leader.id, Leader.name, Leader.phone, LedgerEntry.kind,
               func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.leader_id == Leader.id)
        .group_by(Leader.id, Leader.name, Leader.phone, LedgerEntry.kind))).all()
    sums: dict[tuple[int, str, str], dict[str, Decimal]] = {}
    for lid, name, phone, kind, total in rows:
        sums.setdefault((lid, name, phone), {})[kind] = Decimal(total)
    out = []
    for (lid, name, phone), k in sorted(sums.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        received = k.get("received", Decimal(0)) + k.get("correction", Decimal(0))
        handed = -k.get("handed_over", Decimal(0))
        out.append(Balance(lid, name, phone, received, handed, received - handed))
    return out
