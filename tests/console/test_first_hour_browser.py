"""The Quick start's demo as a newcomer meets it, in headless Chromium: `doorstep serve --demo`
in an empty folder, log in with the printed credentials, a Chinese and a Korean resident text
an order on the try-it page, each is routed to a simulated leader at once, the leader's buttons
take it to delivered while the resident's texts arrive at each step; every page at 1366×900
and 390×844 is checked for English and for overflow. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.test_browser import ARTIFACTS, ARGS, browser  # noqa: F401 (fixture)
from tests.console.test_translated import english_strings

pytestmark = pytest.mark.browser

EXE = Path(sys.executable).parent / "doorstep"
VIEWPORTS = {"wide": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
PAGES = ("/console/orders", "/console/entry", "/console/residents", "/console/leaders",
         "/console/catalog", "/console/demand", "/console/map", "/console/try")
STEPS = {  # leader's buttons, and words of the resident's text at each step
    "zh-CN": [("接单", "接单"), ("已买到", "买好"), ("已送达", "已送达")],
    "ko-KR": [("수락", "맡았습니다"), ("구매 완료", "다 샀습니다"), ("배달 완료", "배달되었습니다")],
}
RESIDENTS = {"zh-CN": ("+8613800000001", "大米两袋"), "ko-KR": ("+821000000001", "쌀 두 포대 주세요")}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`doorstep serve --demo` as the Quick start runs it; its printed address and login."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_"))}
    proc = subprocess.Popen([str(EXE), "serve", "--demo", "--port", str(port)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        out = ""
        while proc.poll() is None and "Press Ctrl+C" not in out:
            out += proc.stdout.readline()
        m = re.search(r"Console: (\S+)/console  login: (\S+)  password: (\S+)", out)
        assert m, out
        yield {"base": m.group(1), "user": m.group(2), "password": m.group(3),
               "db": str(tmp_path / "doorstep.db")}
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stdout:
            proc.stdout.close()


def _order(db: str, phone: str) -> tuple[int, str, int | None] | None:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT id, status, leader_id FROM orders WHERE phone = ? ORDER BY id "
                         "DESC LIMIT 1", (phone,)).fetchone()


async def _check_page(page: Any, name: str, english: set[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"first-hour-{name}.png"), full_page=True)
    text = await page.locator("body").inner_text()
    found = sorted(w for w in english if w in text)
    assert not found, (name, found)
    for raw in ("resident:sms", "dispatcher", "leader:", "zh-CN", "ko-KR", "pending"):
        assert raw not in text, (name, raw)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, (name, overflow)


async def _walk(page: Any, demo: dict[str, str], locale: str, size: str,
                english: set[str]) -> None:
    base, phone = demo["base"], RESIDENTS[locale][0]
    await page.goto(f"{base}/console/try?phone={phone.replace('+', '%2B')}")
    for body in (RESIDENTS[locale][1], "1"):
        await page.locator("#sms-body").fill(body)
        await page.locator("#sms-body").press("Enter")
        await page.wait_for_load_state()
    deadline = time.monotonic() + 20
    while (got := _order(demo["db"], phone)) is None or got[1] != "assigned":
        assert time.monotonic() < deadline, got  # routed at once, no operator needed
        time.sleep(0.2)
    order_id, _, leader_id = got
    await page.goto(f"{base}/console/try?phone={phone.replace('+', '%2B')}&leader={leader_id}")
    for label, words in STEPS[locale]:
        await page.locator("article.task").get_by_role("button", name=label, exact=True).click()
        await page.wait_for_load_state()
        assert await page.locator("#who").input_value() == phone  # the resident stays chosen
        await page.locator(".phone-screen").get_by_text(words).first.wait_for()
        await page.locator("p.notice[role=status]").first.wait_for()
    assert _order(demo["db"], phone)[1] == "delivered"  # type: ignore[index]
    await page.reload()  # a reload after the presses is a GET of the page
    await _check_page(page, f"try-{locale}-{size}", english)
    await page.goto(f"{base}/console/orders/{order_id}")
    await _check_page(page, f"order-{locale}-{size}", english)


async def test_the_quick_start_demo_in_a_browser(browser: Any, demo: dict[str, str]) -> None:  # noqa: F811
    english = english_strings()
    for (locale, size) in (("zh-CN", "wide"), ("ko-KR", "phone")):
        ctx = await browser.new_context(viewport=VIEWPORTS[size])
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(demo["base"] + "/console")
        await page.get_by_label("用户名").fill(demo["user"])
        await page.get_by_label("密码").fill(demo["password"])
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url("**/console/orders")
        if locale == "ko-KR":
            await page.goto(f"{demo['base']}/console/lang?to=ko-KR&next=/console/orders")
        await _walk(page, demo, locale, size, english)
        for other in VIEWPORTS:
            await page.set_viewport_size(VIEWPORTS[other])
            for path in PAGES:
                await page.goto(demo["base"] + path)
                await _check_page(page, f"{path.rsplit('/', 1)[1]}-{locale}-{other}", english)
        if size == "phone":  # the menu folds away and opens
            assert not await page.locator("header nav").is_visible()
            await page.locator(".nav-toggle-label").click()
            assert await page.locator("header nav").is_visible()
        assert not errors, errors
        await ctx.close()
