"""The Telegram adapter: the bot, its routers, the outbox sender, webhook or long polling.

`TELEGRAM_API_URL` points the bot at a self-hosted (or emulated) Bot API server. In webhook
mode Telegram posts to `/telegram/webhook` with the secret token header; updates are handled
in the background after a fast answer, and stored first so a redelivered update_id is ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from gateway.channels.telegram import leaders, operators, outlets, residents, runs
from gateway.channels.telegram.alerts import OperatorAlerts
from gateway.channels.telegram.messages import TelegramMessages
from gateway.channels.telegram.middleware import UpdateMiddleware
from gateway.channels.telegram.runs import TelegramRuns
from gateway.channels.telegram.sender import TelegramSender
from gateway.channels.telegram.storage import DatabaseStorage
from gateway.services import SERVICES, Services
from gateway.settings import Settings

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
RETRY_SECONDS = 5.0


def make_bot(settings: Settings) -> Bot:
    assert settings.telegram_bot_token
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url)) \
        if settings.telegram_api_url else AiohttpSession()
    return Bot(settings.telegram_bot_token, session=session)


def checked_update(handler: SimpleRequestHandler, secret: str) -> Any:
    """The webhook handler, answering 400 to a body with the right secret that is not a
    Telegram update (malformed JSON, not an object, no whole-number update_id); a wrong secret
    is aiogram's to refuse."""
    async def handle(request: web.Request) -> web.StreamResponse:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if hmac.compare_digest(given.encode(), secret.encode()):
            try:
                update = json.loads(await request.read())
            except ValueError:
                return web.json_response({"error": "the body is not JSON"}, status=400)
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                return web.json_response({"error": "the body is not a Telegram update"},
                                         status=400)
        return await handler.handle(request)
    return handle


def webhook_secret(settings: Settings) -> str:
    """The configured secret, or one derived from the bot token (never run unauthenticated)."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    token = settings.telegram_bot_token or ""
    return hashlib.sha256(f"doorstep-webhook:{token}".encode()).hexdigest()


def make_dispatcher(services: Services, messages: TelegramMessages) -> Dispatcher:
    # Dialogue state in the database: a half-finished /newresident survives a restart.
    dp = Dispatcher(storage=DatabaseStorage(services.db))
    dp.update.outer_middleware(UpdateMiddleware(services, messages))
    # Operators first (their chat only), then leaders' /run and pickup staff's /slots with
    # the list buttons (before outlet staff's catch-all), then outlet staff and outlet invite
    # codes, then the resident dialogue's states, then leaders.
    dp.include_routers(operators.router(), runs.router(), outlets.router(), residents.router(),
                       leaders.router())
    return dp


async def _forever(what: str, step, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    """Retry a start-up call until it works: the Bot API may be down when we start."""
    while not stop.is_set():
        try:
            await step()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure: log, wait, try again
            log.warning("telegram %s failed, retrying in %.0fs: %r", what, RETRY_SECONDS, exc)
            with suppress(TimeoutError):  # not wait_for: see OutboxWorker.run
                async with asyncio.timeout(RETRY_SECONDS):
                    await stop.wait()


def setup(app: web.Application) -> None:
    services = app[SERVICES]
    settings = services.settings
    messages = services.leader_notifier
    assert isinstance(messages, TelegramMessages)
    alerts = OperatorAlerts(messages)
    services.operator_alerts = alerts
    services.listeners.append(alerts)
    # run leaders, pickup staff and operators about runs (messages queue even without a bot)
    services.run_notifier = TelegramRuns(messages, settings)
    if not settings.telegram_enabled:
        return  # messages still queue in the outbox; they go out once a bot is configured
    bot = make_bot(settings)
    dp = make_dispatcher(services, messages)
    services.outbox.register("telegram", TelegramSender(bot, services.db))
    stop = asyncio.Event()

    if settings.telegram_mode == "webhook":
        handler = SimpleRequestHandler(dp, bot, secret_token=webhook_secret(settings))
        app.router.add_post(WEBHOOK_PATH, checked_update(handler, webhook_secret(settings)))

        async def webhook(app: web.Application) -> AsyncIterator[None]:
            async def register() -> None:
                await bot.set_webhook(settings.public_url + WEBHOOK_PATH,
                                      secret_token=webhook_secret(settings),
                                      allowed_updates=dp.resolve_used_update_types())
            task = asyncio.create_task(_forever("setWebhook", register, stop))
            yield
            stop.set()
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            pending = list(handler._background_feed_update_tasks)
            if pending:  # updates being handled: let them finish their transaction
                await asyncio.wait(pending, timeout=10)

        app.cleanup_ctx.append(webhook)
    else:
        async def polling(app: web.Application) -> AsyncIterator[None]:
            async def run() -> None:
                await _forever("deleteWebhook", bot.delete_webhook, stop)
                if not stop.is_set():
                    await dp.start_polling(bot, handle_signals=False, close_bot_session=False)
            task = asyncio.create_task(run(), name="telegram-polling")
            yield
            stop.set()
            with suppress(RuntimeError):  # not started yet
                await dp.stop_polling()
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(polling)

    async def close_bot(app: web.Application) -> None:
        # After every cleanup context: the outbox worker has stopped sending by now.
        await bot.session.close()

    app.on_cleanup.append(close_bot)
