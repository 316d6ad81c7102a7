"""Faults around a real `doorstep serve`: killed with SIGKILL mid-load, its database connection
lost, two processes on one PostgreSQL, the Twilio REST API away for a while. Each run ends
with the audit from bench.load: every acknowledged order exists once with its items, and every
queued text reached the Twilio stand-in exactly once."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bench.load import (
    Stats,
    audit_orders,
    audit_outbox,
    prepare_database,
    resident_phones,
    run_sms_load,
    wait_outbox_drained,
)
from bench.twilio_standin import TwilioStandIn
from tests.resilience.conftest import GatewayFactory, via_proxy
from tests.resilience.proxy import TcpProxy

pytestmark = pytest.mark.slow

# Twilio retries a webhook that failed; ours retries long enough to outlast a restart.
PATIENT = {"retries": 14, "retry_delay": 0.3, "timeout": 10.0}


async def reclaimable_after_lease(url: str) -> int:
    """Rows left 'sending' by a worker that died before sending: the next worker claims them
    once the lease runs out (delayed, not lost). Checked in a transaction rolled back."""
    from db.models import utcnow
    from db.outbox import SENDING_LEASE, claim_due
    from db.session import Database

    database = Database(url)
    try:
        async with database.sessionmaker() as s:
            async with s.begin():
                rows = await claim_due(s, limit=1000, now=utcnow() + SENDING_LEASE * 1.01)
                await s.rollback()
            return len(rows)
    finally:
        await database.dispose()


async def assert_audit(url: str, audit: Any, outbox: dict[str, Any],
                       final: dict[str, int]) -> None:
    summary = audit.summary()
    assert audit.confirmed > 0, summary
    assert not audit.lost, f"texts lost: {audit.lost} ({summary})"
    assert not audit.duplicated, f"orders duplicated: {audit.duplicated} ({summary})"
    assert not audit.wrong_items, audit.wrong_items[:5]
    assert audit.inbound_duplicates == 0
    assert outbox["sent_twice"] == 0, outbox
    assert outbox["unknown"] == 0, outbox
    assert final.get("failed", 0) == 0 and final.get("pending", 0) == 0, final
    # A row still 'sending' was claimed by a worker that died; unless it went out, the lease
    # gives it to the next worker.
    not_received = outbox["sms_rows"] - outbox["received"]
    if not_received:
        assert await reclaimable_after_lease(url) >= not_received, outbox


async def _settle(url: str, stats: Stats, rest: TwilioStandIn) -> tuple[Any, Any, Any]:
    final = await wait_outbox_drained(url, timeout=15)
    return await audit_orders(url, stats), await audit_outbox(url, rest), final


async def test_gateway_killed_mid_load_and_restarted(tmp_path: Path, gateway: GatewayFactory,
                                                     twilio_rest: TwilioStandIn) -> None:
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    phones = resident_phones(60)
    await prepare_database(url, phones)
    gw = await gateway(url)
    stats = Stats()
    load = asyncio.create_task(run_sms_load(gw.url, phones, concurrency=8, duration=8,
                                            stats=stats, texter_options=PATIENT))
    await asyncio.sleep(3)
    requests_before = stats.requests
    gw.kill(signal.SIGKILL)
    down_at = time.monotonic()
    await gw.start()
    restart_s = time.monotonic() - down_at
    await load
    audit, outbox, final = await _settle(url, stats, twilio_rest)
    await gw.stop()
    print(f"restart {restart_s:.1f}s", stats.summary(), audit.summary(), outbox, final)
    assert requests_before > 0 and stats.requests > requests_before, "load did not straddle"
    assert stats.retries > 0 or restart_s < 0.5, "the kill was not felt"
    await assert_audit(url, audit, outbox, final)


@pytest.mark.postgres
async def test_database_connection_lost_under_load(pg_url: str, pg_proxy: TcpProxy,
                                                   gateway: GatewayFactory,
                                                   twilio_rest: TwilioStandIn) -> None:
    """PostgreSQL goes away for 3 s (every connection reset, new ones refused) and comes back:
    with Twilio's retries, exactly the orders sent exist."""
    phones = resident_phones(60)
    await prepare_database(pg_url, phones)
    gw = await gateway(via_proxy(pg_url, pg_proxy))
    stats = Stats()
    load = asyncio.create_task(run_sms_load(gw.url, phones, concurrency=8, duration=8,
                                            stats=stats, texter_options=PATIENT))
    await asyncio.sleep(3)
    await pg_proxy.cut()
    await asyncio.sleep(3)
    await pg_proxy.restore()
    await load
    final = await wait_outbox_drained(pg_url, timeout=15)
    await gw.stop()
    audit, outbox = await audit_orders(pg_url, stats), await audit_outbox(pg_url, twilio_rest)
    url = pg_url
    print(stats.summary(), audit.summary(), outbox, final)
    assert sum(stats.statuses[s] for s in stats.statuses if s >= 500) + \
        sum(stats.errors.values()) > 0, "the outage was not felt"
    await assert_audit(url, audit, outbox, final)
    # no confirmation was answered with an apology: each became its order on a retry
    assert audit.for_operator == 0 and audit.no_order == 0, audit.summary()


@pytest.mark.postgres
async def test_two_gateways_on_one_database(pg_url: str, gateway: GatewayFactory,
                                            twilio_rest: TwilioStandIn) -> None:
    """Requests alternate between two processes (as behind a load balancer), even within one
    resident's conversation; each order exists once and each text is sent once."""
    phones = resident_phones(60)
    await prepare_database(pg_url, phones)
    shared = {"DOORSTEP_PUBLIC_URL": "https://doorstep.example.org"}
    a, b = await asyncio.gather(gateway(pg_url, **shared), gateway(pg_url, **shared))
    stats = await run_sms_load([a.url, b.url], phones, concurrency=10, duration=6,
                               texter_options={"public_url": shared["DOORSTEP_PUBLIC_URL"]})
    final = await wait_outbox_drained(pg_url, timeout=15)
    await a.stop()
    await b.stop()
    audit, outbox = await audit_orders(pg_url, stats), await audit_outbox(pg_url, twilio_rest)
    url = pg_url
    assert set(stats.statuses) == {200}, stats.summary()
    await assert_audit(url, audit, outbox, final)


async def test_twilio_rest_unreachable_then_back(tmp_path: Path, gateway: GatewayFactory,
                                                 twilio_rest: TwilioStandIn) -> None:
    """The REST API first answers 503, then refuses connections; texts wait in the outbox and
    all go out, once each, after it is back."""
    url = f"sqlite:///{tmp_path / 'rest.db'}"
    phones = resident_phones(20)
    await prepare_database(url, phones)
    gw = await gateway(url)
    twilio_rest.down = True
    stats = await run_sms_load(gw.url, phones[:10], concurrency=5, duration=3)
    await asyncio.sleep(2)
    await twilio_rest.stop()  # now unreachable altogether
    stats = await run_sms_load(gw.url, phones[10:], concurrency=5, duration=3, stats=stats)
    pending = await wait_outbox_drained(url, timeout=0.1)
    assert pending.get("pending", 0) + pending.get("sending", 0) > 0, pending
    assert twilio_rest.refused > 0
    twilio_rest.down = False
    await twilio_rest.start()
    final = await wait_outbox_drained(url, timeout=60)
    await gw.stop()
    audit, outbox = await audit_orders(url, stats), await audit_outbox(url, twilio_rest)
    print(stats.summary(), audit.summary(), outbox, final)
    await assert_audit(url, audit, outbox, final)
