"""Liveness and readiness: `/healthz` answers whether the database can be reached."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from gateway.services import services_of


async def healthz(request: web.Request) -> web.Response:
    services = services_of(request)
    try:
        async with services.db.session() as s:
            await s.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        return web.json_response({"status": "degraded", "database": f"error: {type(exc).__name__}"},
                                 status=503)
    return web.json_response({"status": "ok", "database": database,
                              "twilio": services.settings.twilio_enabled,
                              "telegram": services.settings.telegram_enabled})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
