"""Family members and carers (proxies) who order for residents by SMS.

A proxy texts an order for the resident they look after. Which resident:
- the text names them by the relation the proxy uses, or by name, at its start:
  zh-CN `给妈妈订：大米一袋`, `帮外婆买 鸡蛋一板`, `替爸爸点：…`, `给我妈送：…`
  (给|帮|替 + 我/我的 optional + who + 订|买|点|下单|送);
  ko-KR `엄마 주문: 쌀 한 포대`, `어머니께 주문 계란 한 판`, `할머니한테 시켜 줘: …`,
  `우리 엄마 거 주문: …`, `엄마한테 보내 주세요: …` (우리 optional + who + 께|에게|한테|네|거|꺼
  optional + 주문|시켜|보내, + 줘/주세요/해 주세요… optional);
- else, for a number that is not a resident itself: the one resident it looks after, or the
  resident already chosen in the draft under way, or a menu (`1 妈妈 2 外婆`) answered with
  the number.
A number that is a resident orders for itself unless it names someone. The order belongs to
the resident (their phone, their record) with `proxy_id` set; replies go to the proxy.
Pure functions first; the SMS adapter does the I/O. Operators (CLI, console) and leaders
(Telegram /newresident) add proxies with `add_proxy` and list them with `list_proxies`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import db.people
import db.proxies
from db.models import NOTIFY_KINDS, Proxy, Resident
from gateway.orders.people import PeopleError, normalize_phone

_ZH = re.compile(r"^\s*(?:给|帮|替)\s*(?:我的?)?(?P<who>[^\s：:，,。]{1,8}?)\s*"
                 r"(?:订|买|点|下单|送)(?:一下|点)?[\s：:，,。]*(?P<rest>.*)$", re.DOTALL)
_KO = re.compile(r"^\s*(?:우리\s*)?(?P<who>[^\s:：,]{1,8}?)\s*(?:께서|께|에게|한테|네|\s거|\s것|꺼)?"
                 r"\s*(?:주문|시켜|보내)(?:\s*(?:해\s*줘요?|해\s*주세요|줘요?|주세요|드려요?|"
                 r"해요|할게요))?[\s:：,.]*(?P<rest>.*)$", re.DOTALL)
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
        if p.relation and (w == p.relation or p.relation == w * 2):  # 妈 for 妈妈
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
                          templates: Any, proxies: Sequence[Proxy] | None = None) -> int:
    """The resident's text about their order, also to each of their proxies who take texts
    (the one who ordered it and any other), marked with whom it is about; one outbox row each
    under `key:p<proxy id>`. Returns how many were queued."""
    import db.outbox

    if order.resident_id is None:
        return 0
    if proxies is None:  # (the caller may have them already)
        proxies = await db.proxies.of_resident(session, order.resident_id)
    sent = 0
    for p in proxies:
        if p.notify not in ("sms", "both") or p.phone == order.phone:
            continue
        text = templates.render(order.locale, "sms/proxy_copy.j2", who=label(p), body=body)
        sent += bool(await db.outbox.enqueue(
            session, channel="sms", recipient=p.phone, body=text.strip(),
            idempotency_key=f"{key}:p{p.id}", payload={"order_id": order.id, "proxy": p.id}))
    return sent


class ProxyError(ValueError):
    """A proxy that cannot be added; the message says why (English, for the command line),
    `code` lets a page or a bot say it in its own language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def add_proxy(session: AsyncSession, *, resident_phone: str, phone: str, name: str,
                    relation: str = "", notify: str = "sms", created_by: str = ""
                    ) -> tuple[Proxy, bool]:
    """(proxy, created): `phone` may order for the resident with `resident_phone` and is told
    about their orders; the same pair again updates name, relation and notify. `relation` is
    what the proxy calls the resident (妈妈, 외할머니)."""
    try:
        resident_number, number = normalize_phone(resident_phone), normalize_phone(phone)
    except PeopleError as exc:
        raise ProxyError("bad_phone", str(exc)) from None
    resident = await db.people.resident_by_phone(session, resident_number)
    if resident is None:
        raise ProxyError("no_resident", f"no resident with phone {resident_phone}")
    if number == resident.phone:
        raise ProxyError("same_phone", "a resident does not order for themselves as a proxy")
    if not name.strip():
        raise ProxyError("no_name", "the proxy needs a name")
    if notify not in NOTIFY_KINDS:
        raise ProxyError("bad_notify", f"notify must be one of {', '.join(NOTIFY_KINDS)}")
    row, created = await db.proxies.add(session, resident=resident, phone=number,
                                        name=name.strip()[:100], relation=relation.strip()[:32],
                                        notify=notify, created_by=created_by[:100])
    row.resident = resident  # loaded: callers read it without I/O
    return row, created


async def list_proxies(session: AsyncSession, resident_phone: str = "") -> list[Proxy]:
    """Every proxy (with its resident loaded), by resident; only one resident's with
    `resident_phone`."""
    q = select(Proxy).join(Resident, Resident.id == Proxy.resident_id) \
        .order_by(Resident.phone, Proxy.id)
    if resident_phone:
        q = q.where(Resident.phone == normalize_phone(resident_phone))
    return list((await session.execute(q)).scalars().all())


async def remove_proxy(session: AsyncSession, proxy_id: int) -> bool:
    return await db.proxies.remove(session, proxy_id)
