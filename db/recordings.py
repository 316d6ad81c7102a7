"""Call audio rows: the caller's stream audio and left messages, attached to orders, purged by age."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Recording, utcnow


async def add(session: AsyncSession, *, call_sid: str, kind: str, path: str,
              duration_s: float = 0.0, size_bytes: int = 0, content_type: str = "audio/wav",
              vendor_url: str | None = None, order_id: int | None = None) -> Recording:
    rec = Recording(call_sid=call_sid, kind=kind, path=path, duration_s=duration_s,
                    size_bytes=size_bytes, content_type=content_type, vendor_url=vendor_url,
                    order_id=order_id)
    session.add(rec)
    await session.flush()
    return rec


async def get(session: AsyncSession, recording_id: int) -> Recording | None:
    return await session.get(Recording, recording_id)


async def attach_call(session: AsyncSession, call_sid: str, order_id: int) -> int:
    """Attach every recording of a call that has no order yet to `order_id`."""
    result = await session.execute(
        update(Recording).where(Recording.call_sid == call_sid, Recording.order_id.is_(None))
        .values(order_id=order_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def for_call(session: AsyncSession, call_sid: str) -> Sequence[Recording]:
    return (await session.execute(select(Recording).where(Recording.call_sid == call_sid)
                                  .order_by(Recording.id))).scalars().all()


async def older_than(session: AsyncSession, before: datetime,
                     limit: int = 1000) -> Sequence[Recording]:
    """Recordings created before `before` whose audio is not deleted yet."""
    return (await session.execute(
        select(Recording).where(Recording.created_at < before, Recording.deleted_at.is_(None))
        .order_by(Recording.id).limit(limit))).scalars().all()


def mark_deleted(rec: Recording, at: datetime | None = None) -> None:
    rec.deleted_at = at or utcnow()
    rec.size_bytes = 0
