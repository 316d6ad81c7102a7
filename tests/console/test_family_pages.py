"""Issue 20 on the console: a resident's page with how they are told (notify), their proxies
(add, update by the same phone, remove) and their standing orders (add from goods as the
resident would text them, pause, resume, stop). The real app and database, forms with CSRF."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

import db.people
import db.standing
from db.models import Proxy, Resident, StandingOrder
from gateway.orders.proxies import add_proxy
from gateway.orders.standing import Standing, when_of
from gateway.services import SERVICES
from tests.console.conftest import page_csrf
from tests.console.test_translated import english_strings, visible_text

WANG = "+8613800000001"  # 王奶奶, 鲁家村
LI = "+8613800000002"  # 李爷爷
SON = "+8613911112222"
KIM = "+821000000001"  # 김순자 (Korean demo)


async def resident_id(app: Any, phone: str) -> int:
    async with app[SERVICES].db.session() as s:
        return (await db.people.resident_by_phone(s, phone)).id


async def proxies_of(app: Any, phone: str) -> list[tuple[str, str, str, str]]:
    async with app[SERVICES].db.session() as s:
        rows = (await s.execute(select(Proxy).join(Resident, Resident.id == Proxy.resident_id)
                                .where(Resident.phone == phone).order_by(Proxy.id))).scalars()
        return [(p.phone, p.name, p.relation, p.notify) for p in rows]


async def standing_of(app: Any, phone: str) -> list[StandingOrder]:
    async with app[SERVICES].db.session() as s:
        return list(await db.standing.listing(s, resident_phone=phone))


async def son_and_standing(app: Any, phone: str = WANG) -> tuple[int, int]:
    """A proxy (王小明, who calls her 妈妈) and a standing order (大米2袋 every Tuesday) made
    through the domain, as the command line makes them."""
    services = app[SERVICES]
    async with services.db.session() as s:
        proxy, _ = await add_proxy(s, resident_phone=phone, phone=SON, name="王小明",
                                   relation="妈妈", created_by="test")
        resident = await db.people.resident_by_phone(s, phone)
        so = await Standing.of(services).create(
            s, resident=resident, items=[{"sku": "rice", "name": "大米", "quantity": 2,
                                          "unit": "袋"}], when=when_of("tue"), created_by="test")
        return proxy.id, so.id


async def post(client: Any, path: str, token: str, **data: str) -> Any:
    return await client.post(path, data={"csrf": token, **data}, allow_redirects=False)


async def test_the_page_shows_the_resident_proxies_and_standing_orders(client: Any,
                                                                       app: Any) -> None:
    await son_and_standing(app)
    rid = await resident_id(app, WANG)
    listing = await (await client.get("/console/residents")).text()
    assert f'<a href="/console/residents/{rid}">王奶奶</a>' in listing
    r = await client.get(f"/console/residents/{rid}")
    assert r.status == 200
    text = visible_text(await r.text())
    assert "王奶奶" in text and WANG in text and "鲁家村" in text
    assert "通知方式" in text and "短信和电话" in text
    assert "代订人（家属）" in text and "王小明" in text and SON in text and "妈妈" in text
    assert "定期订单" in text and "大米2袋" in text and "每周二" in text
    assert "进行中" in text and "无人答复时" in text and "跳过" in text
    assert "暂停" in text and "停止" in text and "居民本人" in text
    # another resident's page has none of hers
    other = visible_text(await (await client.get(
        f"/console/residents/{await resident_id(app, LI)}")).text())
    assert "李爷爷" in other and "王小明" not in other and "大米2袋" not in other
    assert "还没有代订人。" in other and "还没有定期订单。" in other


async def test_change_how_the_resident_is_told(client: Any, app: Any) -> None:
    rid = await resident_id(app, WANG)
    path = f"/console/residents/{rid}"
    token = await page_csrf(client, path)
    r = await post(client, f"{path}/notify", token, notify="call")
    assert r.status == 303 and r.headers["Location"] == f"{path}?done=notify"
    async with app[SERVICES].db.session() as s:
        assert (await db.people.resident_by_phone(s, WANG)).notify == "call"
    html = await (await client.get(r.headers["Location"])).text()
    assert "通知方式已保存。" in html and '<option value="call" selected>电话</option>' in html
    bad = await post(client, f"{path}/notify", token, notify="fax")
    assert bad.status == 400 and "请选择通知方式：短信、电话或短信和电话。" in await bad.text()
    async with app[SERVICES].db.session() as s:
        assert (await db.people.resident_by_phone(s, WANG)).notify == "call"


async def test_the_residents_choice_for_unanswered_weeks(client: Any, app: Any) -> None:
    """Saved with how they are told: it changes the standing orders they have, and is what the
    create form (and a standing order set by text) starts from."""
    rid = await resident_id(app, WANG)
    path = f"/console/residents/{rid}"
    token = await page_csrf(client, path)
    r = await post(client, f"{path}/standing", token, text="鸡蛋一板", every="fri", weeks="1",
                   unconfirmed="skip", proxy="")
    assert r.status == 303
    r = await post(client, f"{path}/notify", token, notify="sms",
                   standing_unconfirmed="confirm")
    assert r.status == 303
    async with app[SERVICES].db.session() as s:
        resident = await db.people.resident_by_phone(s, WANG)
        assert resident is not None and resident.standing_unconfirmed == "confirm"
    [so] = await standing_of(app, WANG)
    assert so.unconfirmed == "confirm"
    html = await (await client.get(path)).text()
    assert "定期订单无人答复时" in html
    form = html[html.index('id="s-unconfirmed"'):]
    assert form.index('<option value="confirm" selected>') < form.index("</select>")
    bad = await post(client, f"{path}/notify", token, notify="sms", standing_unconfirmed="maybe")
    assert bad.status == 400 and "请选择无人答复时跳过还是照常下单。" in await bad.text()


async def test_add_update_and_remove_a_proxy(client: Any, app: Any) -> None:
    rid = await resident_id(app, WANG)
    path = f"/console/residents/{rid}"
    token = await page_csrf(client, path)
    r = await post(client, f"{path}/proxies", token, phone="+86 139-1111-2222", name="王小明",
                   relation="妈妈", notify="both")
    assert r.status == 303 and r.headers["Location"] == f"{path}?done=proxy_added"
    assert await proxies_of(app, WANG) == [(SON, "王小明", "妈妈", "both")]
    text = visible_text(await (await client.get(r.headers["Location"])).text())
    assert "代订人已添加。" in text and "王小明" in text and SON in text

    # the same phone again updates the one row
    r = await post(client, f"{path}/proxies", token, phone=SON, name="王小明（儿子）",
                   relation="妈", notify="sms")
    assert r.headers["Location"] == f"{path}?done=proxy_updated"
    assert await proxies_of(app, WANG) == [(SON, "王小明（儿子）", "妈", "sms")]

    # invalid: a bad phone, no name, her own phone; nothing stored, the form keeps its values
    bad = await post(client, f"{path}/proxies", token, phone="12345", name="小红")
    html = await bad.text()
    assert bad.status == 400 and "号码格式不对，要写成 +8613800000000 这样。" in html
    assert 'name="name" value="小红"' in html
    bad = await post(client, f"{path}/proxies", token, phone="+8613922223333", name=" ")
    assert bad.status == 400 and "请写上代订人的姓名。" in await bad.text()
    bad = await post(client, f"{path}/proxies", token, phone=WANG, name="王奶奶")
    assert bad.status == 400 and "这是居民本人的号码，不能当代订人。" in await bad.text()
    assert len(await proxies_of(app, WANG)) == 1

    async with app[SERVICES].db.session() as s:
        [proxy_id] = [p.id for p in (await s.execute(select(Proxy))).scalars()]
    # not through another resident's page
    li_path = f"/console/residents/{await resident_id(app, LI)}"
    assert (await post(client, f"{li_path}/proxies/{proxy_id}/remove", token)).status == 404
    assert len(await proxies_of(app, WANG)) == 1
    r = await post(client, f"{path}/proxies/{proxy_id}/remove", token)
    assert r.headers["Location"] == f"{path}?done=proxy_removed"
    assert await proxies_of(app, WANG) == []
    assert "还没有代订人。" in await (await client.get(r.headers["Location"])).text()


async def test_create_a_standing_order_from_the_goods_as_texted(client: Any, app: Any) -> None:
    proxy_id, _ = await son_and_standing(app, LI)  # the son looks after 李爷爷, not her
    async with app[SERVICES].db.session() as s:
        her_son, _ = await add_proxy(s, resident_phone=WANG, phone=SON, name="王小明",
                                     relation="妈妈")
    rid = await resident_id(app, WANG)
    path = f"/console/residents/{rid}"
    token = await page_csrf(client, path)
    r = await post(client, f"{path}/standing", token, text="大米两袋，鸡蛋一板", every="tue",
                   weeks="2", unconfirmed="confirm", proxy=str(her_son.id))
    assert r.status == 303 and r.headers["Location"] == f"{path}?done=standing_added"
    [so] = await standing_of(app, WANG)
    assert [(i["sku"], i["quantity"], i["unit"]) for i in so.items] == [
        ("rice", "2", "袋"), ("eggs", "1", "板")]
    assert (so.weekday, so.every_weeks, so.on_runs) == (1, 2, False)
    assert (so.status, so.unconfirmed, so.proxy_id) == ("active", "confirm", her_son.id)
    assert so.text == "大米两袋，鸡蛋一板" and so.created_by == "operator:alice"
    assert so.start_date.weekday() == 1
    text = visible_text(await (await client.get(r.headers["Location"])).text())
    assert "定期订单已保存。" in text and "大米2袋、鸡蛋1板" in text
    assert "每 2 周的周二" in text and "照常下单" in text and so.start_date.isoformat() in text
    assert "王小明（妈妈）" in text

    r = await post(client, f"{path}/standing", token, text="大米一袋", every="run")
    assert r.status == 303
    on_runs = (await standing_of(app, WANG))[-1]
    assert (on_runs.on_runs, on_runs.weekday, on_runs.unconfirmed, on_runs.proxy_id) == (
        True, None, "skip", None)
    assert "每次流动超市来" in await (await client.get(path)).text()

    # not in the catalogue, a bad weekday, another resident's proxy: 400, nothing stored
    bad = await post(client, f"{path}/standing", token, text="飞机三架", every="tue")
    html = await bad.text()
    assert bad.status == 400 and "商品目录里没有：飞机。" in html
    assert 'name="text" value="飞机三架"' in html
    bad = await post(client, f"{path}/standing", token, text="大米一袋", every="someday")
    assert bad.status == 400 and "请选择星期几，或者每次流动超市来。" in await bad.text()
    bad = await post(client, f"{path}/standing", token, text="大米一袋", every="tue",
                     proxy=str(proxy_id))
    assert bad.status == 400 and "这个人不是这位居民的代订人。" in await bad.text()
    bad = await post(client, f"{path}/standing", token, text="大米一袋", every="tue",
                     weeks="9")
    assert bad.status == 400 and "间隔要在 1 到 8 周之间。" in await bad.text()
    assert len(await standing_of(app, WANG)) == 2


async def test_pause_resume_and_stop(client: Any, app: Any) -> None:
    _, so_id = await son_and_standing(app)
    path = f"/console/residents/{await resident_id(app, WANG)}"
    token = await page_csrf(client, path)

    async def status() -> str:
        [so] = await standing_of(app, WANG)
        return so.status

    r = await post(client, f"{path}/standing/{so_id}/pause", token)
    assert r.headers["Location"] == f"{path}?done=standing_pause" and await status() == "paused"
    text = visible_text(await (await client.get(r.headers["Location"])).text())
    assert "定期订单已暂停。" in text and "已暂停" in text and "恢复" in text
    r = await post(client, f"{path}/standing/{so_id}/pause", token)
    assert r.headers["Location"] == f"{path}?done=standing_already"
    r = await post(client, f"{path}/standing/{so_id}/resume", token)
    assert r.headers["Location"] == f"{path}?done=standing_resume" and await status() == "active"
    # not through another resident's page, nor an action that is not one
    li_path = f"/console/residents/{await resident_id(app, LI)}"
    assert (await post(client, f"{li_path}/standing/{so_id}/stop", token)).status == 404
    assert (await post(client, f"{path}/standing/{so_id}/delete", token)).status == 404
    assert await status() == "active"
    r = await post(client, f"{path}/standing/{so_id}/stop", token)
    assert r.headers["Location"] == f"{path}?done=standing_stop" and await status() == "stopped"
    html = await (await client.get(path)).text()
    assert "已停止" in visible_text(html) and f"/standing/{so_id}/resume" not in html
    bad = await post(client, f"{path}/standing/{so_id}/resume", token)
    assert bad.status == 400 and "这个定期订单已经停止，不能再恢复；请新建一个。" in await bad.text()
    assert await status() == "stopped"


async def test_unknown_resident_and_missing_csrf(client: Any, app: Any) -> None:
    rid = await resident_id(app, WANG)
    path = f"/console/residents/{rid}"
    token = await page_csrf(client, path)
    assert (await client.get("/console/residents/999999")).status == 404
    assert (await client.get("/console/residents/abc")).status == 404
    assert (await post(client, "/console/residents/999999/notify", token,
                       notify="call")).status == 404
    assert (await post(client, "/console/residents/999999/proxies", token, phone=SON,
                       name="王小明")).status == 404
    assert (await post(client, "/console/residents/999999/standing", token, text="大米一袋",
                       every="tue")).status == 404
    # without the CSRF token (or with a wrong one) nothing changes
    for data in ({}, {"csrf": "forged"}):
        r = await client.post(f"{path}/proxies", data={"phone": SON, "name": "王小明", **data},
                              allow_redirects=False)
        assert r.status == 403
        r = await client.post(f"{path}/notify", data={"notify": "call", **data},
                              allow_redirects=False)
        assert r.status == 403
        r = await client.post(f"{path}/standing", data={"text": "大米一袋", "every": "tue",
                                                         **data}, allow_redirects=False)
        assert r.status == 403
    assert await proxies_of(app, WANG) == [] and await standing_of(app, WANG) == []
    async with app[SERVICES].db.session() as s:
        assert (await db.people.resident_by_phone(s, WANG)).notify == "sms"


async def test_a_korean_residents_page_in_korean(client: Any, app: Any) -> None:
    from gateway.orders.demo import load_demo_locales

    await load_demo_locales(app[SERVICES].db, "zh-CN", ["ko-KR"])
    await client.get("/console/lang?to=ko-KR&next=/console/orders")
    path = f"/console/residents/{await resident_id(app, KIM)}"
    token = await page_csrf(client, path)
    r = await post(client, f"{path}/proxies", token, phone="+821099998888", name="이민호",
                   relation="엄마", notify="call")
    assert r.status == 303
    # the goods are read in the resident's language, as `standing add --text` reads them
    r = await post(client, f"{path}/standing", token, text="쌀 두 포대", every="tue")
    assert r.status == 303, await r.text()
    [so] = await standing_of(app, KIM)
    assert [(i["sku"], i["quantity"], i["unit"]) for i in so.items] == [("ko-rice", "2", "포대")]
    page = await (await client.get(r.headers["Location"])).text()
    text = visible_text(page)
    for said in ("정기 주문을 저장했습니다.", "김순자", "알림 방법", "문자", "대리 주문자(가족)",
                 "이민호", "엄마", "관계", "전화", "정기 주문", "매주 화요일", "진행 중",
                 "응답이 없을 때", "건너뛰기", "일시중지", "중지", "쌀2포대"):
        assert said in text, said
    assert not [w for w in ("通知方式", "代订人", "定期订单", "暂停", "每周二") if w in text]
    assert not sorted(w for w in english_strings() if w in text)
    bad = await post(client, f"{path}/proxies", token, phone="0101234", name="박")
    assert bad.status == 400 and "번호 형식이 틀렸습니다." in await bad.text()
    r = await post(client, f"{path}/standing/{so.id}/pause", token)
    assert "정기 주문을 일시중지했습니다." in await (await client.get(r.headers["Location"])).text()
