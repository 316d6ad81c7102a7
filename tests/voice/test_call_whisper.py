"""Whole zh-CN calls through a real gateway: the Whisper pool that `serve` builds (settings,
engine plan, the model joined from its packages), synthetic Mandarin speech band-limited to a
phone line, a spoken order read back and confirmed by voice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

import pytest

import db.orders
from gateway.services import SERVICES
from tests.voice.calls import call
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN
from gateway.app import create_app
from gateway.services import build_services
from gateway.channels.twilio.webhook_client import Twilio
from voice import synth
from voice.audio import silence_ulaw, ulaw_encode
from voice.models import whisper_available

pytestmark = pytest.mark.slow

WANG = "+8613800000001"  # 王奶奶 in the demo data


def speech(text: str, tmp: Path, speed: int = 130) -> bytes:
    pcm = synth.synth_pcm(text, tmp, speed=speed)
    return silence_ulaw(0.4) + ulaw_encode(pcm) + silence_ulaw(1.2)


@pytest.fixture
async def gateway(make_client: Callable[..., Any], make_settings: Callable[..., Any],
                  demo_database: Any, tmp_path: Path) -> Any:
    if not synth.available():
        pytest.skip("espeak-ng and sox are needed to make speech")
    settings = make_settings(voice_workers=1, voice_engine_zh_cn="whisper",
                             voice_engine_ko_kr="off")
    if not whisper_available(settings.data_dir / "models"):
        pytest.skip("the zh extra (faster-whisper and its model) is not installed")
    services = build_services(settings, demo_database)
    app = create_app(settings, services, parts=("health", "api", "voice", "media"),
        workers=False)
    client = await make_client(app)
    for _ in range(1200):  # the worker joins and loads the model: /readyz says when
        r = await client.get("/readyz")
        if r.status == 200:
            break
        body = await r.json()
        assert body["voice"]["zh-CN"] in ("loading", "ready"), body
        await asyncio.sleep(0.1)
    body = await (await client.get("/healthz")).json()
    assert body["voice"] == {"zh-CN": "ready", "ko-KR": "off"}
    return client, Twilio(str(client.make_url("")).rstrip("/"), PUBLIC_URL, TWILIO_TOKEN)


async def orders(database: Any) -> list[Any]:
    async with database.session() as s:
        rows, _ = await db.orders.list_orders(s)
        return list(rows)


async def test_spoken_orders_read_back_and_confirmed_by_voice(
        gateway: Any, demo_database: Any, tmp_path: Path) -> None:
    client, twilio = gateway
    log = await call(twilio, WANG, [speech("da4 mi3 liang3 dai4", tmp_path),
                                    speech("shi4", tmp_path)])
    assert log.heard[0].startswith("王奶奶您好")
    assert any(h.startswith("您要的是：大米2袋") for h in log.heard), log.heard
    await client.app[SERVICES].voice.drain()
    assert log.heard[-1].startswith("好的，已经下单：大米2袋"), \
        (log.heard, [o.transcript for o in await orders(demo_database)])
    [order] = await orders(demo_database)
    assert order.status == "confirmed" and order.locale == "zh-CN"
    assert [(i.sku, int(i.quantity), i.unit) for i in order.items] == [("rice", 2, "袋")]
    assert len(order.recordings) == 2


async def test_no_by_voice_asks_again(gateway: Any, demo_database: Any, tmp_path: Path) -> None:
    # 不要了: through the whole call path 不是 came out as "Prophet" and 不对 as 对 in this
    # synthetic voice (see voice/README.md); a misheard no is read back again, never confirmed
    # by itself, and the caller still has the keys.
    client, twilio = gateway
    log = await call(twilio, WANG, [speech("da4 mi3 liang3 dai4", tmp_path),
                                    speech("bu4 yao4 le5", tmp_path),
                                    speech("da4 mi3 liang3 dai4", tmp_path)], "1")
    assert any("好的，请再说一遍" in h for h in log.heard), \
        (log.heard, [o.transcript for o in await orders(demo_database)])
    assert log.heard[-1].startswith("好的，已经下单：大米2袋"), log.heard
    await client.app[SERVICES].voice.drain()
