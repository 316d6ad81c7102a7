"""The composition root: builds the services and mounts the parts of one gateway process.

Each part is one actor's `setup(app)` (web routes, background work); `PARTS` is the whole
gateway in mount order (order matters only for middlewares). Tests and benches mount a subset
by name.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from zoneinfo import ZoneInfo

Part = Callable[["web.Application"], None]

from aiohttp import web

from gateway.channels import console
from gateway.channels.http_api import health, orders as orders_api
from gateway.channels.telegram import bot as telegram_bot
from gateway.channels.telegram.messages import TelegramMessages
from gateway.channels.twilio import calls as twilio_calls
from gateway.channels.twilio import media, sms, voice
from gateway.dispatch.dispatcher import OrderDispatcher, TaskSync
from gateway.notify.calls import Calls
from gateway.notify.residents import ResidentSms
from gateway.orders.ledger import CashOnDelivery
from gateway.orders.fulfilment import FulfilmentListener
from gateway.orders.standing import StandingWorker
from gateway.orders.stock import AtConfirmation
from gateway.orders.pricing import PriceSnapshot
from gateway.services import SERVICES, Services, build_services
from gateway.settings import Settings

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 2 * 1024 * 1024


async def _dispatch_worker(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    dispatcher = services.dispatcher
    assert dispatcher is not None
    # Runs with the other background workers only (create_app(workers=False) leaves them off).
    running = services.outbox.running
    if running:
        dispatcher.start()
    yield
    await dispatcher.stop()


def setup_dispatch(app: web.Application) -> None:
    """The dispatcher, telling leaders through the Telegram channel's messages."""
    services = app[SERVICES]
    assert services.leader_notifier is not None
    dispatcher = OrderDispatcher(services, services.leader_notifier,
                                 poll_seconds=services.settings.dispatch_poll_seconds)
    services.dispatcher = dispatcher
    services.wake_dispatcher = dispatcher.wake
    services.listeners.append(TaskSync(dispatcher))
    app.cleanup_ctx.append(_dispatch_worker)


STANDING = web.AppKey("standing", StandingWorker)


async def _standing_worker(app: web.Application) -> AsyncIterator[None]:
    """Standing orders' rounds (gateway.orders.standing), with the other background workers."""
    worker = app[STANDING]
    if app[SERVICES].outbox.running:
        worker.start()
    yield
    await worker.stop()


PARTS: dict[str, Part] = {
    "health": health.setup,
    "api": orders_api.setup,
    "sms": sms.setup,
    "voice": voice.setup,
    "calls": twilio_calls.setup,  # callbacks and spoken notices (gateway.notify.calls)
    "media": media.setup,
    "telegram": telegram_bot.setup,
    "dispatch": setup_dispatch,
    "console": console.setup,
}


async def _workers(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    services.outbox.start()
    yield
    await services.outbox.stop()
    await services.db.dispose()


def create_app(settings: Settings, services: Services | None = None, *,
               parts: Iterable[str | Part] = tuple(PARTS), workers: bool = True
               ) -> web.Application:
    """Build the application with `parts`: names from PARTS, or a setup function of the
    caller's (a test's stand-in). `workers=False` leaves background workers to the caller."""
    parts = tuple(parts)
    unknown = [p for p in parts if isinstance(p, str) and p not in PARTS]
    if unknown:
        raise ValueError(f"unknown parts {unknown}; known: {list(PARTS)}")
    services = services or build_services(settings)
    if not any(isinstance(x, PriceSnapshot) for x in services.listeners):
        services.listeners.insert(0, PriceSnapshot())  # prices kept before anyone is told
        services.listeners.insert(1, CashOnDelivery())  # at 已送达, the cash received
        # at confirmation: back-orders for goods out of stock, supported households
        services.listeners.insert(2, AtConfirmation(ZoneInfo(settings.console_timezone)))
        # what the rule says at confirmation (run, pickup point, leader) is what the resident
        # is told; a cancelled pickup order frees its seat
        services.listeners.insert(3, FulfilmentListener())
    services.resident_sms = ResidentSms(
        services.templates, delayed=("unassigned",) if settings.unassigned_sms_minutes else (),
        calls=Calls.of(services))
    services.listeners.append(services.resident_sms)
    if services.leader_notifier is None and ("telegram" in parts or "dispatch" in parts):
        services.leader_notifier = TelegramMessages(services.templates, settings)
    for warning in settings.warnings():
        log.warning(warning)
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[SERVICES] = services
    for part in parts:
        (PARTS[part] if isinstance(part, str) else part)(app)
    if "sms" in parts:  # standing orders ask and answer by text
        app[STANDING] = StandingWorker(services)
        app.cleanup_ctx.append(_standing_worker)
    app.on_startup.append(_warm_prices)
    if workers:
        app.cleanup_ctx.insert(0, _workers)
    return app


async def _warm_prices(app: web.Application) -> None:
    """Read the catalogue's prices once at start, so the first read-back has them."""
    services = app[SERVICES]
    try:
        await services.prices.get(services.db)
    except Exception:  # the database is not there yet: read-backs read them later
        log.warning("could not read the catalogue's prices at start", exc_info=True)
