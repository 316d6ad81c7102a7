"""Team leaders on Telegram: link an account through an invite code, move the base, duty."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

import db.people
from db.models import Leader, utcnow


class Link(StrEnum):
    LINKED = "linked"
    BAD_CODE = "bad_code"
    USED_CODE = "used_code"


async def link_telegram(session: AsyncSession, code: str, user_id: int,
                        chat_id: int) -> tuple[Link, Leader | None]:
    """Bind a Telegram account to the leader holding `code`; each code works once."""
    leader = await db.people.leader_by_invite(session, code) if code else None
    if leader is None:
        return Link.BAD_CODE, None
    if leader.invite_used_at is not None or leader.telegram_user_id is not None:
        return Link.USED_CODE, None
    if await db.people.leader_by_telegram(session, user_id) is not None:
        return Link.USED_CODE, None  # this account already speaks for another leader
    leader.telegram_user_id = user_id
    leader.telegram_chat_id = chat_id
    leader.invite_used_at = utcnow()
    await session.flush()
    return Link.LINKED, leader


async def set_base(session: AsyncSession, leader: Leader, lat: float, lon: float) -> Leader:
    leader.lat, leader.lon = lat, lon
    await session.flush()
    return leader


async def toggle_duty(session: AsyncSession, leader: Leader) -> bool:
    leader.on_duty = not leader.on_duty
    await session.flush()
    return leader.on_duty
