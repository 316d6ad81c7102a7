"""`doorstep serve` and `doorstep demo`: the whole gateway in one process."""

from __future__ import annotations

import logging

import click

from gateway.cli.common import cli_settings, migrate, run, with_db
from gateway.settings import Settings


@click.command()
@click.option("--host", default=None, help="Address to listen on (default DOORSTEP_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (default DOORSTEP_PORT).")
@click.option("--demo", is_flag=True, help="Load the demo catalogue, residents and leaders first.")
@click.option("--no-migrate", is_flag=True, help="Do not run database migrations at start.")
def serve(host: str | None, port: int | None, demo: bool, no_migrate: bool) -> None:
    """Run the whole gateway in one process (web, Twilio, Telegram, console, workers)."""
    from aiohttp import web

    from gateway.app import create_app
    from gateway.observe.logs import configure

    settings = cli_settings()
    demo_warning = ""
    if demo:  # the try-it page works without a Twilio account (see Settings.for_demo)
        settings, demo_warning = settings.for_demo()
    configure(settings.log_level, json_format=settings.log_json,
              secrets=(settings.twilio_auth_token, settings.telegram_bot_token,
                       settings.api_token, settings.telegram_webhook_secret))
    if demo_warning:
        logging.getLogger(__name__).warning(demo_warning)
    if not no_migrate:
        migrate(settings)
    if demo:
        _load_demo(settings)
    app = create_app(settings)
    host = host or settings.host
    port = settings.port if port is None else port
    click.echo(f"Doorstep listening on http://{host}:{port}  (database: "
               f"{settings.database_url.split('@')[-1]})")
    web.run_app(app, host=host, port=port, print=None, access_log=None)


def _load_demo(settings: Settings) -> None:
    from gateway.orders.demo import load_demo

    counts = run(with_db, settings, lambda d: load_demo(d, settings.default_locale))
    click.echo(f"Demo data: {counts['products']} products, {counts['residents']} residents, "
               f"{counts['leaders']} leaders")
    if not settings.api_token:
        click.echo("Tip: set DOORSTEP_API_TOKEN to use the JSON API.")


@click.command()
@click.option("--host", default=None, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port to listen on.")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Same as `serve --demo`: load demo data, then run the gateway."""
    ctx.invoke(serve, host=host, port=port, demo=True, no_migrate=False)
