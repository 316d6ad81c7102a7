"""Console login throttling: atomic attempt counters per key and window (see LoginAttempt).

`take()` runs three single statements that are each atomic on SQLite and PostgreSQL: create
the row if missing, restart an expired window, and add one only while under the limit. Under
PostgreSQL's row lock a concurrent `take()` waits and re-reads the count, so N parallel guesses
never get more than `limit` slots between them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LoginAttempt


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def take(session: AsyncSession, key: str, limit: int, window: timedelta,
               now: datetime) -> tuple[int, datetime] | None:
    """Count one attempt under `key`: (attempts in this window, window start), or None when the
    limit is already reached (nothing counted)."""
    insert = _insert(session)
    await session.execute(insert(LoginAttempt).values(key=key, count=0, window_start=now)
                          .on_conflict_do_nothing(index_elements=["key"]))
    await session.execute(update(LoginAttempt)
                          .where(LoginAttempt.key == key,
                                 LoginAttempt.window_start <= now - window)
                          .values(count=0, window_start=now))
    taken = await session.execute(update(LoginAttempt)
                                  .where(LoginAttempt.key == key, LoginAttempt.count < limit)
                                  .values(count=LoginAttempt.count + 1))
    row = (await session.execute(select(LoginAttempt.count, LoginAttempt.window_start)
                                 .where(LoginAttempt.key == key))).one()
    if taken.rowcount != 1:
        return None
    return int(row.count), row.window_start


async def window_of(session: AsyncSession, key: str) -> datetime | None:
    return (await session.execute(select(LoginAttempt.window_start)
                                  .where(LoginAttempt.key == key))).scalar_one_or_none()


async def clear(session: AsyncSession, *keys: str) -> None:
    if keys:
        await session.execute(delete(LoginAttempt).where(LoginAttempt.key.in_(keys)))


async def clear_user(session: AsyncSession, username: str) -> None:
    """Forget a user's counted attempts from every address (a new password was set)."""
    await session.execute(delete(LoginAttempt).where(
        LoginAttempt.key.startswith(f"u:{username}|", autoescape=True)))


async def forget_expired(session: AsyncSession, window: timedelta, now: datetime) -> None:
    await session.execute(delete(LoginAttempt).where(LoginAttempt.window_start <= now - window))
