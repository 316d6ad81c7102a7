"""The `doorstep` command: serve, migrate, import data, parse, simulate, manage voice models."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import click

from gateway.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _run(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    return asyncio.run(fn(*args))


async def _with_db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from db.session import Database

    database = Database(settings.database_url)
    try:
        return await work(database)
    finally:
        await database.dispose()


def _migrate(settings: Settings) -> None:
    from db.migrate import upgrade

    upgrade(settings.database_url)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Doorstep: grocery orders by phone call or SMS, delivered by volunteer team leaders."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


# --- serve ---------------------------------------------------------------------------------

@main.command()
@click.option("--host", default=None, help="Address to listen on (default DOORSTEP_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (default DOORSTEP_PORT).")
@click.option("--demo", is_flag=True, help="Load the demo catalogue, residents and leaders first.")
@click.option("--no-migrate", is_flag=True, help="Do not run database migrations at start.")
def serve(host: str | None, port: int | None, demo: bool, no_migrate: bool) -> None:
    """Run the whole gateway in one process (web, Twilio, Telegram, console, workers)."""
    from aiohttp import web

    from gateway.app import create_app

    from gateway.observe.logs import configure

    settings = _settings()
    demo_warning = ""
    if demo:  # the try-it page works without a Twilio account (see Settings.for_demo)
        settings, demo_warning = settings.for_demo()
    configure(settings.log_level, json_format=settings.log_json,
              secrets=(settings.twilio_auth_token, settings.telegram_bot_token,
                       settings.api_token, settings.telegram_webhook_secret))
    if demo_warning:
        logging.getLogger(__name__).warning(demo_warning)
    if not no_migrate:
        _migrate(settings)
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

    counts = _run(_with_db, settings, lambda d: load_demo(d, settings.default_locale))
    click.echo(f"Demo data: {counts['products']} products, {counts['residents']} residents, "
               f"{counts['leaders']} leaders")
    if not settings.api_token:
        click.echo("Tip: set DOORSTEP_API_TOKEN to use the JSON API.")


@main.command()
@click.option("--host", default=None, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port to listen on.")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Same as `serve --demo`: load demo data, then run the gateway."""
    ctx.invoke(serve, host=host, port=port, demo=True, no_migrate=False)


# --- db ------------------------------------------------------------------------------------

@main.group("db")
def db_group() -> None:
    """Database schema management."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Run Alembic migrations up to head (or REVISION)."""
    from db.migrate import current, upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at revision {current(settings.database_url)}")


# --- catalog -------------------------------------------------------------------------------

@main.group()
def catalog() -> None:
    """The shop's catalogue of products."""


@catalog.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalog_import(file: Path) -> None:
    """Import FILE.csv (sku,name,aliases,unit,units,price,category); updates by sku."""
    import db.catalog
    from gateway.orders.catalog import CatalogError, read_csv

    settings = _settings()
    try:
        items = read_csv(file)
    except (CatalogError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    _migrate(settings)

    async def work(database: Any) -> Any:
        async with database.session() as s:
            return await db.catalog.import_items(s, items)

    r = _run(_with_db, settings, work)
    click.echo(f"{len(items)} products: {r.created} new, {r.updated} updated, "
               f"{r.unchanged} unchanged")


@catalog.command("export")
def catalog_export() -> None:
    """Print the catalogue as CSV (the import format)."""
    import db.catalog
    from gateway.orders.catalog import from_product, write_csv

    settings = _settings()

    async def work(database: Any) -> str:
        async with database.session() as s:
            return write_csv(from_product(p) for p in await db.catalog.list_products(s))

    click.echo(_run(_with_db, settings, work), nl=False)


@catalog.command("list")
def catalog_list() -> None:
    """List products."""
    import db.catalog

    settings = _settings()

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return list(await db.catalog.list_products(s))

    for p in _run(_with_db, settings, work):
        cols = [p.sku, p.name, p.unit, "|".join(p.units), str(p.price or ""), p.category]
        click.echo("\t".join(cols + ([] if p.active else ["(inactive)"])))


# --- people --------------------------------------------------------------------------------

def _person_or_fail(**kw: Any) -> Any:
    from gateway.orders.people import PeopleError, person

    try:
        return person(**kw)
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def residents() -> None:
    """Residents who order by phone or SMS."""


@residents.command("add")
@click.option("--phone", required=True, help="International number, e.g. +8613800000000.")
@click.option("--name", required=True)
@click.option("--address", default="")
@click.option("--village", default="")
@click.option("--lat", type=float, default=None)
@click.option("--lon", type=float, default=None)
@click.option("--locale", default=None, help="zh-CN (default) or ko-KR.")
@click.option("--leader-phone", default=None, help="Phone of a preferred team leader.")
def residents_add(phone: str, name: str, address: str, village: str, lat: float | None,
                  lon: float | None, locale: str | None, leader_phone: str | None) -> None:
    """Add a resident, or update the one with this phone number."""
    import db.people

    row = _person_or_fail(phone=phone, name=name, address=address, village=village, lat=lat,
                          lon=lon, locale=locale or _settings().default_locale)
    settings = _settings()
    _migrate(settings)

    async def work(database: Any) -> tuple[Any, bool]:
        async with database.session() as s:
            pref = None
            if leader_phone:
                from gateway.orders.people import normalize_phone
                ld = await db.people.leader_by_phone(s, normalize_phone(leader_phone))
                if ld is None:
                    raise click.ClickException(f"no leader with phone {leader_phone}")
                pref = ld.id
            return await db.people.upsert_resident(
                s, row.phone, name=row.name, address=row.address, village=row.village,
                lat=row.lat, lon=row.lon, locale=row.locale, preferred_leader_id=pref,
                registered_by="cli")

    r, created = _run(_with_db, settings, work)
    click.echo(f"{'added' if created else 'updated'} resident {r.id}: {r.name} {r.phone}")


@residents.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def residents_import(file: Path) -> None:
    """Import FILE.csv (phone,name,address,village,lat,lon,locale); updates by phone."""
    import db.people
    from gateway.orders.people import PeopleError, read_people_csv

    settings = _settings()
    try:
        rows = read_people_csv(file)
    except (PeopleError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    _migrate(settings)

    async def work(database: Any) -> tuple[int, int]:
        created = 0
        async with database.session() as s:
            for r in rows:
                _, new = await db.people.upsert_resident(
                    s, r.phone, name=r.name, address=r.address, village=r.village, lat=r.lat,
                    lon=r.lon, locale=r.locale, registered_by="import")
                created += new
        return created, len(rows) - created

    created, updated = _run(_with_db, settings, work)
    click.echo(f"{len(rows)} residents: {created} new, {updated} updated")


@residents.command("list")
@click.option("--village", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def residents_list(village: str | None, as_json: bool) -> None:
    """List residents."""
    import db.people

    settings = _settings()

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return list(await db.people.list_residents(s, village))

    for r in _run(_with_db, settings, work):
        if as_json:
            click.echo(json.dumps({"id": r.id, "phone": r.phone, "name": r.name,
                                   "address": r.address, "village": r.village, "lat": r.lat,
                                   "lon": r.lon, "locale": r.locale}, ensure_ascii=False))
        else:
            click.echo(f"{r.id}\t{r.phone}\t{r.name}\t{r.village}\t{r.address}\t{r.locale}")


@main.group()
def leaders() -> None:
    """Volunteer team leaders who work from Telegram."""


def _leader_fields(row: Any) -> dict[str, Any]:
    return dict(name=row.name, lat=row.lat, lon=row.lon, radius_km=row.radius_km,
                capacity=row.capacity, locale=row.locale)


@leaders.command("add")
@click.option("--name", required=True)
@click.option("--phone", required=True)
@click.option("--lat", type=float, required=True, help="Base latitude.")
@click.option("--lon", type=float, required=True, help="Base longitude.")
@click.option("--radius-km", type=float, default=None, help="Service radius (default 5).")
@click.option("--capacity", type=int, default=None, help="Open tasks at most (default 5).")
@click.option("--locale", default=None, help="zh-CN (default) or ko-KR.")
def leaders_add(name: str, phone: str, lat: float, lon: float, radius_km: float | None,
                capacity: int | None, locale: str | None) -> None:
    """Add a team leader (or update by phone); the last line is the Telegram invite link."""
    import db.people
    from gateway.orders.people import invite_link

    settings = _settings()
    row = _person_or_fail(phone=phone, name=name, lat=lat, lon=lon, radius_km=radius_km,
                          capacity=capacity, locale=locale or settings.default_locale)
    _migrate(settings)

    async def work(database: Any) -> tuple[Any, bool]:
        async with database.session() as s:
            return await db.people.upsert_leader(s, row.phone, **_leader_fields(row))

    ld, created = _run(_with_db, settings, work)
    click.echo(f"{'added' if created else 'updated'} leader {ld.id}: {ld.name} {ld.phone}")
    click.echo(invite_link(settings.telegram_bot_username, ld.invite_code))


@leaders.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def leaders_import(file: Path) -> None:
    """Import FILE.csv (resident columns plus radius_km,capacity); prints each invite link."""
    import db.people
    from gateway.orders.people import PeopleError, invite_link, read_people_csv

    settings = _settings()
    try:
        rows = read_people_csv(file, leaders=True)
    except (PeopleError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    _migrate(settings)

    async def work(database: Any) -> list[tuple[Any, bool]]:
        out = []
        async with database.session() as s:
            for r in rows:
                out.append(await db.people.upsert_leader(s, r.phone, **_leader_fields(r)))
        return out

    for ld, created in _run(_with_db, settings, work):
        click.echo(f"{ld.name}\t{ld.phone}\t{'new' if created else 'updated'}\t"
                   f"{invite_link(settings.telegram_bot_username, ld.invite_code)}")


@leaders.command("list")
def leaders_list() -> None:
    """List team leaders with duty, capacity and whether Telegram is linked."""
    import db.people
    from gateway.orders.people import invite_link

    settings = _settings()

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return list(await db.people.list_leaders(s))

    for ld in _run(_with_db, settings, work):
        linked = "telegram linked" if ld.telegram_user_id else \
            invite_link(settings.telegram_bot_username, ld.invite_code)
        click.echo(f"{ld.id}\t{ld.phone}\t{ld.name}\t{'on duty' if ld.on_duty else 'off duty'}\t"
                   f"cap {ld.capacity}\tr {ld.radius_km:g} km\t{linked}")


@main.group()
def operators() -> None:
    """Co-operative staff who use the web console."""


@operators.command("add")
@click.argument("username")
def operators_add(username: str) -> None:
    """Add an operator (or reset the password); the password is read from stdin."""
    import db.people
    from gateway.channels.console.passwords import hash_password

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    if not username.strip() or len(username) > 64:
        raise click.ClickException("the username must have 1 to 64 characters")
    settings = _settings()
    _migrate(settings)
    hashed = hash_password(password)

    async def work(database: Any) -> tuple[Any, bool]:
        async with database.session() as s:
            return await db.people.add_operator(s, username.strip(), hashed)

    op, created = _run(_with_db, settings, work)
    click.echo(f"{'added' if created else 'password reset for'} operator {op.username}")


# --- parse ---------------------------------------------------------------------------------

@main.command()
@click.option("--locale", default=None, help="zh-CN (default) or ko-KR.")
@click.option("--catalog", "catalog_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), default=None, help="Use this CSV instead of the database.")
@click.argument("texts", nargs=-1)
def parse(locale: str | None, catalog_file: Path | None, texts: tuple[str, ...]) -> None:
    """Parse order texts into JSON lines (intent, items, unmatched); stdin if no TEXT."""
    from gateway.orders.catalog import CatalogError, read_csv
    from gateway.language import compile_language
    from gateway.language.locales import normalize_locale

    loc = normalize_locale(locale) if locale else None
    if catalog_file is not None:
        try:
            items = read_csv(catalog_file)
        except (CatalogError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{catalog_file}: {exc}") from None
        loc = loc or "zh-CN"
    else:
        settings = _settings()
        loc = loc or settings.default_locale
        items = _db_catalog(settings, loc)
    lang = compile_language(loc, items)
    source = texts if texts else (line.rstrip("\r\n") for line in sys.stdin)
    for text in source:
        click.echo(json.dumps(lang.parse(text).to_dict(), ensure_ascii=False))


def _db_catalog(settings: Settings, locale: str) -> list[Any]:
    """Active products from the database; the demo catalogue if the database has none."""
    import db.catalog
    from gateway.orders.demo import demo_file
    from gateway.orders.catalog import active_items, read_csv

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return await active_items(s)

    try:
        items = _run(_with_db, settings, work)
    except Exception:
        items = []
    if not items:
        click.echo("note: the database has no catalogue; using the demo catalogue", err=True)
        items = read_csv(demo_file("catalog", locale))
    return items


# --- adapters' commands ----------------------------------------------------------------------

@main.group()
def simulate() -> None:
    """Play a resident against a running gateway, exactly as Twilio would."""


def _register_adapter_commands() -> None:
    import importlib

    for module, attr, group in (("gateway.channels.twilio.simulate_sms", "sms", simulate),
                                ("gateway.channels.twilio.simulate_call", "call", simulate),
                                ("gateway.cli.voice", "voice", main)):
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        group.add_command(cmd)


_register_adapter_commands()


if __name__ == "__main__":
    main()
