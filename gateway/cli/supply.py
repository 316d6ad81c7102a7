"""`doorstep suppliers` and `doorstep purchasing`: who the co-operative buys from, and what to
buy from each for the confirmed orders of a day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from gateway.cli.common import cli_settings, migrate, run, with_db


def cli_timezone(settings: Any) -> ZoneInfo:
    """The co-operative's time zone (DOORSTEP_TIMEZONE) for days on the command line."""
    return ZoneInfo(settings.console_timezone)


def parse_date(value: str | None, tz: ZoneInfo) -> date:
    """YYYY-MM-DD, or today in the co-operative's time zone when not given."""
    if not value:
        return datetime.now(UTC).astimezone(tz).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-12-03") from None


@click.group("suppliers")
def suppliers() -> None:
    """Who the co-operative buys from (supermarkets, rice mill, oil company, wholesalers)."""


@suppliers.command("add")
@click.option("--name", required=True, help="The supplier's name, as in the catalogue's "
              "supplier column.")
@click.option("--phone", default="", help="A contact number.")
@click.option("--note", default="", help="Anything worth knowing (opening hours, contact).")
def suppliers_add(name: str, phone: str, note: str) -> None:
    """Add a supplier, or update its phone and note."""
    import db.supply

    if not name.strip():
        raise click.BadParameter("the name is empty", param_hint="--name")
    settings = cli_settings()
    migrate(settings)

    async def work(database: Any) -> bool:
        async with database.session() as s:
            _, created = await db.supply.save_supplier(s, name, phone=phone, note=note)
            return created

    created = run(with_db, settings, work)
    click.echo(f"{'added' if created else 'updated'} supplier {name.strip()}")


@suppliers.command("list")
def suppliers_list() -> None:
    """List suppliers with how many products each supplies."""
    import db.supply

    settings = cli_settings()

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return [(sup.name, sup.phone, n) for sup, n in await db.supply.list_suppliers(s)]

    for name, phone, n in run(with_db, settings, work):
        click.echo(f"{name}\t{phone}\t{n} products")


@click.command("purchasing")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD",
              help="The day the orders were placed (the co-operative's time zone); today if "
              "not given.")
@click.option("--days", default=1, show_default=True, type=click.IntRange(1, 31),
              help="How many days from --date (a run over several days).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table",
              show_default=True)
def purchasing(day: str | None, days: int, fmt: str) -> None:
    """What to buy from each supplier for confirmed orders not yet bought."""
    from gateway.orders.supply import purchasing_sheet, sheet_csv
    from gateway.templates import qty

    settings = cli_settings()
    tz = cli_timezone(settings)
    start = parse_date(day, tz)

    async def work(database: Any) -> Any:
        async with database.session() as s:
            return await purchasing_sheet(s, start, tz, days)

    sheet = run(with_db, settings, work)
    if fmt == "csv":
        click.echo(sheet_csv(sheet), nl=False)
        return
    if not sheet.groups:
        click.echo(f"nothing to buy for orders of {start.isoformat()} ({days} day(s))")
        return
    click.echo(f"purchasing for {start.isoformat()} ({days} day(s)), "
               f"{sheet.households} households")
    for supplier, lines in sheet.groups:
        click.echo(f"\n[{supplier or '(no supplier)'}]")
        for line in lines:
            click.echo(f"  {line.sku}\t{line.name}\t{qty(line.quantity)} {line.unit}\t"
                       f"{line.households} households\t{'|'.join(line.villages)}")
