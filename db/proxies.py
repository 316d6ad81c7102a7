"""Proxies (family members and carers who order for residents): queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Proxy, Resident


async def of_resident(session: AsyncSession, resident_id: int) -> Sequence[Proxy]:
    return (await session.execute(select(Proxy).where(Proxy.resident_id == resident_id)
                                  .order_by(Proxy.id))).scalars().all()


async def by_phone(session: AsyncSession, phone: str) -> Sequence[Proxy]:
    """Every resident this number looks after (one row each), oldest first."""
    return (await session.execute(select(Proxy).where(Proxy.phone == phone)
                                  .order_by(Proxy.id))).scalars().all()


async def add(session: AsyncSession, *, resident: Resident, phone: str, name: str,
              relation: str = "", notify: str = "sms", created_by: str = ""
              ) -> tuple[Proxy, bool]:
    """(proxy, created); the same resident and phone again updates name, relation, notify."""
    row = (await session.execute(select(Proxy).where(
        Proxy.resident_id == resident.id, Proxy.phone == phone))).scalar_one_or_none()
    if row is None:
        row = Proxy(resident_id=resident.id, phone=phone, name=name, relation=relation,
                    notify=notify, created_by=created_by)
        session.add(row)
        await session.flush()
        return row, True
    row.name, row.relation, row.notify = name, relation, notify
    return row, False


async def remove(session: AsyncSession, proxy_id: int) -> bool:
    row = await session.get(Proxy, proxy_id)
    if row is None:
        return False
    await session.delete(row)
    return True
