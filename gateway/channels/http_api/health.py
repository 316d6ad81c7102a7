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


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=await services_of(request).metrics.render(),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def setup(app: web.Application) -> None:
    from gateway.observe.metrics import database_collector, request_metrics
    from gateway.services import SERVICES

    services = app[SERVICES]
    services.metrics.collectors.append(database_collector(services.db))
    app.middlewares.append(request_metrics(services.metrics))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
