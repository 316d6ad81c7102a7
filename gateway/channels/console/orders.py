"""Console pages for orders: the live list, one order, its recordings, and the operator's actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

import db.catalog
import db.console
import db.orders
import db.people
import db.tasks
from db.models import CHANNELS, ORDER_STATUSES, Order
from gateway.channels.console import actions
from gateway.channels.console.auth import current
from gateway.channels.console.forms import FormError, day_bounds, item_rows, optional_int, parse_day, text
from gateway.channels.console.render import render, render_fragment, t_for, tz_of
from gateway.orders import lifecycle
from gateway.services import services_of

FILTERS = ("status", "village", "leader", "channel", "day")
PAGE = 100


def _filter(request: web.Request) -> tuple[db.console.OrderFilter, dict[str, str]]:
    q = request.query
    chosen = {k: q.get(k, "").strip() for k in FILTERS}
    status = chosen["status"] if chosen["status"] in ORDER_STATUSES or \
        chosen["status"] == "open" else ""
    chosen["status"] = status
    if status == "open":
        status = ",".join(s for s in ORDER_STATUSES if s not in lifecycle.FINAL)
    channel = chosen["channel"] if chosen["channel"] in CHANNELS else ""
    chosen["channel"] = channel
    day = parse_day(chosen["day"])
    chosen["day"] = day.isoformat() if day else ""
    since = until = None
    if day is not None:
        since, until = day_bounds(day, tz_of(request))
    return db.console.OrderFilter(
        status=status or None, village=chosen["village"] or None,
        leader_id=optional_int(chosen["leader"]), channel=channel or None,
        since=since, until=until), chosen


async def orders_page(request: web.Request) -> web.Response:
    f, chosen = _filter(request)
    page = max(optional_int(request.query.get("page")) or 1, 1)
    async with services_of(request).db.session() as s:
        rows, total = await db.console.list_orders(s, f, limit=PAGE, offset=(page - 1) * PAGE)
        version = await db.console.latest_change(s)
        villages = await db.console.villages(s)
        leaders = await db.people.list_leaders(s)
        return render(request, "orders.html", orders=rows, total=total, chosen=chosen,
                      statuses=ORDER_STATUSES, channels=CHANNELS, villages=villages,
                      leaders=leaders, version=version, page=page,
                      pages=max((total + PAGE - 1) // PAGE, 1),
                      query=urlencode({k: v for k, v in chosen.items() if v}))


async def orders_rows(request: web.Request) -> web.Response:
    """The list's rows as an HTML fragment for the polling script; 204 when nothing changed."""
    f, _ = _filter(request)
    async with services_of(request).db.session() as s:
        version = await db.console.latest_change(s)
        if request.query.get("version") == version:
            return web.Response(status=204, headers={"X-Orders-Version": version})
        page = max(optional_int(request.query.get("page")) or 1, 1)
        rows, total = await db.console.list_orders(s, f, limit=PAGE, offset=(page - 1) * PAGE)
        html = render_fragment(request, "_order_rows.html", orders=rows)
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers={"X-Orders-Version": version, "X-Orders-Total": str(total)})


async def _load(s: AsyncSession, request: web.Request, *, for_update: bool = False) -> Order:
    order_id = optional_int(request.match_info["id"])
    order = await db.orders.get(s, order_id, for_update=for_update) if order_id else None
    if order is None:
        raise web.HTTPNotFound(text="no such order")
    return order


async def order_page(request: web.Request, *, error: str = "", status: int = 200,
                     form: Any = None) -> web.Response:
    async with services_of(request).db.session() as s:
        order = await _load(s, request)
        products = await db.catalog.list_products(s, active_only=True)
        leaders = await db.people.list_leaders(s)
        tasks = await db.tasks.tasks_of_order(s, order.id)
        load = await db.tasks.open_task_counts(s)
        leader_names = {ld.id: ld.name for ld in leaders}
        return render(
            request, "order.html", status=status, order=order, products=products,
            leaders=leaders, load=load, tasks=tasks, leader_names=leader_names,
            error=error, done=request.query.get("done", ""),
            recordings=[r for r in order.recordings if r.deleted_at is None],
            can_confirm=order.status in ("needs_review", "draft"),
            can_correct=order.status in actions.CORRECTABLE,
            can_reassign=order.status not in lifecycle.FINAL
            and order.status not in ("draft", "needs_review"),
            can_cancel=order.status not in lifecycle.FINAL)


Action = Callable[[AsyncSession, Order, Any, Any], Awaitable[str]]


async def _act(request: web.Request, work: Action) -> web.Response:
    """Run one action in a transaction; errors re-render the order page with the reason."""
    services = services_of(request)
    form = await request.post()
    t = t_for(request)
    try:
        async with services.db.session() as s:
            order = await _load(s, request, for_update=True)
            done = await work(s, order, form, current(request).actor)
    except FormError as exc:
        return await order_page(request, error=t(exc.key, **exc.params), status=400)
    except lifecycle.IllegalTransition as exc:
        return await order_page(request, error=t("error.illegal", detail=str(exc)), status=409)
    if done in ("confirmed", "reassigned"):
        services.wake_dispatcher()
    raise web.HTTPSeeOther(f"/console/orders/{request.match_info['id']}?done={done}")


async def correct(request: web.Request) -> web.Response:
    listeners = services_of(request).listeners

    async def work(s: AsyncSession, order: Order, form: Any, actor: str) -> str:
        products = await db.catalog.list_products(s)
        await actions.correct_items(s, order, item_rows(form, products), actor=actor,
                                    reason=text(form, "reason"))
        if text(form, "and_confirm") == "1" and order.status in ("needs_review", "draft"):
            await actions.confirm(s, order, actor=actor, listeners=listeners)
            return "confirmed"
        return "corrected"
    return await _act(request, work)


async def confirm(request: web.Request) -> web.Response:
    listeners = services_of(request).listeners

    async def work(s: AsyncSession, order: Order, form: Any, actor: str) -> str:
        await actions.confirm(s, order, actor=actor, reason=text(form, "reason"),
                              listeners=listeners)
        return "confirmed"
    return await _act(request, work)


def _card_withdrawn(dispatcher: Any) -> Any:
    """Hide a withdrawn task's card in the leader's chat, through the dispatcher's messages."""
    messages = getattr(dispatcher, "messages", None)
    if messages is None or not hasattr(messages, "update_card"):
        return None

    async def withdrawn(s: AsyncSession, task: Any, order: Order) -> None:
        leader = await db.console.leader(s, task.leader_id)
        if leader is not None:
            await messages.update_card(s, leader, task, order, "withdrawn", hidden=True,
                                       key=f"task:{task.id}:withdrawn:console")
    return withdrawn


async def reassign(request: web.Request) -> web.Response:
    services = services_of(request)
    dispatcher = services.dispatcher

    async def work(s: AsyncSession, order: Order, form: Any, actor: str) -> str:
        leader_id = optional_int(text(form, "leader"))
        leader = await db.console.leader(s, leader_id) if leader_id else None
        if leader_id and leader is None:
            raise FormError("error.unknown_leader")
        await actions.reassign(s, order, leader, actor=actor, reason=text(form, "reason"),
                               accept_minutes=services.settings.accept_timeout_minutes,
                               listeners=services.listeners,
                               dispatcher_offers=dispatcher is not None,
                               on_withdrawn=_card_withdrawn(dispatcher))
        return "reassigned"
    return await _act(request, work)


async def cancel(request: web.Request) -> web.Response:
    services = services_of(request)

    async def work(s: AsyncSession, order: Order, form: Any, actor: str) -> str:
        await actions.cancel(s, order, actor=actor, reason=text(form, "reason"),
                             listeners=services.listeners,
                             dispatcher_offers=services.dispatcher is not None)
        return "cancelled"
    return await _act(request, work)


async def recording(request: web.Request) -> web.StreamResponse:
    """A recording's audio, only from inside the recordings folder (Range requests work)."""
    settings = services_of(request).settings
    rec_id = optional_int(request.match_info["id"])
    async with services_of(request).db.session() as s:
        rec = await db.console.recording(s, rec_id) if rec_id else None
    if rec is None or rec.deleted_at is not None:
        raise web.HTTPNotFound(text="no such recording")
    root = settings.recordings_dir.resolve()
    path = settings.recording_file(rec.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(text="the recording file is gone")
    return web.FileResponse(path, headers={"Content-Type": rec.content_type or "audio/wav"})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/orders", orders_page)
    r.add_get("/console/orders/rows", orders_rows)
    r.add_get("/console/orders/{id}", order_page)
    r.add_post("/console/orders/{id}/items", correct)
    r.add_post("/console/orders/{id}/confirm", confirm)
    r.add_post("/console/orders/{id}/reassign", reassign)
    r.add_post("/console/orders/{id}/cancel", cancel)
    r.add_get("/console/recordings/{id}", recording)
