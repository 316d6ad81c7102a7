"""Phone calls under faults: the recordings disk full, and a recognition worker killed
mid-call. The order is still taken or kept for a person; the gateway goes on."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import select

import db.orders
from db.models import Outbox, Recording
from gateway.app import create_app
from gateway.services import build_services
from gateway.telephony.simulate_call import Twilio
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN
from tests.voice.calls import MODULES, call, scripted, tone

WANG = "+8613800000001"  # 王奶奶 in the demo data
OPERATORS = -100777


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A data folder on a 64 KB filesystem that is already full (tmpfs, root only); without
    mount rights, a `recordings` path that is a file, so nothing can be written under it."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
        capture_output=True).returncode == 0
    if mounted:
        (mnt / "recordings").mkdir()
        f = open(mnt / "filler", "wb", buffering=0)
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
        finally:
            f.close()
    else:
        (mnt / "recordings").write_bytes(b"not a folder")
    yield mnt
    if mounted:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


async def test_recordings_disk_full_orders_still_taken(make_client: Callable[..., Any],
                                                       make_settings: Callable[..., Any],
                                                       demo_database: Any,
                                                       full_disk: Path) -> None:
    settings = make_settings(data_dir=full_disk, operator_chat_id=OPERATORS)
    rec, _ = scripted(["大米两袋"])
    services = build_services(settings, demo_database)
    services.extras["recognizer"] = rec
    app = create_app(settings, services, modules=(*MODULES, "gateway.telegram.bot"),
                     workers=False)  # the Telegram module brings the operator alerts
    client = await make_client(app)
    twilio = Twilio(str(client.make_url("")).rstrip("/"), PUBLIC_URL, TWILIO_TOKEN)
    log = await call(twilio, WANG, [tone()], "1")
    assert log.heard[-1].startswith("好的，已经下单：大米2袋"), log.heard
    async with demo_database.session() as s:
        rows, _ = await db.orders.list_orders(s)
        recs = list((await s.execute(select(Recording))).scalars())
        alerts = list((await s.execute(select(Outbox).where(
            Outbox.channel == "telegram", Outbox.recipient == str(OPERATORS)))).scalars())
    assert [(o.status, o.channel) for o in rows] == [("confirmed", "voice")]
    assert all(Path(r.path).exists() for r in recs), "a recording row points at nothing"
    assert any("record" in a.body.lower() or "录音" in a.body for a in alerts), \
        [a.body for a in alerts]
