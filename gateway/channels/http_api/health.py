"""Liveness and readiness: `/healthz` answers whether the database can be reached and how each
locale's speech recogniser stands; `/readyz` is 200 only once every configured engine is ready."""

from __future__ import annotations

import hmac

from aiohttp import web
from sqlalchemy import text

from gateway.language.locales import SUPPORTED_LOCALES as LOCALES
from gateway.services import Services, services_of


def voice_states(services: Services) -> dict[str, str]:
    """Per locale: loading | ready | off | failed (the pool's view; an injected recogniser
    is ready for the locales it serves)."""
    voice = services.voice
    recognizer = getattr(voice, "recognizer", None)
    states = getattr(recognizer, "states", None)
    known: dict[str, str] = states() if callable(states) else {}
    if recognizer is not None and not callable(states):
        known = {loc: "ready" for loc in recognizer.locales()}
    return {loc: known.get(loc, "off") for loc in LOCALES}


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
                              "telegram": services.settings.telegram_enabled,
                              "voice": voice_states(services)})


async def readyz(request: web.Request) -> web.Response:
    """503 until every configured speech engine has loaded (a failed one keeps it 503), and
    while the database cannot be reached; then 200."""
    services = services_of(request)
    voice = voice_states(services)
    waiting = sorted(loc for loc, state in voice.items() if state in ("loading", "failed"))
    try:
        async with services.db.session() as s:
            await s.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    ready = not waiting and database == "ok"
    return web.json_response({"status": "ready" if ready else "not ready", "database": database,
                              "voice": voice, "waiting_for": waiting},
                             status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format, for a bearer of the metrics token (or the API token): order
    counts, routes and the outbox are not for everyone who can reach the gateway."""
    settings = services_of(request).settings
    token = settings.metrics_token or settings.api_token
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return web.json_response({"error": "a bearer token is needed for /metrics"}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
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
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
