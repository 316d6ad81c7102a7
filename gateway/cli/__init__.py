"""The `doorstep` command: one module per command group, gathered here.

Commands import what they need when they run, so `doorstep --help` and `doorstep parse
--catalog FILE` start without the web server, aiogram or the database.
"""

from __future__ import annotations

import logging

import click

from gateway.channels.twilio.simulate_call import call as simulate_call
from gateway.channels.twilio.simulate_sms import sms as simulate_sms
from gateway.cli import catalog, database, parse, people, serve, voice
from gateway.cli import ledger, runs, standing, stock, supply


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Doorstep: grocery orders by phone call or SMS, delivered by volunteer team leaders."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


@click.group()
def simulate() -> None:
    """Play a resident against a running gateway, exactly as Twilio would."""


simulate.add_command(simulate_sms)
simulate.add_command(simulate_call)

for command in (serve.serve, serve.demo, database.db_group, catalog.catalog, people.residents,
                people.leaders, people.operators, parse.parse, simulate, voice.voice):
    main.add_command(command)
for command in (supply.suppliers, supply.purchasing, ledger.ledger, stock.stock, stock.outlets,
                stock.support, runs.runs, runs.pickup, standing.standing):
    main.add_command(command)
people.residents.add_command(stock.residents_support)
people.residents.add_command(stock.residents_unsupport)


if __name__ == "__main__":
    main()
