"""Console fixtures: the real app on loopback with an operator, and a logged-in client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import db.people
from db.session import Database
from gateway.app import create_app
from gateway.channels.console.passwords import hash_password
from gateway.services import SERVICES

USER, PASSWORD = "alice", "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)


async def add_operator(database: Database, username: str = USER, password: str = PASSWORD) -> None:
    async with database.session() as s:
        await db.people.add_operator(s, username, hash_password(password))


async def login(client: Any, username: str = USER, password: str = PASSWORD,
                next_: str = "/console/orders") -> Any:
    page = await client.get("/console/login")
    token = csrf_of(await page.text())
    return await client.post("/console/login", data={"username": username, "password": password,
                                                     "csrf": token, "next": next_},
                             allow_redirects=False)


@pytest.fixture
def console_settings(make_settings: Callable[..., Any]) -> Any:
    # Plain http so the test client (over http) sends the cookies back.
    return make_settings(public_url="http://127.0.0.1:8080", console_secret="test-console-secret")


@pytest.fixture
async def make_app() -> AsyncIterator[Callable[..., Any]]:
    """create_app(workers=False), with each app's database engine disposed afterwards (the
    workers' cleanup would do it, but they are off), so PostgreSQL connections do not pile up."""
    apps: list[Any] = []

    def make(settings: Any, *, workers: bool = False, **kw: Any) -> Any:
        app = create_app(settings, workers=workers, **kw)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app[SERVICES].db.dispose()  # (again, for apps with workers: harmless)


@pytest.fixture
async def app(demo_database: Database, console_settings: Any, make_app: Any) -> Any:
    await add_operator(demo_database)
    return make_app(console_settings)


@pytest.fixture
async def anon(app: Any, make_client: Callable[..., Any]) -> Any:
    return await make_client(app)


@pytest.fixture
async def client(anon: Any) -> Any:
    r = await login(anon)
    assert r.status == 303, await r.text()
    return anon


async def page_csrf(client: Any, path: str = "/console/orders") -> str:
    r = await client.get(path)
    assert r.status == 200
    return csrf_of(await r.text())
