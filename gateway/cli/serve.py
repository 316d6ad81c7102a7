"""`doorstep serve` and `doorstep demo`: the whole gateway in one process."""

from __future__ import annotations

import logging
import secrets
import socket
from typing import Any

import click

from gateway.cli.common import (
    cli_settings,
    database_label,
    migrate,
    run,
    with_db,
    write_demo_token,
)
from gateway.settings import Settings

DEMO_OPERATOR = "demo"
DEMO_LOCALES = ("zh-CN", "ko-KR")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says "listening"; a clear error if the
    address is taken or not ours."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        reason = "the port is in use (is another gateway running?)" \
            if getattr(exc, "errno", None) in (98, 48, 10048) else (exc.strerror or str(exc))
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None


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
    host = host or settings.host
    port = settings.port if port is None else port
    sock = bind(host, port)
    demo_warning = ""
    configured_token = settings.twilio_auth_token
    if demo:  # the try-it page works without a Twilio account (see Settings.for_demo)
        settings, demo_warning = settings.for_demo()
    configure(settings.log_level, json_format=settings.log_json,
              secrets=(settings.twilio_auth_token, settings.telegram_bot_token,
                       settings.api_token, settings.telegram_webhook_secret))
    if demo_warning:
        logging.getLogger(__name__).warning(demo_warning)
    try:
        if not no_migrate:
            migrate(settings)
        login = None
        if demo:
            login = _load_demo(settings)
            if settings.twilio_auth_token and settings.twilio_auth_token != configured_token:
                _write_token(settings)
        app = create_app(settings)
    except BaseException:
        sock.close()
        raise
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    click.echo(f"Doorstep listening on {base}  (database: {database_label(settings)})")
    if login:
        click.echo(f"Console: {base}/console  login: {login[0]}  password: {login[1]}")
        click.echo(f"Try it:  {base}/console/try  (residents text, simulated leaders answer)")
    click.echo("Press Ctrl+C to stop.")
    try:
        web.run_app(app, sock=sock, print=None, access_log=None)
    finally:
        sock.close()


def _write_token(settings: Settings) -> None:
    try:
        path = write_demo_token(settings, settings.twilio_auth_token or "")
    except OSError as exc:  # the demo still runs; only `doorstep simulate` needs the file
        click.echo(f"note: could not write the demo token for `doorstep simulate`: {exc}",
                   err=True)
        return
    click.echo(f"Demo Twilio token for `doorstep simulate`: {path} (owner-only)")


def _load_demo(settings: Settings) -> tuple[str, str] | None:
    """Demo data in both locales, leaders joined to simulated Telegram accounts (without a
    real bot), and a demo operator with a fresh password; returns that login."""
    from gateway.channels.console.passwords import hash_password
    from gateway.orders.demo import join_demo_leaders, load_demo_locales

    password = secrets.token_urlsafe(9)
    hashed = hash_password(password)
    others = [loc for loc in DEMO_LOCALES if loc != settings.default_locale]

    async def work(database: Any) -> dict[str, int]:
        import db.people

        counts = await load_demo_locales(database, settings.default_locale, others)
        from zoneinfo import ZoneInfo

        from gateway.orders.demo.runs import load_demo_fulfilment

        for locale in (settings.default_locale, *others):  # a run and a pickup point each
            async with database.session() as s:
                for key, n in (await load_demo_fulfilment(
                        s, locale, ZoneInfo(settings.console_timezone))).items():
                    counts[key] = counts.get(key, 0) + n
        counts["joined"] = 0
        if not settings.telegram_enabled:
            from gateway.channels.console.tryit import SIMULATED_TELEGRAM_BASE
            counts["joined"] = len(await join_demo_leaders(database, SIMULATED_TELEGRAM_BASE))
        async with database.session() as s:
            await db.people.add_operator(s, DEMO_OPERATOR, hashed)
        return counts

    counts = run(with_db, settings, work)
    click.echo(f"Demo data: {counts['products']} products, {counts['residents']} residents, "
               f"{counts['leaders']} leaders, {counts.get('runs', 0)} village run(s), "
               f"{counts.get('pickup_points', 0)} pickup point(s)")
    if not settings.telegram_enabled:
        click.echo("Leaders use simulated Telegram accounts: press their buttons on the try-it "
                   "page.")
    if not settings.api_token:
        click.echo("Tip: set DOORSTEP_API_TOKEN to use the JSON API.")
    return DEMO_OPERATOR, password


@click.command()
@click.option("--host", default=None, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port to listen on.")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Same as `serve --demo`: load demo data, then run the gateway."""
    ctx.invoke(serve, host=host, port=port, demo=True, no_migrate=False)
