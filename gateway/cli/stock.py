"""`doorstep stock`, `doorstep outlets`, `doorstep support` and `doorstep residents
support|unsupport`: what is out of stock, the outlets that report shortages, and supported
households with their monthly tally."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from gateway.cli.common import cli_settings, session_work
from gateway.cli.supply import cli_timezone, parse_date


@click.group("stock")
def stock() -> None:
    """Goods out of stock, everywhere or in one village; residents are told in read-backs."""


@stock.command("out")
@click.argument("sku")
@click.option("--village", default="", help="Only in this village (default: everywhere).")
@click.option("--reason", default="", help="Why, for the history.")
def stock_out(sku: str, village: str, reason: str) -> None:
    """Mark SKU out of stock: read-backs say so and confirmed orders keep it as a back-order."""
    from gateway.orders.stock import StockError, mark_out

    async def work(s: Any, settings: Any) -> bool:
        return await mark_out(s, sku, village=village, actor="cli", reason=reason)

    try:
        changed = session_work(work)
    except StockError as exc:
        raise click.ClickException(str(exc)) from None
    where = village.strip() or "everywhere"
    click.echo(f"{sku} out of stock {'in ' + where if village.strip() else where}"
               + ("" if changed else " (already)"))


@stock.command("in")
@click.argument("sku")
@click.option("--village", default="", help="Only in this village (default: everywhere, "
              "which also ends every village's mark).")
def stock_in(sku: str, village: str) -> None:
    """Mark SKU back in stock; its back-orders go out (the running gateway routes them)."""
    from gateway.notify.residents import ResidentSms
    from gateway.orders.pricing import PriceSnapshot
    from gateway.orders.stock import StockError, mark_in
    from gateway.templates import Templates

    async def work(s: Any, settings: Any) -> Any:
        templates = Templates()
        # The follow-up orders' prices are kept as at any confirmation; the running gateway's
        # dispatcher routes them (it looks for confirmed orders by itself).
        return await mark_in(s, sku, village=village, actor="cli",
                             listeners=[PriceSnapshot(), ResidentSms(templates)],
                             templates=templates)

    try:
        done = session_work(work)
    except StockError as exc:
        raise click.ClickException(str(exc)) from None
    if not done.marked:
        click.echo(f"{sku} was not marked out of stock{' in ' + village if village else ''}")
    else:
        places = ", ".join(v or "everywhere" for v in done.marked)
        click.echo(f"{sku} back in stock: {places}")
    click.echo(f"back-orders: {len(done.released)} released onto their orders, "
               f"{len(done.follow_ups)} follow-up orders"
               + (f" ({', '.join(map(str, done.follow_ups))})" if done.follow_ups else ""))


@stock.command("list")
def stock_list() -> None:
    """What is out of stock now, and where."""
    import db.stock

    async def work(s: Any, settings: Any) -> list[Any]:
        return [c for c in await db.stock.latest_changes(s) if c.kind == "out"]

    rows = session_work(work)
    if not rows:
        click.echo("nothing is out of stock")
        return
    tz = cli_timezone(cli_settings())
    click.echo(f"{'sku':<20} {'where':<16} {'since':<16} by")
    for c in rows:
        click.echo(f"{c.sku:<20} {c.village or 'everywhere':<16} "
                   f"{c.at.astimezone(tz):%Y-%m-%d %H:%M} {c.actor}")


@click.group("outlets")
def outlets() -> None:
    """Outlets (village service stations, co-op shops) whose staff report shortages."""


@outlets.command("add")
@click.option("--name", required=True)
@click.option("--village", required=True)
@click.option("--lat", type=click.FloatRange(-90, 90), default=None)
@click.option("--lon", type=click.FloatRange(-180, 180), default=None)
def outlets_add(name: str, village: str, lat: float | None, lon: float | None) -> None:
    """Add an outlet (or update by name); the last line is the staff's Telegram invite link."""
    import db.stock
    from gateway.orders.people import invite_link

    if not name.strip() or not village.strip():
        raise click.BadParameter("name and village must not be empty")

    async def work(s: Any, settings: Any) -> tuple[Any, bool, str]:
        outlet, created = await db.stock.add_outlet(s, name=name.strip(),
                                                    village=village.strip(), lat=lat, lon=lon)
        return outlet, created, invite_link(settings.telegram_bot_username, outlet.invite_code)

    outlet, created, link = session_work(work)
    click.echo(f"{'added' if created else 'updated'} outlet {outlet.name} ({outlet.village})")
    click.echo(link)


@outlets.command("list")
def outlets_list() -> None:
    """Outlets with their village and how many staff joined on Telegram."""
    import db.stock

    async def work(s: Any, settings: Any) -> list[tuple[Any, int]]:
        staff = await db.stock.staff_counts(s)
        return [(o, staff.get(o.id, 0)) for o in await db.stock.outlets(s)]

    rows = session_work(work)
    if not rows:
        click.echo("no outlets yet: doorstep outlets add --name N --village V")
    for o, staff in rows:
        click.echo(f"{o.name}\t{o.village}\tstaff on Telegram: {staff}")


@click.group("support")
def support() -> None:
    """Supported households (特困/低保): their orders are free; the cost is tallied by month."""


@support.command("tally")
@click.option("--month", default=None, help="YYYY-MM (default: this month).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table")
def support_tally(month: str | None, fmt: str) -> None:
    """The month's delivered orders of supported households and what they cost."""
    from gateway.orders.pricing import money
    from gateway.orders.support import SupportError, parse_month, tally, tally_csv

    async def work(s: Any, settings: Any) -> Any:
        tz = cli_timezone(settings)
        first = parse_month(month) if month else parse_date(None, tz).replace(day=1)
        return await tally(s, first, tz)

    try:
        result = session_work(work)
    except SupportError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "csv":
        click.echo(tally_csv(result), nl=False)
        return
    for r in result.rows:
        click.echo(f"{r.day}  #{r.order_id:<6} {r.name:<8} {r.village:<10} "
                   f"{money(r.amount) or '(no price)'}")
    click.echo(f"{result.month}: {len(result.rows)} orders, {result.households} households, "
               f"total {money(result.total) or '0'}"
               + (f" ({result.unpriced} without a price)" if result.unpriced else ""))


@click.command("support")
@click.option("--phone", required=True)
@click.option("--by", "approved_by", required=True, help="Who approved it.")
@click.option("--until", default=None, help="YYYY-MM-DD, the last day (default: no end).")
@click.option("--category", default="", help="e.g. 特困, 低保 (not shown to leaders).")
@click.option("--reason", default="", help="Why (not shown to leaders).")
def residents_support(phone: str, approved_by: str, until: str | None, category: str,
                      reason: str) -> None:
    """Mark a resident as a supported household: nothing is collected for their orders."""
    from gateway.orders.support import SupportError, grant

    async def work(s: Any, settings: Any) -> Any:
        tz = cli_timezone(settings)
        end = date.fromisoformat(until) if until else None
        return await grant(s, phone.strip(), approved_by=approved_by, until=end,
                           category=category, reason=reason, actor="cli",
                           today=parse_date(None, tz))

    try:
        session_work(work)
    except (SupportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{phone.strip()} is a supported household"
               + (f" until {until}" if until else "") + f" (approved by {approved_by})")


@click.command("unsupport")
@click.option("--phone", required=True)
@click.option("--reason", default="")
def residents_unsupport(phone: str, reason: str) -> None:
    """End a resident's support: their next orders are paid again."""
    from gateway.orders.support import SupportError, revoke

    async def work(s: Any, settings: Any) -> Any:
        return await revoke(s, phone.strip(), actor="cli", reason=reason)

    try:
        session_work(work)
    except SupportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{phone.strip()} is no longer a supported household")
