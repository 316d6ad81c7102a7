"""A real gateway for security tests, shared by a module: the app on a loopback port, served
from a thread, so that hypothesis can drive it with plain blocking HTTP requests."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.services import SERVICES
from tests.conftest import API_TOKEN, PUBLIC_URL, TWILIO_TOKEN

TELEGRAM_SECRET = "test-telegram-webhook-secret"
TELEGRAM_TOKEN = "123456789:TEST-telegram-bot-token-abcdefghijkl"


class ErrorLog(logging.Handler):
    """Collects every ERROR record (an unhandled exception in a handler logs one)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        out = []
        for r in self.records:
            text = r.getMessage()
            if r.exc_info and r.exc_info[1] is not None:
                text += f": {r.exc_info[1]!r}"
            out.append(f"{r.name}: {text}")
        return out


class ThreadedGateway:
    """The whole app (every module, workers off) on 127.0.0.1 in a thread of its own."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True, name="gateway")
        self.error: BaseException | None = None
        self.routes: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self.error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        from gateway.app import create_app

        app = create_app(self.settings, workers=False)
        self.routes = sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                              if r.resource is not None})
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()
        await app[SERVICES].db.dispose()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(60)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def security_settings(tmp: Path, **overrides: Any) -> Any:
    from gateway.settings import Settings

    url = f"sqlite:///{tmp / 'security.db'}"
    values: dict[str, Any] = dict(
        database_url=url, public_url=PUBLIC_URL, twilio_auth_token=TWILIO_TOKEN,
        twilio_account_sid="AC" + "0" * 32, api_token=API_TOKEN, data_dir=tmp / "data",
        telegram_mode="webhook", telegram_bot_token=TELEGRAM_TOKEN,
        telegram_webhook_secret=TELEGRAM_SECRET, telegram_api_url="http://127.0.0.1:9",
        outbox_poll_seconds=0.05, voice_workers=0, sms_rate_limit=0)
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    """A migrated SQLite database with the demo data, and the gateway serving it."""
    from db.migrate import upgrade
    from db.session import Database
    from gateway.orders.demo import load_demo

    tmp = tmp_path_factory.mktemp("security")
    settings = security_settings(tmp)
    upgrade(settings.database_url)

    async def demo() -> None:
        d = Database(settings.database_url)
        try:
            await load_demo(d, "zh-CN")
        finally:
            await d.dispose()

    asyncio.run(demo())
    # Earlier tests' closed event loops may still hold pending tasks; collected later, each logs
    # "Task was destroyed but it is pending!" at error level, which is not this gateway's fault.
    gc.collect()
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    gw = ThreadedGateway(settings)
    gw.start()
    gw.errors = errors  # type: ignore[attr-defined]
    yield gw
    gw.stop()
    logging.getLogger().removeHandler(errors)
