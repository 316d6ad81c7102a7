"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): log in,
take an order by phone, find it in the live list and open it. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import db.orders
import db.people
from gateway.services import SERVICES
from tests.console.conftest import PASSWORD, USER
from tests.console.test_try_calls import standin, start  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("DOORSTEP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage", "--disable-extensions", "--disable-sync",
        "--no-first-run", "--disable-default-apps", "--mute-audio"]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (install with scripts/ci-browser)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (scripts/ci-browser installs it)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


@pytest.fixture
async def base_url(app: Any, make_client: Any) -> str:
    client = await make_client(app)
    return str(client.make_url("")).rstrip("/")


async def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


async def _login(page: Any, base_url: str) -> None:
    await page.goto(base_url + "/console")
    await page.get_by_label("用户名").fill(USER)
    await page.get_by_label("密码").fill(PASSWORD)
    await _shot(page, "login")
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/console/orders")


async def test_phone_order_end_to_end(browser: Any, base_url: str, app: Any) -> None:
    async with app[SERVICES].db.session() as s:
        resident = (await db.people.list_residents(s))[0]
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _login(page, base_url)

    await page.get_by_role("link", name="电话下单").click()
    await page.get_by_label("来电号码").fill(resident.phone)
    await page.get_by_role("button", name="查找").click()
    await page.locator("#resident-card").get_by_text(resident.name).wait_for()

    await page.get_by_label("老人要什么").fill("两袋大米")
    first = page.locator("select[name=sku]").first
    from playwright.async_api import expect

    try:
        await expect(first).to_have_value("rice", timeout=5000)  # parsed as it was typed
    except AssertionError:
        # Without the order language the operator picks the item by hand, as the notice says.
        await first.select_option("rice")
        await page.locator("input[name=quantity]").first.fill("2")
    await _shot(page, "entry")
    await page.get_by_role("button", name="保存订单").click()
    await page.wait_for_url("**/console/orders/*?done=created")
    heading = await page.locator("h1").inner_text()
    order_id = int(heading.split("#")[1].split()[0])
    assert "大米" in await page.locator("main").inner_text()
    await _shot(page, "order")

    await page.get_by_role("link", name="订单", exact=True).click()
    row_link = page.get_by_role("link", name=f"#{order_id}", exact=True)
    await row_link.wait_for()
    await _shot(page, "orders")
    await row_link.click()
    await page.wait_for_url(f"**/console/orders/{order_id}")
    timeline = await page.locator(".timeline").inner_text()
    assert "操作员 alice" in timeline and "operator:" not in timeline
    async with app[SERVICES].db.session() as s:
        o = await db.orders.get(s, order_id)
        assert o.channel == "console" and o.items[0].sku == "rice"
        assert float(o.items[0].quantity) == 2
        others = [r for r in await db.people.list_residents(s) if r.village != resident.village]
        for i, r in enumerate(others[:4]):
            await db.orders.create(s, channel="sms", phone=r.phone, status="confirmed",
                                   actor="resident", resident_id=r.id,
                                   items=[{"sku": "rice", "name": "大米", "quantity": 1 + i,
                                           "unit": "袋"},
                                          {"sku": "eggs", "name": "鸡蛋", "quantity": 2,
                                           "unit": "斤"}])
    await page.get_by_role("link", name="需求统计").click()
    assert await page.locator("svg.chart rect").count() >= 5
    await _shot(page, "demand-chart")
    assert errors == []  # no script errors, nothing blocked by the content security policy
    await page.close()


async def test_live_list_shows_new_orders_without_reload(browser: Any, base_url: str,
                                                         app: Any) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await _login(page, base_url)
    async with app[SERVICES].db.session() as s:
        o = await db.orders.create(s, channel="voice", phone="+8613812345678",
                                   status="needs_review", actor="resident",
                                   transcript="嗯 那个 大米")
        oid = o.id
    await page.get_by_role("link", name=f"#{oid}", exact=True).wait_for(timeout=15000)
    for path in ("residents", "leaders", "catalog", "demand", "map", "try"):
        await page.goto(f"{base_url}/console/{path}")
        await _shot(page, path)
    await page.close()


async def test_phone_layout_and_english(browser: Any, base_url: str, app: Any) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    await _login(page, base_url)
    await page.get_by_role("link", name="English").click()
    await page.wait_for_url("**/console/orders")
    assert await page.get_by_role("heading", name="Orders").is_visible()
    # Nothing is wider than the phone's screen except inside scrolling tables.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400
    await _shot(page, "phone-orders")
    for path in ("entry", "map", "demand", "try"):
        await page.goto(f"{base_url}/console/{path}")
        await _shot(page, f"phone-{path}")
    # Keyboard only: the skip link comes first and leads to the content.
    await page.goto(f"{base_url}/console/leaders")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.close()


async def test_a_call_due_later_rings_on_the_try_page_by_itself(browser: Any, start: Any
                                                                 ) -> None:
    """The try-it page's phone in demo mode: a callback left unanswered is tried again a little
    later, and the page shows it ringing without a click (console.js reloads it when due)."""
    from tests.console.test_try_calls import WANG

    demo = await start(call_retry_minutes="0.05,0.05")  # the second try 3 s after the first
    status, _ = await demo.post("/console/try/ring-once", phone=WANG)
    assert status == 200
    await demo.ringing(kind="callback")
    base_url = str(demo.client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _login(page, base_url)
    await page.goto(f"{base_url}/console/try?phone=%2B8613800000001")
    panel = page.locator("section.ring-panel")
    await panel.get_by_text("正在响铃").wait_for()
    await panel.get_by_role("button", name="不接").click()
    await panel.get_by_text("共 3 次）").first.wait_for()  # 将在 … 打来（第 2 次，共 3 次）
    assert "将在" in await panel.inner_text()
    await panel.get_by_text("正在响铃").wait_for(timeout=20_000)  # no click: it rang by itself
    await _shot(page, "try-phone-retry")
    assert "第 2 次，共 3 次" in await panel.inner_text()
    assert errors == []
