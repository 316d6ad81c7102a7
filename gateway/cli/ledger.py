"""`doorstep ledger`: a leader's cash received, handed over and balance; an operator records a
hand-over with --handover."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from gateway.cli.common import cli_settings, migrate, run, with_db


@click.command("ledger")
@click.option("--leader", "phone", default=None, metavar="PHONE",
              help="The leader's phone number: their entries. Without it: every leader's "
              "balance.")
@click.option("--handover", default=None, metavar="AMOUNT",
              help="Record that the leader handed over AMOUNT in cash (needs --leader).")
@click.option("--note", default="", help="A note on the hand-over.")
@click.option("--by", "actor", default="cli", show_default=True,
              help="Who records the hand-over.")
def ledger(phone: str | None, handover: str | None, note: str, actor: str) -> None:
    """Cash on delivery per leader: received, handed over to the co-operative, balance."""
    from zoneinfo import ZoneInfo

    import db.ledger
    import db.people
    from gateway.orders.ledger import LedgerError, parse_amount, record_handover

    settings = cli_settings()
    tz = ZoneInfo(settings.console_timezone)
    amount: Decimal | None = None
    if handover is not None:
        if phone is None:
            raise click.UsageError("--handover needs --leader")
        try:
            amount = parse_amount(handover)
        except LedgerError as exc:
            raise click.BadParameter(str(exc), param_hint="--handover") from None
        migrate(settings)

    async def work(database: Any) -> Any:
        async with database.session() as s:
            if phone is None:
                return None, await db.ledger.balances(s)
            leader = await db.people.leader_by_phone(s, phone)
            if leader is None:
                raise click.ClickException(f"no leader with the phone number {phone}")
            if amount is not None:
                try:
                    await record_handover(s, leader.id, amount, actor=actor, note=note)
                except LedgerError as exc:
                    raise click.BadParameter(str(exc), param_hint="--handover") from None
            return leader, [b for b in await db.ledger.balances(s) if b.leader_id == leader.id]

    leader, balances = run(with_db, settings, work)
    if leader is None:
        if not balances:
            click.echo("no cash recorded yet")
        for b in balances:
            click.echo(f"{b.name}\t{b.phone}\treceived {b.received}\thanded over "
                       f"{b.handed_over}\tbalance {b.balance}")
        return
    entries = run(with_db, settings, lambda d: _entries(d, leader.id))
    click.echo(f"{leader.name} {leader.phone}")
    for e in entries:
        at = e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        order = f"order {e.order_id}" if e.order_id else ""
        click.echo(f"{at}\t{e.kind}\t{e.amount}\t{order}\t{e.reason}\t{e.actor}")
    b = balances[0] if balances else None
    zero = Decimal("0.00")
    click.echo(f"received {b.received if b else zero}, handed over "
               f"{b.handed_over if b else zero}, balance {b.balance if b else zero}")


async def _entries(database: Any, leader_id: int) -> list[Any]:
    import db.ledger

    async with database.session() as s:
        return list(await db.ledger.entries(s, leader_id))
