"""Everything the handlers need, built once at start and handed down (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

from db.session import Database
from gateway.orders.events import OrderListener
from gateway.language.cache import LanguageCache
from gateway.observe.metrics import Metrics
from gateway.notify.outbox_worker import OutboxWorker
from gateway.settings import Settings
from gateway.templates import Templates


@dataclass
class Services:
    settings: Settings
    db: Database
    templates: Templates
    languages: LanguageCache
    outbox: OutboxWorker
    metrics: Metrics = field(default_factory=Metrics)
    listeners: list[OrderListener] = field(default_factory=list)
    # Called after a commit that confirmed an order; the dispatcher replaces it with its wake().
    wake_dispatcher: Callable[[], None] = lambda: None
    # Filled by the adapters that are enabled (voice pool, Telegram bot, router...).
    extras: dict[str, Any] = field(default_factory=dict)


def build_services(settings: Settings, database: Database | None = None) -> Services:
    database = database or Database(settings.database_url)
    return Services(
        settings=settings,
        db=database,
        templates=Templates(),
        languages=LanguageCache(),
        outbox=OutboxWorker(database, poll_seconds=settings.outbox_poll_seconds,
                            max_attempts=settings.outbox_max_attempts),
    )


SERVICES = web.AppKey("services", Services)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]
