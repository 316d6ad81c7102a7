"""`doorstep standing add|list|pause|resume|stop`: standing orders ("每周二一样") that an operator
sets or changes; residents and their proxies do the same by text (gateway.orders.standing)."""

from __future__ import annotations

from typing import Any

import click

from gateway.cli.common import session_work


def _session_work(fn: Any) -> Any:
    from gateway.orders.people import PeopleError
    from gateway.orders.standing import StandingError

    return session_work(fn, (StandingError, PeopleError))


def _standing(settings: Any) -> Any:
    from zoneinfo import ZoneInfo

    from gateway.orders.standing import Standing
    from gateway.templates import Templates

    return Standing(Templates(), ZoneInfo(settings.console_timezone),
                    deadline=settings.standing_deadline, ask_hours=settings.standing_ask_hours)


def _goods(items: list[dict[str, str]]) -> str:
    return ", ".join(f"{i['name']} {i['quantity']}{i['unit']}" for i in items)


@click.group("standing")
def standing() -> None:
    """Standing orders: the same goods every week, every N weeks or on each village run. The
    resident (or the proxy who set it) is asked by text before each time: 1 confirms, 2 skips."""


@standing.command("add")
@click.option("--phone", required=True, help="The resident's phone.")
@click.option("--text", required=True, help='The goods, as a resident would text them: "大米两袋".')
@click.option("--every", required=True, metavar="mon|tue|…|sun|run",
              help="The weekday, or `run`: on each run of the mobile supermarket to the "
                   "resident's village.")
@click.option("--weeks", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Every N weeks (a weekday only).")
@click.option("--unconfirmed", type=click.Choice(["skip", "confirm"]), default=None,
              show_default=True, help="What happens to a time nobody answered by its deadline.")
@click.option("--proxy", "proxy_phone", default="",
              help="A proxy of the resident who is asked instead of the resident.")
def standing_add(phone: str, text: str, every: str, weeks: int, unconfirmed: str,
                 proxy_phone: str) -> None:
    """Set a standing order for a resident; its first time is the first one whose deadline
    (the day before at DOORSTEP_STANDING_DEADLINE, or the run's cut-off) is still ahead."""
    import db.catalog
    import db.people
    import db.proxies
    from gateway.language.cache import LanguageCache
    from gateway.language.locales import normalize_locale
    from gateway.orders.catalog import active_items
    from gateway.orders.people import normalize_phone
    from gateway.orders.standing import StandingError, next_days, schedule_words, when_of

    async def work(s: Any, settings: Any) -> Any:
        when = when_of(every, weeks)
        resident = await db.people.resident_by_phone(s, normalize_phone(phone))
        if resident is None:
            raise StandingError("no_resident", f"no resident with phone {phone}")
        proxy = None
        if proxy_phone:
            number = normalize_phone(proxy_phone)
            proxy = next((p for p in await db.proxies.by_phone(s, number)
                          if p.resident_id == resident.id), None)
            if proxy is None:
                raise StandingError("not_their_proxy", f"{number} is not a proxy of {phone}: "
                                    "doorstep residents proxy add first")
        language = await LanguageCache(version=db.catalog.version, items=active_items).get(
            s, normalize_locale(resident.locale))
        parsed = language.parse(text)
        if not parsed.items:
            raise StandingError("no_items", f"nothing in {text!r} is in the catalogue"
                                + (f" (not found: {', '.join(parsed.unmatched)})"
                                   if parsed.unmatched else ""))
        so = await _standing(settings).create(s, resident=resident, items=parsed.items,
                                              when=when, text=text, proxy=proxy,
                                              unconfirmed=unconfirmed, created_by="cli")
        first = next_days(so, so.start_date)[0].isoformat() if so.weekday is not None \
            else "the next run"
        return (f"added standing order {so.id}: {resident.name} {resident.phone}, "
                f"{schedule_words(so)} from {first}: {_goods(so.items)}; unanswered: "
                f"{so.unconfirmed}" + (f"; asks {proxy.name} {proxy.phone}" if proxy else ""))

    click.echo(_session_work(work))


@standing.command("list")
@click.option("--phone", default="", help="Only this resident's.")
@click.option("--all", "show_all", is_flag=True, help="Stopped ones too.")
def standing_list(phone: str, show_all: bool) -> None:
    """Standing orders: id, status, resident, schedule, next day, goods, what an unanswered
    time does, who is asked."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    import db.standing
    from gateway.orders.people import normalize_phone
    from gateway.orders.standing import next_days, schedule_words

    async def work(s: Any, settings: Any) -> list[str]:
        today = datetime.now(UTC).astimezone(ZoneInfo(settings.console_timezone)).date()
        rows = await db.standing.listing(
            s, resident_phone=normalize_phone(phone) if phone else None,
            statuses=None if show_all else ("active", "paused"))
        out = []
        for so in rows:
            p = await db.standing.proxy(s, so.proxy_id)
            nxt = next_days(so, today) if so.weekday is not None else []
            out.append(f"{so.id}\t{so.status}\t{so.resident.phone}\t{so.resident.name}\t"
                       f"{schedule_words(so)}\tnext {nxt[0].isoformat() if nxt else '-'}\t"
                       f"{_goods(so.items)}\tunanswered: {so.unconfirmed}\t"
                       f"asks {p.phone if p else so.resident.phone}")
        return out

    lines = _session_work(work)
    if not lines:
        click.echo('no standing orders: doorstep standing add --phone P --text "大米两袋" '
                   "--every tue")
    for line in lines:
        click.echo(line)


def _set(standing_id: int, status: str) -> bool:
    """Whether the standing order changed (False: it was so already)."""
    import db.standing
    from gateway.orders.standing import StandingError

    async def work(s: Any, settings: Any) -> bool:
        so = await db.standing.get(s, standing_id)
        if so is None:
            raise StandingError("not_found", f"no standing order {standing_id}")
        return bool(await _standing(settings).set_status(s, so, status, by="cli"))

    return bool(_session_work(work))


def _said(standing_id: int, what: str, changed: bool) -> None:
    click.echo(f"standing order {standing_id} {what}" + ("" if changed else " (already)"))


@standing.command("pause")
@click.argument("standing_id", metavar="ID", type=int)
def standing_pause(standing_id: int) -> None:
    """Pause a standing order: nobody is asked and nothing is ordered until `resume`."""
    _said(standing_id, "paused", _set(standing_id, "paused"))


@standing.command("resume")
@click.argument("standing_id", metavar="ID", type=int)
def standing_resume(standing_id: int) -> None:
    """Resume a paused standing order."""
    _said(standing_id, "resumed", _set(standing_id, "active"))


@standing.command("stop")
@click.argument("standing_id", metavar="ID", type=int)
def standing_stop(standing_id: int) -> None:
    """Stop a standing order for good (a time waiting for an answer is skipped)."""
    _said(standing_id, "stopped", _set(standing_id, "stopped"))
