"""The aiohttp application: one process with web, Twilio, Telegram, console and workers."""

from __future__ import annotations

import importlib
import logging
from typing import AsyncIterator

from aiohttp import web

from gateway.notify.residents import ResidentSms
from gateway.services import SERVICES, Services, build_services
from gateway.settings import Settings

log = logging.getLogger(__name__)

# One module per actor; each exports setup(app). Order matters only for middlewares.
MODULES = (
    "gateway.channels.http_api.health",
    "gateway.channels.http_api.orders",
    "gateway.channels.twilio.sms",
    "gateway.channels.twilio.voice",
    "gateway.channels.twilio.media",
    "gateway.channels.telegram.bot",
    "gateway.dispatch.dispatcher",
    "gateway.channels.console",
)

MAX_REQUEST_BYTES = 2 * 1024 * 1024


async def _workers(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    services.outbox.start()
    yield
    await services.outbox.stop()
    await services.db.dispose()


def create_app(settings: Settings, services: Services | None = None, *,
               modules: tuple[str, ...] = MODULES, workers: bool = True) -> web.Application:
    """Build the application. `workers=False` leaves background workers to the caller (tests)."""
    services = services or build_services(settings)
    resident_sms = ResidentSms(services.templates,
                               delayed=("unassigned",) if settings.unassigned_sms_minutes else ())
    services.extras["resident_sms"] = resident_sms
    services.listeners.append(resident_sms)
    for warning in settings.warnings():
        log.warning(warning)
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[SERVICES] = services
    for name in modules:
        importlib.import_module(name).setup(app)
    if workers:
        app.cleanup_ctx.insert(0, _workers)
    return app
