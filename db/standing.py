"""Standing orders and their rounds: queries. A round is unique per standing order and day,
and moves out of `asked` by a conditional update, so two gateways never act on one round."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Proxy, Resident, Run, RunVillage, StandingOrder, StandingRound


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def add(session: AsyncSession, **fields: Any) -> StandingOrder:
    row = StandingOrder(**fields)
    session.add(row)
    await session.flush()
    await session.refresh(row, ["resident"])
    return row


async def get(session: AsyncSession, standing_id: int) -> StandingOrder | None:
    return await session.get(StandingOrder, standing_id)


async def listing(session: AsyncSession, *, resident_phone: str | None = None,
                  statuses: Iterable[str] | None = None) -> Sequence[StandingOrder]:
    q = select(StandingOrder).join(Resident, Resident.id == StandingOrder.resident_id) \
        .order_by(StandingOrder.id)
    if resident_phone:
        q = q.where(Resident.phone == resident_phone)
    if statuses is not None:
        q = q.where(StandingOrder.status.in_(tuple(statuses)))
    return (await session.execute(q)).scalars().all()


async def active(session: AsyncSession) -> Sequence[StandingOrder]:
    return (await session.execute(select(StandingOrder).where(StandingOrder.status == "active")
                                  .order_by(StandingOrder.id))).scalars().all()


async def of_sender(session: AsyncSession, phone: str, statuses: Iterable[str]
                    ) -> Sequence[StandingOrder]:
    """The standing orders a number may pause or stop: its own as a resident, and those of
    the residents it looks after as a proxy."""
    theirs = select(Proxy.resident_id).where(Proxy.phone == phone)
    q = (select(StandingOrder).join(Resident, Resident.id == StandingOrder.resident_id)
         .where(StandingOrder.status.in_(tuple(statuses)),
                or_(Resident.phone == phone, StandingOrder.resident_id.in_(theirs)))
         .order_by(StandingOrder.id))
    return (await session.execute(q)).scalars().all()


async def proxy(session: AsyncSession, proxy_id: int | None) -> Proxy | None:
    return await session.get(Proxy, proxy_id) if proxy_id is not None else None


async def set_status(session: AsyncSession, standing_id: int, status: str) -> bool:
    res = await session.execute(update(StandingOrder).where(StandingOrder.id == standing_id)
                                .values(status=status))
    return bool(res.rowcount)  # type: ignore[attr-defined]


# --- rounds -------------------------------------------------------------------------------------


async def rounds_since(session: AsyncSession, standing_ids: Iterable[int], since: date
                       ) -> set[tuple[int, date]]:
    """(standing id, day) of the rounds there are from `since` on."""
    ids = list(standing_ids)
    if not ids:
        return set()
    rows = await session.execute(select(StandingRound.standing_id, StandingRound.day)
                                 .where(StandingRound.standing_id.in_(ids),
                                        StandingRound.day >= since))
    return {(int(s), d) for s, d in rows.all()}


async def insert_round(session: AsyncSession, *, standing_id: int, day: date,
                       run_id: int | None, deadline: datetime, now: datetime) -> int | None:
    """The new round's id, or None when there is one for this day already (made by another
    gateway, or before a restart)."""
    ins = pg_insert(StandingRound) if _dialect(session) == "postgresql" \
        else sqlite_insert(StandingRound)
    stmt = ins.values(standing_id=standing_id, day=day, run_id=run_id, state="asked",
                      deadline=deadline, asked_at=now, answered_by="") \
        .on_conflict_do_nothing(index_elements=["standing_id", "day"]) \
        .returning(StandingRound.id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def claim(session: AsyncSession, round_id: int, to: str, *, by: str, now: datetime
                ) -> bool:
    """Move a round out of `asked`; False when someone (an answer, another gateway's
    deadline) moved it first."""
    res = await session.execute(
        update(StandingRound).where(StandingRound.id == round_id, StandingRound.state == "asked")
        .values(state=to, answered_at=now, answered_by=by[:100]).returning(StandingRound.id))
    return res.scalar_one_or_none() is not None


async def set_ordered(session: AsyncSession, round_id: int, order_id: int) -> None:
    await session.execute(update(StandingRound).where(StandingRound.id == round_id)
                          .values(state="ordered", order_id=order_id))


async def due(session: AsyncSession, now: datetime) -> Sequence[StandingRound]:
    """Rounds still waiting for an answer at their deadline."""
    return (await session.execute(select(StandingRound).where(
        StandingRound.state == "asked", StandingRound.deadline <= now)
        .order_by(StandingRound.deadline, StandingRound.id))).scalars().all()


async def open_for(session: AsyncSession, phone: str, now: datetime
                   ) -> Sequence[tuple[StandingRound, StandingOrder]]:
    """Rounds asked of this number and not answered yet, oldest question first. A round is
    asked of the proxy who set the standing order, else of the resident."""
    q = (select(StandingRound, StandingOrder)
         .join(StandingOrder, StandingOrder.id == StandingRound.standing_id)
         .join(Resident, Resident.id == StandingOrder.resident_id)
         .outerjoin(Proxy, Proxy.id == StandingOrder.proxy_id)
         .where(StandingRound.state == "asked", StandingRound.deadline > now,
                StandingOrder.status == "active",
                or_(and_(StandingOrder.proxy_id.is_(None), Resident.phone == phone),
                    Proxy.phone == phone))
         .order_by(StandingRound.asked_at, StandingRound.id))
    return [(r, s) for r, s in (await session.execute(q)).all()]


async def open_of(session: AsyncSession, standing_id: int) -> Sequence[StandingRound]:
    return (await session.execute(select(StandingRound).where(
        StandingRound.standing_id == standing_id, StandingRound.state == "asked"))
    ).scalars().all()


async def rounds_of(session: AsyncSession, standing_id: int) -> Sequence[StandingRound]:
    return (await session.execute(select(StandingRound).where(
        StandingRound.standing_id == standing_id).order_by(StandingRound.day))).scalars().all()


async def runs_ahead(session: AsyncSession, village: str, now: datetime, *,
                     limit: int = 4) -> Sequence[Run]:
    """The village's scheduled runs that have not left yet, soonest first."""
    if not village:
        return []
    return (await session.execute(
        select(Run).join(RunVillage, RunVillage.run_id == Run.id)
        .where(RunVillage.village == village, Run.status == "scheduled", Run.departs_at > now)
        .order_by(Run.departs_at, Run.id).limit(limit))).scalars().all()
