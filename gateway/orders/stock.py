"""Stock: products out of stock everywhere or in one village, back-orders, and their release.

An operator (CLI, console) marks a product out (`mark_out`) or back in (`mark_in`); every mark
is a row, never an edit. When an order is confirmed, its lines out of stock in the resident's
village become back-orders (`AtConfirmation`): they stay on the order, marked "waiting", are
not bought or delivered with it and not charged. The read-back told the resident beforehand,
who could drop them; a line never disappears silently.

When a product comes back, its waiting lines are released (`mark_in`): an order that had
nothing else (still unrouted) gets them back in place and is routed; otherwise they go out on a
follow-up order. A conditional update claims each line, so two gateways, or `stock in` twice,
never fulfil a line twice. The resident is texted either way.
"""

from __future__ import annotations

import logging

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

import db.catalog
import db.orders
import db.outbox
import db.stock
from db.models import Order, OrderEvent, OrderItem, utcnow
from gateway.orders.events import announce_created
from gateway.orders.recheck import Rechecked

SENT, WAITING = "sent", "waiting"
# An order's first confirmation: stock and support are decided then, not when a leader
# declines and the dispatcher confirms it again.
log = logging.getLogger(__name__)

FIRST_CONFIRMATION_FROM = (None, "draft", "needs_review")


class StockError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Outs:
    """What is out of stock now: (sku, village) pairs, village "" meaning everywhere."""

    marks: frozenset[tuple[str, str]] = frozenset()

    def out_for(self, village: str | None) -> frozenset[str]:
        return frozenset(sku for sku, v in self.marks if v == "" or v == (village or ""))

    def villages_of(self, sku: str) -> list[str]:
        return sorted(v for s, v in self.marks if s == sku)

    def __bool__(self) -> bool:
        return bool(self.marks)


async def outs(session: AsyncSession) -> Outs:
    return Outs(frozenset((c.sku, c.village) for c in await db.stock.latest_changes(session)
                          if c.kind == "out"))


async def _product(session: AsyncSession, sku: str) -> Any:
    product = await db.catalog.get_by_sku(session, sku)
    if product is None:
        raise StockError("unknown_sku", f"no product {sku!r} in the catalogue")
    return product


async def mark_out(session: AsyncSession, sku: str, *, village: str = "", actor: str,
                   reason: str = "") -> bool:
    """Mark `sku` out of stock in `village` ("" everywhere); False if it was already."""
    await _product(session, sku)
    village = village.strip()
    if (sku, village) in (await outs(session)).marks:
        return False
    await db.stock.add_change(session, sku=sku, village=village, kind="out", actor=actor,
                              reason=reason)
    return True


@dataclass
class Restock:
    marked: list[str] = field(default_factory=list)  # villages marked back in ("" everywhere)
    released: list[int] = field(default_factory=list)  # orders whose lines came back in place
    follow_ups: list[int] = field(default_factory=list)  # follow-up orders made

    @property
    def routed(self) -> bool:
        return bool(self.released or self.follow_ups)


async def mark_in(session: AsyncSession, sku: str, *, village: str = "", actor: str,
                  listeners: Sequence[Any] = (), templates: Any = None,
                  reason: str = "") -> Restock:
    """`sku` is back in `village`, or everywhere ("", which also ends every village's mark);
    releases the back-orders that can be fulfilled now."""
    await _product(session, sku)
    village = village.strip()
    now_out = await outs(session)
    ends = [v for v in now_out.villages_of(sku) if village == "" or v == village]
    result = Restock()
    for v in ends:
        await db.stock.add_change(session, sku=sku, village=v, kind="in", actor=actor,
                                  reason=reason)
        result.marked.append(v)
    await release(session, sku, actor=actor, listeners=listeners, templates=templates,
                  result=result)
    return result


async def release(session: AsyncSession, sku: str, *, actor: str, listeners: Sequence[Any] = (),
                  templates: Any = None, result: Restock | None = None) -> Restock:
    """Fulfil the waiting lines of `sku` whose village has it now."""
    result = result or Restock()
    now_out = await outs(session)
    by_order: dict[int, list[OrderItem]] = defaultdict(list)
    for item, village in await db.stock.waiting_items(session, sku):
        if sku not in now_out.out_for(village):
            by_order[item.order_id].append(item)
    for order_id, items in by_order.items():
        order = await db.orders.get(session, order_id)
        if order is None:
            continue
        ids = [it.id for it in items]
        others = [it for it in order.items if it.id not in ids]
        if order.status == "confirmed" and all(it.backorder == WAITING for it in others):
            claimed = await db.stock.claim_items(session, ids, None)
            if not claimed:
                continue
            await session.refresh(order, ["items"])
            await db.orders.add_event(session, order, order.status, actor=actor,
                                      reason=f"back-order restocked: {_names(order.items, claimed)}")
            result.released.append(order.id)
            await _tell(session, templates, order, order, claimed, listeners)
            continue
        claimed = await db.stock.claim_items(session, ids, SENT)
        if not claimed:
            continue
        lines = [it for it in order.items if it.id in claimed]
        follow = await db.orders.create(
            session, channel=order.channel, phone=order.phone, status="confirmed", actor=actor,
            items=[{"sku": it.sku, "name": it.name, "quantity": it.quantity, "unit": it.unit,
                    "source_text": it.source_text} for it in lines],
            locale=order.locale, resident_id=order.resident_id,
            note=order.note, reason=f"back-order of order {order.id} restocked")
        follow.supported = order.supported
        for it in lines:
            it.backorder_order_id = follow.id
        await announce_created(session, follow, [x for x in listeners
                                                 if not _is_resident_sms(x)])
        result.follow_ups.append(follow.id)
        await _tell(session, templates, order, follow, claimed, listeners)
    return result


def _is_resident_sms(listener: Any) -> bool:
    # The follow-up's own "confirmed" text would repeat what `_tell` says.
    return type(listener).__name__ == "ResidentSms"


def _names(items: Iterable[OrderItem], ids: Iterable[int]) -> str:
    wanted = set(ids)
    return "、".join(it.name for it in items if it.id in wanted)


async def _tell(session: AsyncSession, templates: Any, original: Order, order: Order,
                claimed: Sequence[int], listeners: Sequence[Any] = ()) -> None:
    """Tell the resident (and their proxies) that the back-ordered goods are on their way:
    through the resident notifier among `listeners` (a spoken notice for those who take calls),
    else as a text."""
    if templates is None or (original.resident is not None and original.resident.opted_out):
        return
    items = [it for it in original.items if it.id in set(claimed)]
    body = templates.render(order.locale, "sms/restocked.j2", order=order, original=original,
                            items=items, follow_up=order.id != original.id).strip()
    key = f"restocked:{original.id}:{min(claimed)}"
    teller = next((x for x in listeners if _is_resident_sms(x)), None)
    if teller is None:  # none among the listeners (the command line): texts only
        from gateway.notify.residents import ResidentSms

        teller = ResidentSms(templates)
    await teller.tell(session, order, body, key=key, spoken="restocked", items=items,
                      payload={"order_id": order.id})


def dispatchable(order: Order) -> bool:
    """Something on the order to buy and deliver now (not every line back-ordered)."""
    return not order.items or any(it.backorder is None for it in order.items)


class AtConfirmation:
    """Order listener, at an order's first confirmation: its lines out of stock in the
    resident's village become back-orders (noted as an event), and a supported household's
    order is marked so nothing is collected."""

    def __init__(self, tz: ZoneInfo | None = None) -> None:
        self.tz = tz or ZoneInfo("Asia/Shanghai")

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        if event.to_status != "confirmed" or event.from_status not in FIRST_CONFIRMATION_FROM:
            return
        from gateway.orders.support import supported_on

        if order.resident_id is not None and await supported_on(
                session, order.resident_id, self.today()):
            order.supported = True
        current = await outs(session)
        if not current:
            return
        village = order.resident.village if order.resident is not None else ""
        short = current.out_for(village)
        lines = [it for it in order.items if it.sku in short and it.backorder is None]
        if not lines:
            return
        for it in lines:
            it.backorder = WAITING
        await session.flush()
        await db.orders.add_event(session, order, order.status, actor="system",
                                  reason="back-ordered (out of stock): "
                                         + "、".join(it.name for it in lines))

    def today(self) -> date:
        return utcnow().astimezone(self.tz).date()


class StockCache(Rechecked[Outs]):
    """What is out of stock, for read-backs: re-read at most every `recheck_seconds` (so a mark
    made by another gateway shows within that), at once after a mark made here; `read` gives
    None when the database cannot say (a read-back then goes without naming what is short;
    confirmation checks again)."""

    what = "what is out of stock"

    async def load(self, session: AsyncSession) -> Outs:
        return await outs(session)
