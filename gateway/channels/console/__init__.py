"""The operator console under /console: server-rendered pages, Chinese first with English."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from gateway.channels.console.auth import SESSIONS, Sessions, console_guard
from gateway.services import SERVICES

STATIC = Path(__file__).parent / "static"


def setup(app: web.Application) -> None:
    """Registers the console's session guard, pages and static files."""
    from gateway.channels.console import (
        catalog,
        demand,
        entry,
        family,
        login,
        orders,
        people,
        runs,
        stock,
        supply,
        tryit,
    )

    app[SESSIONS] = Sessions(app[SERVICES].settings)
    app.middlewares.append(console_guard)
    for module in (login, orders, entry, people, catalog, demand, tryit, supply,
                   stock, runs, family):
        module.setup_routes(app)
    app.router.add_static("/console/static/", STATIC)
