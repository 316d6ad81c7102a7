"""`doorstep simulate sms` itself, in a subprocess, against the real app on loopback: it signs
as Twilio does, plays a conversation, prints each answer, and the order lands."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import InboundMessage, Order
from db.session import Database
from tests.conftest import PUBLIC_URL, TWILIO_TOKEN
from tests.sms.conftest import GRANDMA, Texter

DOORSTEP = Path(sys.executable).with_name("doorstep")
pytestmark = pytest.mark.skipif(not DOORSTEP.exists(), reason="the doorstep script is missing")


async def doorstep(cwd: Path, token: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_"))}
    env.update({"DOORSTEP_PUBLIC_URL": PUBLIC_URL, "TWILIO_AUTH_TOKEN": token})
    proc = await asyncio.create_subprocess_exec(
        str(DOORSTEP), *args, cwd=str(cwd), env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_conversation_through_the_command(texter: Texter, demo_database: Database,
                                                  tmp_path: Path) -> None:
    url = str(texter.client.make_url("")).rstrip("/")
    code, out, err = await doorstep(tmp_path, TWILIO_TOKEN, "simulate", "sms", "--from", GRANDMA,
                                    "--url", url, "大米两袋，鸡蛋一板", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "> 大米两袋，鸡蛋一板" and "大米2袋" in lines[1] and "鸡蛋1板" in lines[1]
    assert lines[2] == "> 1" and "已下单" in lines[3]
    async with demo_database.session() as s:
        (order,) = (await s.execute(select(Order))).scalars().all()
        # confirmed, then routed by the dispatcher (no leader in the demo data is on Telegram)
        assert order.events[0].to_status == "confirmed" and order.phone == GRANDMA
        assert order.status in ("confirmed", "unassigned")
        assert sorted((i.sku, int(i.quantity)) for i in order.items) == [("eggs", 1), ("rice", 2)]


async def test_a_retry_with_the_same_sid_changes_nothing(texter: Texter, demo_database: Database,
                                                         tmp_path: Path) -> None:
    url = str(texter.client.make_url("")).rstrip("/")
    args = ("simulate", "sms", "--from", GRANDMA, "--url", url, "--sid", "SM" + "7" * 32)
    first = await doorstep(tmp_path, TWILIO_TOKEN, *args, "大米两袋")
    again = await doorstep(tmp_path, TWILIO_TOKEN, *args, "大米两袋")
    assert first[0] == again[0] == 0 and first[1] == again[1]
    async with demo_database.session() as s:
        assert len((await s.execute(select(InboundMessage))).scalars().all()) == 1


async def test_a_wrong_token_is_refused_and_stores_nothing(texter: Texter,
                                                           demo_database: Database,
                                                           tmp_path: Path) -> None:
    url = str(texter.client.make_url("")).rstrip("/")
    code, _, err = await doorstep(tmp_path, "not-the-token", "simulate", "sms", "--from",
                                  GRANDMA, "--url", url, "大米两袋")
    assert code == 1 and "HTTP 403" in err
    async with demo_database.session() as s:
        assert (await s.execute(select(InboundMessage))).scalars().all() == []
