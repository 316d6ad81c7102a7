"""Fixtures for fault tests: fresh PostgreSQL databases, a cuttable proxy in front of the
server, the Twilio REST stand-in, and real gateway processes on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from bench.load import (
    GatewayProcess,
    create_pg_database,
    drop_pg_database,
    free_port,
    gateway_env,
)
from bench.twilio_standin import TwilioStandIn
from tests.resilience.proxy import TcpProxy

PG_ADMIN = os.environ.get("DOORSTEP_TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(PG_ADMIN, connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    return PG_ADMIN


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of this test, dropped afterwards."""
    url = create_pg_database(pg_server)
    yield url
    drop_pg_database(url, pg_server)


@pytest.fixture
async def pg_proxy(pg_server: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


def via_proxy(url: str, proxy: TcpProxy) -> str:
    """The same database reached through the proxy."""
    return url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")


GatewayFactory = Callable[..., Awaitable[GatewayProcess]]


@pytest.fixture
async def gateway(tmp_path: Path, twilio_rest: TwilioStandIn) -> AsyncIterator[GatewayFactory]:
    """Start `doorstep serve` processes: `await gateway(database_url, **env)`; all are stopped
    at the end of the test."""
    started: list[GatewayProcess] = []

    async def start(database_url: str, **extra: str) -> GatewayProcess:
        port = free_port()
        n = len(started)
        env = gateway_env(database_url, port, tmp_path / f"data{n}",
                          twilio_api_url=twilio_rest.url, **extra)
        gw = GatewayProcess(env, port, tmp_path / f"gateway{n}.log")
        await gw.start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        await gw.stop()
