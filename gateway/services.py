"""Everything the handlers need, built once at start and handed down (no globals).

The composition root (`gateway.app`) fills the optional fields of the parts it enables; a
field left None means that part is off in this process (a test may build only some parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from aiohttp import web

import db.catalog
from db.session import Database
from gateway.language.cache import LanguageCache
from gateway.notify.outbox_worker import OutboxWorker
from gateway.observe.metrics import Metrics
from gateway.orders.catalog import active_items
from gateway.orders.events import OrderListener
from gateway.orders.pricing import PriceCache
from gateway.orders.fulfilment import ActiveCache
from gateway.orders.stock import StockCache
from gateway.settings import Settings
from gateway.templates import Templates

if TYPE_CHECKING:
    from gateway.channels.telegram.alerts import OperatorAlerts
    from gateway.channels.twilio.voice import VoiceService
    from gateway.dispatch.dispatcher import OrderDispatcher
    from gateway.dispatch.notifier import LeaderNotifier
    from gateway.notify.residents import ResidentSms
    from gateway.orders.fulfilment import RunNotifier
    from voice.recognizer import Recognizer


@dataclass
class Services:
    settings: Settings
    db: Database
    templates: Templates
    languages: LanguageCache
    outbox: OutboxWorker
    metrics: Metrics = field(default_factory=Metrics)
    listeners: list[OrderListener] = field(default_factory=list)
    # Catalogue prices for read-backs (gateway.orders.pricing).
    prices: PriceCache = field(default_factory=PriceCache)
    # What is out of stock, for read-backs (gateway.orders.stock).
    stock: StockCache = field(default_factory=StockCache)
    # Whether runs or pickup points exist, for read-backs (gateway.orders.fulfilment).
    runs_active: ActiveCache = field(default_factory=ActiveCache)
    # Called after a commit that confirmed an order; the dispatcher replaces it with its wake().
    wake_dispatcher: Callable[[], None] = lambda: None
    # The parts that are enabled in this process (see gateway.app.PARTS).
    resident_sms: ResidentSms | None = None
    leader_notifier: LeaderNotifier | None = None
    # Tells run leaders, pickup staff and operators about runs (gateway.orders.fulfilment).
    run_notifier: RunNotifier | None = None
    operator_alerts: OperatorAlerts | None = None
    dispatcher: OrderDispatcher | None = None
    voice: VoiceService | None = None
    # A recogniser handed in from outside (tests, benches); the voice part builds its own pool
    # when this is None.
    recognizer: Recognizer | None = None


def build_services(settings: Settings, database: Database | None = None) -> Services:
    database = database or Database(settings.database_url)
    return Services(
        settings=settings,
        db=database,
        templates=Templates(),
        languages=LanguageCache(version=db.catalog.version, items=active_items),
        outbox=OutboxWorker(database, poll_seconds=settings.outbox_poll_seconds,
                            max_attempts=settings.outbox_max_attempts),
    )


SERVICES = web.AppKey("services", Services)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]
