"""Issue 15, item 3: with the default, relative `DOORSTEP_DATA_DIR=data` a downloaded voicemail
used to be stored as `data/recordings/RE….wav` and looked up as
`data/recordings/data/recordings/RE….wav` (404 "the recording file is gone"). Rows now hold the
file's name inside the recordings folder and one function resolves them everywhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from db.models import Recording
from gateway.channels.telegram.messages import TelegramMessages
from gateway.channels.twilio.voice import download_recording, purge_recordings
from gateway.services import SERVICES
from gateway.templates import Templates
from tests.console.conftest import add_operator, login
from tests.console.test_orders import _order

WAV = b"RIFF" + b"\0" * 4 + b"WAVEfmt " + b"\0" * 200


@pytest.fixture
async def twilio_recordings() -> Any:
    async def recording(request: web.Request) -> web.Response:
        return web.Response(body=WAV, content_type="audio/x-wav")

    stand_in = web.Application()
    stand_in.router.add_get("/{tail:.*}", recording)
    server = TestServer(stand_in, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_a_voicemail_plays_with_the_default_relative_data_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Any, demo_database: Any,
        make_app: Any, make_client: Any, twilio_recordings: str) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(public_url="http://127.0.0.1:8080", console_secret="s",
                             data_dir=Path("data"), twilio_api_url=twilio_recordings)
    assert not settings.data_dir.is_absolute()
    await add_operator(demo_database)
    app = make_app(settings)
    oid = await _order(app, status="needs_review")
    async with app[SERVICES].db.session() as s:
        rec = Recording(order_id=oid, call_sid="CAvm", kind="message", path="")
        s.add(rec)
        await s.flush()
        rec_id = rec.id
    path = await download_recording(app[SERVICES], rec_id, "https://api.twilio.com/2010-04-01/"
                                    "Accounts/AC1/Recordings/RE7", "CAvm", attempts=1)
    assert path is not None and path.read_bytes() == WAV
    async with app[SERVICES].db.session() as s:
        stored = (await s.get(Recording, rec_id)).path
    assert stored == "CAvm.wav"  # inside the recordings folder, not data/recordings/…

    client = await make_client(app)
    assert (await login(client)).status == 303
    r = await client.get(f"/console/recordings/{rec_id}")
    assert r.status == 200, await r.text()
    assert await r.read() == WAV

    # Another working directory (a service manager's) still finds the file from the row...
    telegram = TelegramMessages(Templates(), settings.model_copy(
        update={"data_dir": (tmp_path / "data").resolve()}))
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    assert Path(telegram.recording_path(stored)).read_bytes() == WAV
    monkeypatch.chdir(tmp_path)
    assert Path(TelegramMessages(Templates(), settings).recording_path(stored)).read_bytes() == WAV

    # ...and a row written the old way (relative to the working directory) still plays.
    async with app[SERVICES].db.session() as s:
        old = Recording(order_id=oid, call_sid="CAold", kind="message",
                        path=os.path.join("data", "recordings", "CAvm.wav"))
        s.add(old)
        await s.flush()
        old_id = old.id
    r = await client.get(f"/console/recordings/{old_id}")
    assert r.status == 200 and await r.read() == WAV

    # Purging deletes the real file, wherever the row's path was relative to.
    import datetime as dt
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400)
    assert await purge_recordings(app[SERVICES].db, 30, now=later, settings=settings) >= 1
    assert not (tmp_path / "data" / "recordings" / "CAvm.wav").exists()
