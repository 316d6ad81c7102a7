"""Every console page, in Chinese and in Korean, says nothing in English: no English UI
string, no stored reason or actor as stored, no translation key, no locale code."""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any

import db.orders
import db.outbox
import db.people
import db.runs
from db.models import Leader
from gateway.orders import reasons
from gateway.orders.events import change_status
from gateway.services import SERVICES
from gateway.templates import strings, templates_dir

PAGES = ("/console/orders", "/console/entry", "/console/residents", "/console/leaders",
         "/console/catalog", "/console/demand", "/console/map", "/console/try",
         "/console/purchasing", "/console/ledger", "/console/stock", "/console/shortages",
         "/console/support", "/console/runs", "/console/pickup")
# English that may stay: names of things people type or configure, not sentences.
ALLOWED = {"Telegram", "CSV", "WAV", "PCM", "MB", "UTF-8", "TWILIO_AUTH_TOKEN",
           "DOORSTEP_PUBLIC_URL", "English", "TwiML"}


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    page = re.sub(r"<[^>]+>", " ", page)
    return htmllib.unescape(page)


def test_every_string_is_translated() -> None:
    base = templates_dir() / "console/i18n"
    for en_file in [base / "en.json", *sorted(base.glob("*/en.json"))]:
        keys = set(json.loads(en_file.read_text(encoding="utf-8")))
        for lang in ("zh-CN", "ko-KR"):
            other = en_file.with_name(f"{lang}.json")
            assert other.is_file(), other
            missing = keys - set(json.loads(other.read_text(encoding="utf-8")))
            assert not missing, (other, sorted(missing))


def english_strings() -> set[str]:
    en = strings("en")
    words = {v.split("{")[0].strip() for v in en.values()}
    words |= {f.split("{")[0].strip() for f in reasons.FORMS.values()}
    return {w for w in words if len(w) >= 6 and w not in ALLOWED and re.search("[a-z]{3}", w)}


async def _history(app: Any) -> list[int]:
    """Orders with the events the gateway writes: routed, declined, unassigned, by hand."""
    services = app[SERVICES]
    ids = []
    async with services.db.session() as s:
        residents = list(await db.people.list_residents(s))
        leaders = list(await db.people.list_leaders(s))
        ld: Leader = leaders[0]
        for r, steps in ((residents[0], ("assigned", "accepted", "purchased")),
                         (residents[1], ("unassigned",))):
            o = await db.orders.create(s, channel="sms", phone=r.phone, status="draft",
                                       actor="resident:sms", resident_id=r.id,
                                       items=[{"sku": "rice", "name": "大米", "quantity": 2,
                                               "unit": "袋"}])
            await change_status(s, o, "confirmed", actor="resident:sms",
                                reason=reasons.reason("confirmed_sms"))
            for to in steps:
                o.leader_id = ld.id if to != "unassigned" else None
                why = {"assigned": reasons.reason("offered", leader=ld.id, km="0.2")
                       + " (" + reasons.reason("confirmed") + ")",
                       "unassigned": reasons.reason("not_joined", leader=ld.id, km="1.5")
                       + " (" + reasons.reason("declined", leader=ld.id) + ")"}.get(to, "")
                await change_status(s, o, to, actor="dispatcher" if to in (
                    "assigned", "unassigned") else f"leader:{ld.id}", reason=why)
            await db.outbox.enqueue(s, channel="sms", recipient=r.phone, body="订单已下单",
                                    idempotency_key=f"t:{o.id}")
            ids.append(o.id)
    return ids


async def _run_history(app: Any) -> int:
    """The demo's run and pickup point, and an order on the run that was not home."""
    from zoneinfo import ZoneInfo

    from gateway.orders.demo.runs import load_demo_fulfilment
    from gateway.orders.fulfilment import Fulfilment

    services = app[SERVICES]
    async with services.db.session() as s:
        await load_demo_fulfilment(s, "zh-CN", ZoneInfo("Asia/Shanghai"))
        runs = await db.runs.runs_between(s)
        run = runs[-1]
        r = await db.people.resident_by_phone(s, "+8613800000006")
        o = await db.orders.create(s, channel="sms", phone=r.phone, status="draft",
                                   actor="resident:sms", resident_id=r.id,
                                   items=[{"sku": "rice", "name": "大米", "quantity": 1,
                                           "unit": "袋"}])
        await change_status(s, o, "confirmed", actor="resident:sms")
        f = Fulfilment.of(services)
        await f.put_on_run(s, o, run, run.stops[0] if run.stops else None, o.created_at)
        await f.not_home(s, o.id, leader_id=None, actor="operator:alice", why="敲门没人")
        return run.id


async def _family(app: Any) -> int:
    """A resident with a proxy and a standing order (issue 20); returns the resident's id."""
    from gateway.orders.proxies import add_proxy
    from gateway.orders.standing import Standing, when_of

    services = app[SERVICES]
    async with services.db.session() as s:
        r = await db.people.resident_by_phone(s, "+8613800000001")
        proxy, _ = await add_proxy(s, resident_phone=r.phone, phone="+8613911112222",
                                   name="王小明", relation="妈妈", notify="both")
        await Standing.of(services).create(
            s, resident=r, items=[{"sku": "rice", "name": "大米", "quantity": 2, "unit": "袋"}],
            when=when_of("tue", 2), proxy=proxy, unconfirmed="confirm", created_by="cli")
        return r.id


async def test_no_english_in_the_chinese_or_korean_console(client: Any, app: Any) -> None:
    ids = await _history(app)
    run_id = await _run_history(app)
    family_id = await _family(app)
    english = english_strings()
    async with app[SERVICES].db.session() as s:
        phone = (await db.people.list_residents(s))[0].phone
    pages = (*PAGES, *(f"/console/orders/{i}" for i in ids), f"/console/try?phone={phone}",
             f"/console/runs/{run_id}", f"/console/orders/{run_id and ids[-1] + 1}",
             f"/console/residents/{family_id}")
    keys = strings("en")
    for lang in ("zh-CN", "ko-KR"):
        await client.get(f"/console/lang?to={lang}&next=/console/orders")
        for path in pages:
            r = await client.get(path)
            assert r.status == 200, path
            text = visible_text(await r.text())
            found = sorted(w for w in english if w in text)
            assert not found, (lang, path, found)
            for raw in ("resident:sms", "dispatcher", "leader:", "(rice)", "zh-CN", "ko-KR",
                        "pending"):
                assert raw not in text, (lang, path, raw)
            shown_keys = [k for k in keys if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w.])",
                                                       text)]
            assert not shown_keys, (lang, path, shown_keys)


async def test_no_english_on_the_try_pages_phone(demo_database: Any, make_settings: Any,
                                                 make_app: Any, make_client: Any) -> None:
    """The try-it page's phone in demo mode (simulated calls): a callback under way, a spoken
    notice ringing with its text held back, another waiting for its next try."""
    import asyncio

    from sqlalchemy import select

    from db.models import VoiceCall
    from gateway.notify.calls import Calls
    from tests.console.conftest import add_operator, login, page_csrf

    phone = "+8613800000001"
    settings, _ = make_settings(public_url="http://127.0.0.1:8080",
                                console_secret="test-console-secret", twilio_auth_token=None,
                                twilio_account_sid=None).for_demo()
    await add_operator(demo_database)
    app = make_app(settings, workers=True)
    services = app[SERVICES]
    client = await make_client(app)
    await login(client)
    async with services.db.session() as s:
        resident = await db.people.resident_by_phone(s, phone)
        for n in (1, 2):
            o = await db.orders.create(s, channel="sms", phone=phone, status="accepted",
                                       actor="test", resident_id=resident.id,
                                       items=[{"sku": "rice", "name": "大米", "quantity": 1,
                                               "unit": "袋"}])
            await Calls.of(services).notice(s, order=o, kind="accepted", phone=phone,
                                            text=f"订单{o.id}号已经接单。", text_key=f"t:{n}",
                                            hold=f"订单{o.id}号已经接单。")
    services.outbox.wake()
    token = await page_csrf(client, "/console/try")
    await client.post("/console/try/ring-once", data={"csrf": token, "phone": phone})
    for _ in range(200):  # all three ring
        async with services.db.session() as s:
            calls = list((await s.execute(select(VoiceCall).order_by(VoiceCall.id))).scalars())
        if len(calls) == 3 and all(c.call_sid for c in calls):
            break
        await asyncio.sleep(0.02)
    first, _second, callback = calls
    for vc_id, do in ((callback.id, "answer"), (first.id, "missed")):
        r = await client.post("/console/try/ring", data={"csrf": token, "phone": phone,
                                                         "call": str(vc_id), "do": do})
        assert r.status == 200, await r.text()
    english = english_strings()
    keys = strings("en")
    for lang in ("zh-CN", "ko-KR"):
        await client.get(f"/console/lang?to={lang}&next=/console/orders")
        page = await (await client.get("/console/try", params={"phone": phone})).text()
        assert 'class="ring-panel"' in page and 'name="do" value="keys"' in page
        assert page.count('name="do" value="heard"') == 1  # the notice that rings
        text = visible_text(page)
        found = sorted(w for w in english if w in text)
        assert not found, (lang, found)
        for raw in ("pending", "calling", "callback", "notice", "no-answer", "in_call"):
            assert raw not in text, (lang, raw)
        shown = [k for k in keys if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w.])", text)]
        assert not shown, (lang, shown)
