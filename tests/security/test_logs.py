"""The logs of a real `doorstep serve` (debug level) carry no secrets and no whole phone
numbers, even while vendors fail and requests are forged."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from bench.load import (
    API_TOKEN,
    TWILIO_TOKEN,
    GatewayProcess,
    Stats,
    Texter,
    free_port,
    gateway_env,
    prepare_database,
)

TELEGRAM_TOKEN = "987654321:AAH-secret-telegram-bot-token-ZYXWVU"
WEBHOOK_SECRET = "webhook-secret-value-123456"
PHONES = ["+8613912345678", "+821055512345", "+8613700000042"]


@pytest.mark.slow
async def test_logs_mask_phones_and_hold_no_secrets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'logs.db'}"
    await prepare_database(url, PHONES[:2])
    port = free_port()
    env = gateway_env(url, port, tmp_path / "data", twilio_api_url="http://127.0.0.1:9",
                      telegram_api_url="http://127.0.0.1:9",
                      TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN, DOORSTEP_LOG_LEVEL="DEBUG",
                      DOORSTEP_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
                      DOORSTEP_OPERATOR_CHAT_ID="-100123", DOORSTEP_OUTBOX_POLL_SECONDS="0.1")
    log = tmp_path / "gateway.log"
    gw = GatewayProcess(env, port, log)
    await gw.start()
    try:
        async with aiohttp.ClientSession() as http:
            texter = Texter(http, gw.url, Stats(), retries=0)
            for phone in PHONES:  # two residents and an unknown sender
                for body in ("大米两袋", "1", "到哪了", f"我的电话是{phone}"):
                    await texter.send(texter.form(phone, body))
            # forged and unauthenticated requests, with secrets in the wrong places
            form = texter.form(PHONES[0], "大米")
            bad = RequestValidator("wrong").compute_signature(gw.url + "/twilio/sms", form)
            async with http.post(gw.url + "/twilio/sms", data=form,
                                 headers={"X-Twilio-Signature": bad}) as r:
                assert r.status == 403
            async with http.get(gw.url + "/api/orders", headers={
                    "Authorization": f"Bearer {API_TOKEN}x"}) as r:
                assert r.status == 401
            async with http.get(gw.url + f"/api/orders?phone={PHONES[0]}", headers={
                    "Authorization": f"Bearer {API_TOKEN}"}) as r:
                assert r.status == 200
        await asyncio.sleep(3)  # the outbox and the bot fail against port 9 and log it
    finally:
        await gw.stop()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "outbox" in text or "telegram" in text.lower(), "the vendors' failures were not logged"
    for secret in (TWILIO_TOKEN, API_TOKEN, TELEGRAM_TOKEN, WEBHOOK_SECRET,
                   TELEGRAM_TOKEN.split(":")[1]):
        assert secret not in text, f"a secret is in the log: {secret[:6]}…"
    for phone in PHONES:
        assert phone not in text and phone[1:] not in text, f"{phone} unmasked in the log"
    bare = re.search(r"(?<![0-9A-Za-z.:])\+?\d{11,15}(?![0-9A-Za-z])", text)
    assert bare is None, f"a phone-like number is in the log: {bare.group(0)[:4]}…"
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)  # one JSON object per line


@pytest.mark.parametrize("text, phone", [
    ("我的电话是+8613912345678", "+8613912345678"), ("电话13912345678谢谢", "13912345678"),
    ("전화 01055512345 입니다", "01055512345"), ("from=+821055512345&x=1", "+821055512345")])
def test_phones_are_masked_in_any_surrounding_text(text: str, phone: str) -> None:
    from gateway.observe.logs import Redactor

    assert phone not in Redactor().clean(text)
