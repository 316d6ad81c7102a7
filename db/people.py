"""Residents, team leaders and operators: add, import by phone, look up."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

import db.logins

from db.models import Leader, Operator, Resident


@dataclass
class Upserted:
    created: int = 0
    updated: int = 0


def new_invite_code() -> str:
    return secrets.token_urlsafe(12)


# Built once: every text and call looks its sender up (saves building the statement and its
# cache key each time).
_RESIDENT_BY_PHONE = select(Resident).where(Resident.phone == bindparam("phone"))


async def resident_by_phone(session: AsyncSession, phone: str) -> Resident | None:
    return (await session.execute(_RESIDENT_BY_PHONE, {"phone": phone})).scalar_one_or_none()


async def upsert_resident(session: AsyncSession, phone: str, **fields: Any) -> tuple[Resident, bool]:
    """Create the resident or update the given fields; returns (resident, created)."""
    r = await resident_by_phone(session, phone)
    fields = {k: v for k, v in fields.items() if v is not None}
    if r is None:
        r = Resident(phone=phone, **fields)
        session.add(r)
        await session.flush()
        return r, True
    for k, v in fields.items():
        setattr(r, k, v)
    await session.flush()
    return r, False


async def list_residents(session: AsyncSession, village: str | None = None) -> Sequence[Resident]:
    q = select(Resident).order_by(Resident.village, Resident.name)
    if village:
        q = q.where(Resident.village == village)
    return (await session.execute(q)).scalars().all()


async def leader_by_phone(session: AsyncSession, phone: str) -> Leader | None:
    return (await session.execute(select(Leader).where(Leader.phone == phone))).scalar_one_or_none()


async def leader_by_invite(session: AsyncSession, code: str) -> Leader | None:
    return (await session.execute(select(Leader).where(Leader.invite_code == code))).scalar_one_or_none()


async def leader_by_telegram(session: AsyncSession, user_id: int) -> Leader | None:
    return (await session.execute(
        select(Leader).where(Leader.telegram_user_id == user_id))).scalar_one_or_none()


async def upsert_leader(session: AsyncSession, phone: str, **fields: Any) -> tuple[Leader, bool]:
    """Create the leader (with a fresh invite code) or update the given fields."""
    ld = await leader_by_phone(session, phone)
    fields = {k: v for k, v in fields.items() if v is not None}
    if ld is None:
        ld = Leader(phone=phone, invite_code=new_invite_code(), **fields)
        session.add(ld)
        await session.flush()
        return ld, True
    for k, v in fields.items():
        setattr(ld, k, v)
    await session.flush()
    return ld, False


async def list_leaders(session: AsyncSession) -> Sequence[Leader]:
    return (await session.execute(select(Leader).order_by(Leader.name))).scalars().all()


async def operator_by_username(session: AsyncSession, username: str) -> Operator | None:
    return (await session.execute(
        select(Operator).where(Operator.username == username))).scalar_one_or_none()


async def add_operator(session: AsyncSession, username: str, password_hash: str) -> tuple[Operator, bool]:
    """Create the operator, or set a new password for an existing one."""
    op = await operator_by_username(session, username)
    if op is None:
        op = Operator(username=username, password_hash=password_hash)
        session.add(op)
        await session.flush()
        return op, True
    op.password_hash = password_hash
    op.failed_logins = 0
    op.locked_until = None
    await db.logins.clear_user(session, username)
    return op, False
