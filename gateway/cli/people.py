"""`doorstep residents|leaders|operators`: the people Doorstep knows."""

from __future__ import annotations

import json
import re
import sys
from functools import partial
from pathlib import Path
from typing import Any

import click

from gateway.cli.common import cli_settings, migrate, read_input, run, with_db, wrote_to


def _person_or_fail(**kw: Any) -> Any:
    from gateway.orders.people import PeopleError, person

    try:
        return person(**kw)
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
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
@click.option("--notify", type=click.Choice(["sms", "call", "both"]), default=None,
              help="How they are told about their orders (default sms; kept on update).")
@click.option("--standing-unconfirmed", type=click.Choice(["skip", "confirm"]), default=None,
              help="An unanswered week of their standing orders is skipped (default) or "
                   "ordered as usual; applies to the standing orders they have too.")
def residents_add(phone: str, name: str, address: str, village: str, lat: float | None,
                  lon: float | None, locale: str | None, leader_phone: str | None,
                  notify: str | None, standing_unconfirmed: str | None) -> None:
    """Add a resident, or update the one with this phone number."""
    import db.people
    from gateway.orders.people import save_resident

    row = _person_or_fail(phone=phone, name=name, address=address, village=village, lat=lat,
                          lon=lon, locale=locale or cli_settings().default_locale)
    settings = cli_settings()
    migrate(settings)
    wrote_to(settings)

    async def work(database: Any) -> tuple[Any, bool]:
        async with database.session() as s:
            pref = None
            if leader_phone:
                from gateway.orders.people import normalize_phone
                ld = await db.people.leader_by_phone(s, normalize_phone(leader_phone))
                if ld is None:
                    raise click.ClickException(f"no leader with phone {leader_phone}")
                pref = ld.id
            r, created = await save_resident(s, row, registered_by="cli",
                                             preferred_leader_id=pref)
            if notify:
                r.notify = notify
            if standing_unconfirmed:
                from gateway.orders.standing import set_unconfirmed

                await set_unconfirmed(s, r, standing_unconfirmed)
            return r, created

    r, created = run(with_db, settings, work)
    click.echo(f"{'added' if created else 'updated'} resident {r.id}: {r.name} {r.phone}")


@residents.group("proxy")
def residents_proxy() -> None:
    """Family members and carers who order for a resident (给妈妈订：大米一袋)."""


@residents_proxy.command("add")
@click.option("--resident", "resident_phone", required=True, help="The resident's phone.")
@click.option("--phone", required=True, help="The family member's or carer's phone.")
@click.option("--name", required=True, help="The proxy's own name.")
@click.option("--relation", default="",
              help="What the proxy calls the resident (妈妈, 외할머니): how their texts name them.")
@click.option("--notify", type=click.Choice(["sms", "call", "both"]), default="sms",
              show_default=True, help="How the proxy is told about the resident's orders.")
def proxy_add(resident_phone: str, phone: str, name: str, relation: str, notify: str) -> None:
    """Let a family member or carer order for a resident and be told about their orders."""
    from gateway.orders.proxies import ProxyError, add_proxy

    settings = cli_settings()
    migrate(settings)

    async def work(database: Any) -> tuple[Any, bool]:
        async with database.session() as s:
            return await add_proxy(s, resident_phone=resident_phone, phone=phone, name=name,
                                   relation=relation, notify=notify, created_by="cli")

    try:
        p, created = run(with_db, settings, work)
    except ProxyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'added' if created else 'updated'} proxy {p.name} {p.phone} for "
               f"{p.resident.name} {p.resident.phone}" + (f" ({p.relation})" if p.relation else ""))


@residents_proxy.command("list")
@click.option("--resident", "resident_phone", default="", help="Only this resident's.")
def proxy_list(resident_phone: str) -> None:
    """Proxies with the residents they order for: resident phone and name, proxy phone, name,
    relation (what they call the resident), how they are told."""
    from gateway.orders.people import PeopleError
    from gateway.orders.proxies import list_proxies

    settings = cli_settings()
    migrate(settings)

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return await list_proxies(s, resident_phone)

    try:
        rows = run(with_db, settings, work)
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from None
    if not rows:
        click.echo("no proxies: doorstep residents proxy add --resident P --phone P2 --name N")
    for p in rows:
        r = p.resident
        click.echo(f"{r.phone}\t{r.name}\t<- {p.phone}\t{p.name}\t{p.relation or '-'}\t"
                   f"notify {p.notify}")


@residents_proxy.command("remove")
@click.option("--resident", "resident_phone", required=True, help="The resident's phone.")
@click.option("--phone", required=True, help="The family member's or carer's phone.")
def proxy_remove(resident_phone: str, phone: str) -> None:
    """Stop a family member or carer ordering for a resident (and being told about it)."""
    from gateway.orders.people import PeopleError, normalize_phone
    from gateway.orders.proxies import list_proxies, remove_proxy

    settings = cli_settings()
    migrate(settings)

    async def work(database: Any) -> Any:
        async with database.session() as s:
            want = normalize_phone(phone)
            for p in await list_proxies(s, resident_phone):
                if p.phone == want:
                    await remove_proxy(s, p.id)
                    return p
            return None

    try:
        p = run(with_db, settings, work)
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from None
    if p is None:
        raise click.ClickException(f"{phone} is not a proxy of {resident_phone}: "
                                   "doorstep residents proxy list")
    click.echo(f"removed proxy {p.name} {p.phone} for {p.resident.name} {p.resident.phone}")


@residents.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def residents_import(file: Path) -> None:
    """Import FILE.csv (phone,name,address,village,lat,lon,locale); updates by phone."""
    from gateway.orders.people import PeopleError, read_people_csv, save_resident

    settings = cli_settings()
    rows = read_input(read_people_csv, file, (PeopleError,))
    migrate(settings)
    wrote_to(settings)

    async def work(database: Any) -> tuple[int, int]:
        created = 0
        async with database.session() as s:
            for r in rows:
                _, new = await save_resident(s, r, registered_by="import")
                created += new
        return created, len(rows) - created

    created, updated = run(with_db, settings, work)
    click.echo(f"{len(rows)} residents: {created} new, {updated} updated")


@residents.command("list")
@click.option("--village", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def residents_list(village: str | None, as_json: bool) -> None:
    """List residents."""
    import db.people

    settings = cli_settings()

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return list(await db.people.list_residents(s, village))

    for r in run(with_db, settings, work):
        if as_json:
            click.echo(json.dumps({"id": r.id, "phone": r.phone, "name": r.name,
                                   "address": r.address, "village": r.village, "lat": r.lat,
                                   "lon": r.lon, "locale": r.locale}, ensure_ascii=False))
        else:
            click.echo(f"{r.id}\t{r.phone}\t{r.name}\t{r.village}\t{r.address}\t{r.locale}")


@click.group()
def leaders() -> None:
    """Volunteer team leaders who work from Telegram."""


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
    from gateway.orders.people import invite_link, save_leader

    settings = cli_settings()
    row = _person_or_fail(phone=phone, name=name, lat=lat, lon=lon, radius_km=radius_km,
                          capacity=capacity, locale=locale or settings.default_locale)
    migrate(settings)
    wrote_to(settings)

    async def work(database: Any) -> tuple[Any, bool]:
        async with database.session() as s:
            return await save_leader(s, row)

    ld, created = run(with_db, settings, work)
    click.echo(f"{'added' if created else 'updated'} leader {ld.id}: {ld.name} {ld.phone}")
    click.echo(invite_link(settings.telegram_bot_username, ld.invite_code))


@leaders.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def leaders_import(file: Path) -> None:
    """Import FILE.csv (resident columns plus radius_km,capacity); prints each invite link."""
    from gateway.orders.people import PeopleError, invite_link, read_people_csv, save_leader

    settings = cli_settings()
    rows = read_input(partial(read_people_csv, leaders=True), file, (PeopleError,))
    migrate(settings)
    # (no database line here: the output is one tab-separated row per leader, for scripts)

    async def work(database: Any) -> list[tuple[Any, bool]]:
        import db.people

        out = []
        async with database.session() as s:
            for line, r in enumerate(rows, start=2):  # checked before anything is written
                resident = await db.people.resident_by_phone(s, r.phone)
                if resident is not None:
                    raise click.ClickException(
                        f"{file}: line {line}, phone: {r.phone} is the resident {resident.name}"
                        " (is this a residents file?); nothing was imported")
            for r in rows:
                out.append(await save_leader(s, r))
        return out

    for ld, created in run(with_db, settings, work):
        click.echo(f"{ld.name}\t{ld.phone}\t{'new' if created else 'updated'}\t"
                   f"{invite_link(settings.telegram_bot_username, ld.invite_code)}")


@leaders.command("list")
def leaders_list() -> None:
    """List team leaders with duty, capacity and whether Telegram is linked."""
    import db.people
    from gateway.orders.people import invite_link

    settings = cli_settings()

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return list(await db.people.list_leaders(s))

    for ld in run(with_db, settings, work):
        linked = "telegram linked" if ld.telegram_user_id else \
            invite_link(settings.telegram_bot_username, ld.invite_code)
        click.echo(f"{ld.id}\t{ld.phone}\t{ld.name}\t{'on duty' if ld.on_duty else 'off duty'}\t"
                   f"cap {ld.capacity}\tr {ld.radius_km:g} km\t{linked}")


@click.group()
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
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", username.strip()):
        raise click.ClickException(
            f"username {username!r}: use letters, digits, '.', '_' or '-' (no spaces or symbols)")
    settings = cli_settings()
    migrate(settings)
    wrote_to(settings)
    hashed = hash_password(password)

    async def work(database: Any) -> tuple[Any, bool]:
        async with database.session() as s:
            return await db.people.add_operator(s, username.strip(), hashed)

    op, created = run(with_db, settings, work)
    click.echo(f"{'added' if created else 'password reset for'} operator {op.username}")
