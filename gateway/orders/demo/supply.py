"""The supply side of the demo: two suppliers (and, later, an outlet and a supported household)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.orders.supply import load_suppliers


async def load_demo_supply(session: AsyncSession, locale: str) -> dict[str, int]:
    """Load the demo's supply data into the session; counts by kind."""
    from gateway.orders.demo import demo_file

    return {"suppliers": await load_suppliers(session, demo_file("suppliers", locale))}
