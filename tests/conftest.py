"""Shared fixtures: a migrated real database (SQLite, or PostgreSQL when
DOORSTEP_TEST_DATABASE_URL says so), settings, and the real app on a loopback port."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import create_engine, text

from db.migrate import upgrade
from db.models import Base
from db.session import Database, is_sqlite, sync_url
from gateway.settings import Settings

TWILIO_TOKEN = "test-twilio-auth-token"
API_TOKEN = "test-api-token"
PUBLIC_URL = "https://doorstep.example.org"

PG_ADMIN_URL = os.environ.get("DOORSTEP_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")


def test_database_url() -> str | None:
    """The PostgreSQL database the suite runs on, if any (CI sets it for its second pass)."""
    return os.environ.get("DOORSTEP_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def migrated_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once per session: a template SQLite file, or the PG URL."""
    url = test_database_url()
    if url is None:
        path = tmp_path_factory.mktemp("db") / "template.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)
    yield url


def _truncate_pg(url: str) -> None:
    engine = create_engine(sync_url(url))
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def db_url(migrated_url: str, tmp_path: Path) -> str:
    """A clean, migrated database for one test."""
    if is_sqlite(migrated_url):
        src = Path(migrated_url.removeprefix("sqlite:///"))
        dst = tmp_path / f"doorstep-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(src, dst)
        return f"sqlite:///{dst}"
    _truncate_pg(migrated_url)
    return migrated_url


@pytest.fixture(autouse=True)
async def _databases_closed_last(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Every Database a test makes is disposed (again) when all else is torn down: an app
    closed after the `database` fixture (fixtures end in the reverse order of a test's
    arguments) may still use it on its way out (a recording's download finishing). Disposed
    while a connection is checked out, an engine leaves that connection to its old pool, and
    asyncpg warns of it, unclosed, when that pool is collected."""
    made: list[Database] = []
    init = Database.__init__

    def tracked(self: Database, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Database, "__init__", tracked)
    yield
    for d in made:
        await d.dispose()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    """The test's Database, disposed by `_databases_closed_last` once the apps that use it
    are closed (disposed earlier, a connection an app had checked out would be orphaned)."""
    yield Database(db_url)


@pytest.fixture
def make_settings(db_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for tests: real database, Twilio token set, no .env file read."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = dict(
            database_url=db_url, public_url=PUBLIC_URL, twilio_auth_token=TWILIO_TOKEN,
            twilio_account_sid="AC" + "0" * 32, api_token=API_TOKEN, data_dir=tmp_path / "data",
            telegram_mode="off", outbox_poll_seconds=0.05, voice_workers=0,
        )
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Any]]:
    """Start the real app on a loopback port; returns an aiohttp TestClient."""
    clients: list[TestClient[Any, Any]] = []

    async def make(app: Any) -> TestClient[Any, Any]:
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def twilio_rest() -> AsyncIterator[Any]:
    """The stand-in for Twilio's Messages API on loopback (records what it was sent)."""
    from bench.twilio_standin import TwilioStandIn

    rest = TwilioStandIn()
    await rest.start()
    yield rest
    await rest.stop()


@pytest.fixture
async def demo_database(database: Database) -> Database:
    from gateway.orders.demo import load_demo

    await load_demo(database, "zh-CN")
    return database
