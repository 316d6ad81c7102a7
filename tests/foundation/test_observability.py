"""Logs carry no secrets and mask phone numbers; /metrics speaks Prometheus' text format."""

from __future__ import annotations

from typing import Any

import io
import json
import logging

import db.orders
from gateway.app import create_app
from gateway.services import SERVICES
from gateway.observe.logs import JsonFormatter, Redactor, mask_phone


def test_mask_phone() -> None:
    assert mask_phone("from +8613800000001") == "from +8613*****0001"
    assert mask_phone("order 42 at 10:15") == "order 42 at 10:15"
    assert "+8210****0001" in mask_phone("+821000000001 called")


def test_json_logs_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(Redactor(["tw-secret-token"]))
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("doorstep.test.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("sms from %s signed with %s via %s", "+8613800000001", "tw-secret-token",
                    "https://api.telegram.org/bot123456:AAAbbbCCCdddEEEfffGGGhhh/getMe")
        try:
            raise ValueError("password=hunter2hunter2")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    text = stream.getvalue()
    assert lines[0]["level"] == "warning" and "+8613*****0001" in lines[0]["msg"]
    for secret in ("tw-secret-token", "13800000001", "AAAbbbCCC", "hunter2hunter2"):
        assert secret not in text
    assert "exc" in lines[1] and "ValueError" in lines[1]["exc"]


async def test_metrics_endpoint(database, settings, make_client) -> None:  # noqa: ANN001
    async with database.session() as s:
        await db.orders.create(s, channel="sms", phone="+8613800000001", status="draft",
                               actor="t")
    app = create_app(settings, workers=False)
    client = await make_client(app)
    try:
        await _metrics_checks(client, settings)
    finally:
        await app[SERVICES].db.dispose()  # workers are off: nobody else closes its connections


async def _metrics_checks(client: Any, settings: Any) -> None:
    await client.get("/healthz")
    await client.get("/api/orders")
    assert (await client.get("/metrics")).status == 401  # not without the token
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {settings.api_token}"})
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    text = await r.text()
    assert 'doorstep_orders{status="draft"} 1' in text
    assert 'doorstep_http_requests_total{method="GET",route="/healthz",status="200"} 1' in text
    assert 'route="/api/orders",status="401"' in text
    assert "# TYPE doorstep_http_request_seconds histogram" in text
    assert 'doorstep_http_request_seconds_bucket{route="/healthz",le="+Inf"} 1' in text
    assert "13800000001" not in text
