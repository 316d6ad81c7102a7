"""Findings of the outside probe (issue 15), each against the real app on a loopback port:
signatures over the raw URL, malformed bodies answered 400, CSV cells that start a formula."""

from __future__ import annotations

import csv
import io


import aiohttp
import pytest
from twilio.request_validator import RequestValidator
from yarl import URL

from tests.conftest import PUBLIC_URL, TWILIO_TOKEN
from tests.security.conftest import TELEGRAM_SECRET, ThreadedGateway

FORM = {"From": "+8613800000001", "To": "+8657212345", "Body": "大米两袋",
        "AccountSid": "AC" + "0" * 32, "NumMedia": "0"}


@pytest.mark.parametrize("query", ["?note=a%20b", "?path=a%2Fb", "?q=a+b", "?x=%E5%A4%A7&y=1"])
async def test_a_signature_over_an_encoded_query_is_accepted(live: ThreadedGateway,
                                                             query: str) -> None:
    """Twilio signs the URL as configured, percent-encoding and all."""
    form = {**FORM, "MessageSid": "SM" + format(abs(hash(query)), "x").rjust(32, "0")[:32]}
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/twilio/sms" + query,
                                                           form)
    url = URL(live.url + "/twilio/sms" + query, encoded=True)  # sent as written
    async with aiohttp.ClientSession() as http, http.post(
            url, data=form, headers={"X-Twilio-Signature": sig}) as r:
        assert r.status == 200, await r.text()


async def test_a_signature_over_the_decoded_query_is_refused(live: ThreadedGateway) -> None:
    form = {**FORM, "MessageSid": "SM" + "e" * 32}
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/twilio/sms?note=a b",
                                                           form)
    async with aiohttp.ClientSession() as http, http.post(
            live.url + "/twilio/sms?note=a%20b", data=form,
            headers={"X-Twilio-Signature": sig}) as r:
        assert r.status == 403


async def test_a_small_form_with_invalid_utf8_is_a_bad_request(live: ThreadedGateway) -> None:
    body = b"From=%2B8613800000001&Body=\xff\xfe\xfa&MessageSid=SM" + b"f" * 32
    async with aiohttp.ClientSession() as http, http.post(
            live.url + "/twilio/sms", data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": "x"}) as r:
        assert r.status in (400, 403), await r.text()
        assert r.status != 413


async def test_malformed_json_on_the_telegram_webhook_is_a_bad_request(
        live: ThreadedGateway) -> None:
    if ("POST", "/telegram/webhook") not in live.routes:
        pytest.skip("the Telegram webhook is not registered")
    async with aiohttp.ClientSession() as http:
        for body in (b"{not json", b"[1, 2]", b'{"update_id": "x"}'):
            async with http.post(live.url + "/telegram/webhook", data=body, headers={
                    "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
                    "Content-Type": "application/json"}) as r:
                assert r.status == 400, (body, r.status, await r.text())
    assert not live.errors.messages()  # type: ignore[attr-defined]


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1",
                                  "\r=1"])
def test_csv_cells_that_start_a_formula_are_neutralised(cell: str) -> None:
    from gateway.orders.catalog import CatalogItem, write_csv
    from gateway.orders.csvsafe import safe_cell

    assert safe_cell(cell).startswith("'")
    assert safe_cell("大米") == "大米" and safe_cell(2) == "2" and safe_cell("-") == "'-"
    out = write_csv([CatalogItem(sku="rice", name=cell.replace("\r", ""), unit="袋")])
    row = next(r for r in csv.DictReader(io.StringIO(out)))
    assert row["name"].startswith("'"), row


def test_negative_numbers_are_numbers_not_formulas() -> None:
    from gateway.orders.csvsafe import safe_cell

    assert safe_cell(-1.5) == "-1.5"  # a number stays a number




async def test_metrics_need_a_token(live: ThreadedGateway) -> None:
    from tests.conftest import API_TOKEN

    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}):
            async with http.get(live.url + "/metrics", headers=headers) as r:
                assert r.status == 401
                assert "doorstep_orders" not in await r.text()
        async with http.get(live.url + "/metrics",
                            headers={"Authorization": f"Bearer {API_TOKEN}"}) as r:
            assert r.status == 200 and "doorstep_" in await r.text()
