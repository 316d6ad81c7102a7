"""An unknown number calling is reported to the operators at once, whether or not the caller
stays on the line to leave a message; one alert per number a day."""

from __future__ import annotations

from typing import Any, Callable

from gateway.app import create_app
from gateway.services import SERVICES
from tests.telegram.conftest import PARTS, OPERATOR_CHAT, Harness
from tests.twilio_sign import signed_headers


async def test_an_unknown_caller_alerts_the_operators_once(
        tg_settings: Callable[..., Any], make_client: Callable[..., Any], emulator: Any) -> None:
    settings = tg_settings(telegram_mode="polling")
    app = create_app(settings, parts=(*PARTS, "voice"))
    client = await make_client(app)
    gw = Harness(app[SERVICES], emulator, client)
    stranger = "+8613900007777"
    for sid in ("CA" + "1" * 32, "CA" + "2" * 32):  # two calls, the caller hangs up each time
        params = {"CallSid": sid, "From": stranger, "To": "+8657212345",
                  "AccountSid": "AC" + "0" * 32, "CallStatus": "ringing"}
        r = await client.post("/twilio/voice", data=params,
                              headers=signed_headers("/twilio/voice", params))
        assert r.status == 200
        assert "<Record" in await r.text() or "<Gather" in await r.text()
    alert = await gw.emu.wait_message(OPERATOR_CHAT, f"未登记的号码来电：{stranger}")
    assert alert is not None
    texts = [t for t in gw.emu.texts(OPERATOR_CHAT) if stranger in t]
    assert len(texts) == 1, texts
