"""Notifications to residents on order events, queued in the outbox in the same transaction.

How each person is told follows their `notify` (the resident's, and each proxy's own): `sms`
texts, `both` texts and calls, `call` calls with the text held back for when nobody hears the
call (gateway.notify.calls). Only the key steps are spoken: taken by a leader, bought and on
the way, delivered, unassigned too long, goods out of stock and back in stock, and what a run
or a pickup point means for the order (gateway.orders.fulfilment tells those through `tell`);
other steps are texts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import db.outbox
import db.proxies
from db.models import Order, OrderEvent, Proxy
from gateway.notify.calls import Calls
from gateway.orders.proxies import copy_to_proxies, label
from gateway.templates import Templates

# Order statuses whose text is also a spoken notice (for `call` and `both`).
SPOKEN = frozenset({"accepted", "purchased", "delivered", "unassigned"})
FIRST_CONFIRMATION_FROM = (None, "draft", "needs_review")


class ResidentSms:
    """Queues an SMS to the resident for each status that has a template `sms/event_<status>.j2`.
    Statuses in `delayed` are not texted on the event itself: the dispatcher texts them when the
    order is still in that status after a while (`send`). With `calls`, the key steps are also
    (or only) short calls, per each person's `notify`."""

    def __init__(self, templates: Templates, delayed: Iterable[str] = (),
                 calls: Calls | None = None) -> None:
        self.templates = templates
        self.delayed = frozenset(delayed)
        self.calls = calls

    async def on_event(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        if event.to_status not in self.delayed:
            await self.send(session, order, event)
        if self._calling() and not _opted_out(order):
            await self._spoken_only(session, order, event)

    def _calling(self) -> bool:
        return self.calls is not None and self.calls.can_call

    async def send(self, session: AsyncSession, order: Order, event: OrderEvent) -> bool:
        """Queue the text about `event` (once per event), or its call for a resident who takes
        calls only; False if there is none to send."""
        if order.fulfil_kind in ("run", "pickup") and event.to_status in (
                "assigned", "accepted", "confirmed", "unassigned"):
            return False  # gateway.orders.fulfilment texts these in its own words
        name = f"sms/event_{event.to_status}.j2"
        if event.from_status is None and event.to_status == "confirmed" \
                and order.channel == "console":
            # Taken by phone by an operator: the resident has no written confirmation yet
            # (texts and calls confirm in their own dialogue, so they get none here).
            name = "sms/event_entered.j2"
        if not (self.templates.exists(order.locale, name) or self.templates.exists("zh-CN", name)):
            return False
        if _opted_out(order):
            return False
        body = self.templates.render(order.locale, name, order=order, event=event,
                                     resident=order.resident, leader=order.leader)
        return await self.tell(session, order, body.strip(),
                               key=db.outbox.event_sms_key(order.id, event.id),
                               spoken=event.to_status if event.to_status in SPOKEN else None,
                               payload={"order_id": order.id, "event_id": event.id})

    async def tell(self, session: AsyncSession, order: Order, body: str, *, key: str,
                   spoken: str | None = None, payload: dict[str, Any] | None = None,
                   **ctx: Any) -> bool:
        """Tell the order's number (and the resident's proxies) `body`, once per `key`: a text,
        or for a key step (`spoken`: the notice's kind, see voice/notice_says.xml.j2) a short
        call as well or instead, per each person's `notify`. False when already told (or the
        resident opted out)."""
        if _opted_out(order):
            return False
        spoken = spoken if self._calling() else None
        notify = _notify_of(order)
        if spoken and notify == "call":
            queued = await self._notice(session, order, spoken, order.phone, key, hold=body,
                                        **ctx)
        else:
            queued = await db.outbox.enqueue(
                session, channel="sms", recipient=order.phone, body=body, idempotency_key=key,
                payload=payload or {"order_id": order.id})
            if queued and spoken and notify == "both":
                await self._notice(session, order, spoken, order.phone, key, hold=None, **ctx)
        if queued:  # family members and carers are told too
            others = await _proxies(session, order)
            await copy_to_proxies(session, order, body, key=key, templates=self.templates,
                                  proxies=others)
            if spoken:
                await self._proxy_notices(session, order, spoken, key, body=body,
                                          proxies=others, **ctx)
        return queued

    # -- spoken notices ------------------------------------------------------------------------

    def _say(self, order: Order, kind: str, who: str = "", **ctx: Any) -> str:
        assert self.calls is not None
        return self.calls.say(order.locale, kind, order=order, resident=order.resident,
                              leader=order.leader, who=who, **ctx)

    async def _notice(self, session: AsyncSession, order: Order, kind: str, phone: str,
                      key: str, *, hold: str | None, who: str = "", **ctx: Any) -> bool:
        assert self.calls is not None
        return await self.calls.notice(session, order=order, kind=kind, phone=phone,
                                       text=self._say(order, kind, who, **ctx), text_key=key,
                                       hold=hold)

    async def _proxy_notices(self, session: AsyncSession, order: Order, kind: str, key: str,
                             *, body: str | None, proxies: list[Proxy] | None = None,
                             **ctx: Any) -> None:
        """The notice to each proxy who takes calls; one who takes calls only has the text
        held for them (`body`: the resident's text, marked with whom it is about; None: the
        spoken sentence itself)."""
        for p in proxies if proxies is not None else await _proxies(session, order):
            if p.notify not in ("call", "both"):
                continue
            who = label(p)
            hold = None
            if p.notify == "call":
                hold = self.templates.render(order.locale, "sms/proxy_copy.j2", who=who,
                                             body=body).strip() if body is not None \
                    else self._say(order, kind, who, **ctx)
            await self._notice(session, order, kind, p.phone, f"{key}:p{p.id}", hold=hold,
                               who=who, **ctx)

    async def _spoken_only(self, session: AsyncSession, order: Order, event: OrderEvent) -> None:
        """Goods out of stock at confirmation, spoken: the resident's own text or call named
        them; an order taken for them (by an operator, a proxy, a standing order) did not."""
        if event.to_status != "confirmed" or event.from_status not in FIRST_CONFIRMATION_FROM:
            return
        waiting = [it for it in order.items if it.backorder == "waiting"]
        if not waiting or (order.channel in ("sms", "voice") and order.proxy_id is None):
            return
        key = f"order:{order.id}:short:sms"
        notify = _notify_of(order)
        if notify in ("call", "both"):
            text = self._say(order, "short", items=waiting)
            await self._notice(session, order, "short", order.phone, key, items=waiting,
                               hold=text if notify == "call" else None)
        await self._proxy_notices(session, order, "short", key, body=None, items=waiting)


def _opted_out(order: Order) -> bool:
    return order.resident is not None and order.resident.opted_out


def _notify_of(order: Order) -> str:
    """How the order's own number is told: the resident's preference when it is theirs."""
    r = order.resident
    return r.notify if r is not None and r.phone == order.phone and r.notify else "sms"


async def _proxies(session: AsyncSession, order: Order) -> list[Proxy]:
    if order.resident_id is None:
        return []
    return [p for p in await db.proxies.of_resident(session, order.resident_id)
            if p.phone != order.phone]

