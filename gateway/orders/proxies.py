"""Family members and carers (proxies) who order for residents by SMS.

A proxy texts an order for the resident they look after. Which resident:
- the text names them by the relation the proxy uses, or by name, at its start:
  zh-CN `给妈妈订：大米一袋`, `帮外婆买 鸡蛋一板`, `替爸爸点：…` (给|帮|替 + who + 订|买|点|下单);
  ko-KR `엄마 주문: 쌀 한 포대`, `어머니께 주문 계란 한 판`, `할머니한테 시켜 줘: …`
  (who + 께|에게|한테 optional + 주문|시켜);
- else, for a number that is not a resident itself: the one resident it looks after, or the
  resident already chosen in the draft under way, or a menu (`1 妈妈 2 外婆`) answered with
  the number.
A number that is a resident orders for itself unless it names someone. The order belongs to
the resident (their phone, their record) with `proxy_id` set; replies go to the proxy.
Pure functions here; the SMS adapter does the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from db.models import Proxy

_ZH = re.compile(r"^\s*(?:给|帮|替)(?P<who>[^\s：:，,。]{1,8}?)(?:订|买|点|下单)(?:一下)?"
                 r"[\s：:，,。]*(?P<rest>.*)$", re.DOTALL)
_KO = re.compile(r"^\s*(?P<who>[^\s:：,]{1,8}?)\s*(?:께서|께|에게|한테)?\s*(?:주문|시켜)"
                 r"(?:해\s*줘요?|해\s*주세요|줘요?|주세요)?[\s:：,.]*(?P<rest>.*)$", re.DOTALL)
CHOICE = re.compile(r"^\s*([1-9])\s*$")


@dataclass(frozen=True)
class Named:
    who: str
    rest: str


def named(text: str) -> Named | None:
    """The person a text is for, when it starts by naming them, and the rest of it."""
    for rx in (_ZH, _KO):
        m = rx.match(text)
        if m and m.group("rest").strip():
            return Named(m.group("who").strip(), m.group("rest").strip())
    return None


def match(proxies: Sequence[Proxy], who: str) -> Proxy | None:
    """The proxy row whose relation (or whose resident's name) is `who`."""
    w = who.strip()
    for p in proxies:
        if p.relation and p.relation == w:
            return p
    for p in proxies:
        if p.resident is not None and p.resident.name == w:
            return p
    return None


def choice(text: str, options: Sequence[int]) -> int | None:
    """The resident id a menu answer (`1`, `2`…) picks, if it is one."""
    m = CHOICE.match(text)
    if not m:
        return None
    n = int(m.group(1))
    return options[n - 1] if 1 <= n <= len(options) else None


def label(p: Proxy) -> str:
    """How the menu names a resident for this proxy: the relation, else the name."""
    return p.relation or (p.resident.name if p.resident is not None else "")


async def copy_to_proxies(session: Any, order: Any, body: str, *, key: str,
                          templates: Any) -> int:
    """The resident's text about their order, also to each of their proxies who take texts
    (the one who ordered it and any other), marked with whom it is about; one outbox row each
    under `key:p<proxy id>`. Returns how many were queued."""
    import db.outbox
    import db.proxies

    if order.resident_id is None:
        return 0
    sent = 0
    for p in await db.proxies.of_resident(session, order.resident_id):
        if p.notify not in ("sms", "both") or p.phone == order.phone:
            continue
        text = templates.render(order.locale, "sms/proxy_copy.j2", who=label(p), body=body)
        sent += bool(await db.outbox.enqueue(
            session, channel="sms", recipient=p.phone, body=text.strip(),
            idempotency_key=f"{key}:p{p.id}", payload={"order_id": order.id, "proxy": p.id}))
    return sent
