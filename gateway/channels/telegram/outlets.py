"""Outlet staff's router (网点: a village service station, a co-op shop): joining with the
outlet's invite link, and the daily shortage report.

`/short 鸡蛋` reports that eggs run short at the staff's outlet, `/restock 鸡蛋` that they came
back (ko-KR staff write `/short 계란` the same way). Without a product, or with one that is not
in the catalogue, the answer offers buttons of the catalogue's products (the closest names first).
Reports are only added, never edited; operators see them per outlet and day on the console and
decide what to mark out of stock (`gateway.orders.stock`).

Only staff and outlet invite codes are handled here; everything else falls through to the
leaders' router.
"""

from __future__ import annotations

import difflib
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

import db.catalog
import db.stock
from db.models import SHORTAGE_KINDS, Outlet, OutletStaff, Product
from gateway.channels.telegram.messages import Buttons, TelegramMessages
from gateway.channels.telegram.middleware import Reply
from gateway.language.locales import in_locale_script

BUTTONS_PER_ROW = 3
MAX_BUTTONS = 24


class ReportPress(CallbackData, prefix="r"):
    """A product button under a shortage prompt: `r:<short|restock>:<product id>`."""

    kind: str
    product_id: int


async def is_staff(event: TelegramObject, session: AsyncSession) -> dict[str, Any] | bool:
    """Filter: the sender is an outlet's staff member (gives handlers `staff` and `outlet`)."""
    user = getattr(event, "from_user", None)
    if user is None:
        return False
    staff = await db.stock.staff_by_user(session, user.id)
    if staff is None:
        return False
    outlet = await session.get(Outlet, staff.outlet_id)
    return {"staff": staff, "outlet": outlet} if outlet is not None else False


async def outlet_code(message: Message, command: CommandObject,
                      session: AsyncSession) -> dict[str, Any] | bool:
    """Filter: `/start <code>` with an outlet's invite code."""
    code = (command.args or "").strip()
    if not code.startswith("o"):
        return False
    outlet = await db.stock.outlet_by_code(session, code)
    return {"outlet": outlet} if outlet is not None else False


async def not_leader(event: TelegramObject, leader: Any = None) -> bool:
    """Filter: the sender is not also a team leader (whose commands the leaders' router has)."""
    return leader is None


async def not_an_invite(message: Message) -> bool:
    """Filter: not `/start <code>` (a staff member may be given a leader's invite too)."""
    parts = (message.text or "").split(maxsplit=1)
    return not (parts and parts[0].split("@")[0] == "/start" and len(parts) > 1)


def locale_of_products(products: list[Product], locale: str) -> list[Product]:
    """The products named in the staff's script (the demo catalogue holds both locales)."""
    own = [p for p in products if in_locale_script(locale, p.name)]
    return own or products


def resolve(products: list[Product], text: str) -> tuple[Product | None, list[Product]]:
    """(the product named by `text`, by name or alias; else None and the closest names)."""
    wanted = text.strip().lower()
    for p in products:
        if wanted in [p.name.lower(), p.sku.lower(), *(str(a).lower() for a in p.aliases)]:
            return p, []
    names: dict[str, Product] = {}
    for p in products:
        for n in (p.name, *map(str, p.aliases)):
            names.setdefault(n.lower(), p)
    close = difflib.get_close_matches(wanted, list(names), n=MAX_BUTTONS, cutoff=0.3)
    # Also a name that holds the text or is held by it (鸡蛋 for 土鸡蛋, 蛋 for 鸡蛋).
    close += [n for n in names if n not in close and wanted and (wanted in n or n in wanted)]
    seen: list[Product] = []
    for n in close:
        if names[n] not in seen:
            seen.append(names[n])
    return None, seen


def product_buttons(products: list[Product], kind: str) -> Buttons:
    cells = [(p.name, ReportPress(kind=kind, product_id=p.id).pack())
             for p in products[:MAX_BUTTONS]]
    return [cells[i:i + BUTTONS_PER_ROW] for i in range(0, len(cells), BUTTONS_PER_ROW)]


async def _active(session: AsyncSession, locale: str) -> list[Product]:
    return locale_of_products(list(await db.catalog.list_products(session, active_only=True)),
                              locale)


async def record(session: AsyncSession, staff: OutletStaff, outlet: Outlet, product: Product,
                 kind: str) -> None:
    await db.stock.add_report(session, outlet_id=outlet.id, sku=product.sku, kind=kind,
                              actor=f"outlet:{outlet.id}:{staff.telegram_user_id}")


async def join(message: Message, session: AsyncSession, outlet: Outlet, reply: Reply) -> None:
    assert message.from_user is not None
    user = message.from_user
    staff = await db.stock.staff_by_user(session, user.id)
    locale = await db.stock.village_locale(session, outlet.village) or reply.locale
    name = " ".join(p for p in (user.first_name, user.last_name) if p)[:100]
    if staff is None:
        staff = OutletStaff(outlet_id=outlet.id, telegram_user_id=user.id,
                            chat_id=message.chat.id, name=name, locale=locale)
        session.add(staff)
    else:  # joined another outlet before: staff of one outlet at a time
        staff.outlet_id, staff.chat_id, staff.locale = outlet.id, message.chat.id, locale
    await session.flush()
    reply.locale = locale
    await reply("outlet_joined", outlet=outlet)


async def report(message: Message, command: CommandObject, session: AsyncSession,
                 staff: OutletStaff, outlet: Outlet, reply: Reply,
                 messages: TelegramMessages) -> None:
    kind = "short" if command.command.lower() == "short" else "restock"
    reply.locale = staff.locale
    products = await _active(session, staff.locale)
    wanted = (command.args or "").strip()
    product, close = resolve(products, wanted) if wanted else (None, products)
    if product is not None:
        await record(session, staff, outlet, product, kind)
        await reply("outlet_reported", kind=kind, outlet=outlet, product=product)
        return
    text = messages.text(staff.locale, "outlet_choose", kind=kind, wanted=wanted,
                         known=bool(close))
    await messages.queue(session, message.chat.id, text,
                         key=f"tg:update:{reply.update_id}:choose",
                         buttons=product_buttons(close or products, kind))


async def pressed(query: CallbackQuery, callback_data: ReportPress, session: AsyncSession,
                  staff: OutletStaff, outlet: Outlet, messages: TelegramMessages,
                  reply: Reply) -> None:
    reply.locale = staff.locale
    product = await session.get(Product, callback_data.product_id)
    if product is None or callback_data.kind not in SHORTAGE_KINDS:
        await reply("outlet_unknown")
    else:
        await record(session, staff, outlet, product, callback_data.kind)
        await reply("outlet_reported", kind=callback_data.kind, outlet=outlet, product=product)
    try:
        await query.answer()
    except Exception:  # noqa: BLE001, S110 - the report is saved; the spinner stops by itself
        pass


async def help_(message: Message, staff: OutletStaff, outlet: Outlet, reply: Reply) -> None:
    reply.locale = staff.locale
    await reply("outlet_help", outlet=outlet)


def router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several apps)."""
    r = Router(name="outlets")
    r.message.filter(F.chat.type == "private")
    r.message.register(join, CommandStart(), outlet_code)
    r.message.register(report, Command("short", "restock"), is_staff)
    r.callback_query.register(pressed, ReportPress.filter(), is_staff)
    r.message.register(help_, Command("help", "start"), is_staff, not_leader, not_an_invite)
    r.message.register(help_, F.text, is_staff, not_leader, not_an_invite)
    return r
