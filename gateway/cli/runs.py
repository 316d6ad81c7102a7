"""`doorstep runs` and `doorstep pickup`: village runs of the mobile supermarket and pickup
points with time slots (gateway.orders.fulfilment). Times are the co-operative's
(DOORSTEP_TIMEZONE). The running gateway's dispatcher puts orders on them; changes made here
queue the residents' texts in the outbox, which the running gateway sends."""

from __future__ import annotations

from typing import Any

import click

from gateway.cli.common import cli_settings, migrate, run, with_db
from gateway.cli.supply import cli_timezone, parse_date


def _work(fn: Any) -> Any:
    """Run `fn(session, settings, fulfilment)` in one transaction; FulfilmentError -> a clear
    message and exit status 1."""
    from gateway.orders.fulfilment import Fulfilment, FulfilmentError
    from gateway.services import build_services

    settings = cli_settings()
    migrate(settings)

    async def work(database: Any) -> Any:
        services = build_services(settings, database)
        services.listeners.extend(_listeners(services))
        async with database.session() as s:
            return await fn(s, settings, Fulfilment.of(services))

    try:
        return run(with_db, settings, work)
    except FulfilmentError as exc:
        raise click.ClickException(str(exc)) from None


def _listeners(services: Any) -> list[Any]:
    """What every status change does in the gateway too: prices kept, cash recorded, the
    resident's texts queued (Telegram messages queue as well; the gateway sends them)."""
    from gateway.channels.telegram.messages import TelegramMessages
    from gateway.channels.telegram.runs import TelegramRuns
    from gateway.notify.residents import ResidentSms
    from gateway.orders.ledger import CashOnDelivery
    from gateway.orders.pricing import PriceSnapshot

    messages = TelegramMessages(services.templates, services.settings)
    services.run_notifier = TelegramRuns(messages, services.settings)
    return [PriceSnapshot(), CashOnDelivery(), ResidentSms(services.templates)]


def _hm(dt: Any, tz: Any) -> str:
    return dt.astimezone(tz).strftime("%H:%M")


@click.group("runs")
def runs() -> None:
    """Mobile-supermarket runs to villages: orders there go onto the next run before its
    cut-off instead of to a nearest leader."""


@runs.command("add")
@click.option("--village", "villages", multiple=True, required=True,
              help="A village the run serves (repeat for several).")
@click.option("--at", "at", required=True, help='Departure, "YYYY-MM-DD HH:MM".')
@click.option("--cutoff", required=True, help='Order cut-off, "YYYY-MM-DD HH:MM" (may be past).')
@click.option("--leader", "leader_phone", required=True,
              help="The phone of the leader (Telegram) who drives or runs it.")
@click.option("--stop", "stops", multiple=True,
              help='A stop in order, "NAME@lat,lon@HH:MM" (place and time may be empty: '
                   '"村口@@09:30"). Without stops the run waits at each village entrance.')
@click.option("--vehicle", default="", help="The vehicle, e.g. its plate.")
def runs_add(villages: tuple[str, ...], at: str, cutoff: str, leader_phone: str,
             stops: tuple[str, ...], vehicle: str) -> None:
    """Schedule a run; orders already waiting in its villages join it at once."""
    import db.people
    from gateway.orders.fulfilment import FulfilmentError, RunRequest
    from gateway.orders.fulfilment_forms import parse_local, parse_stop

    tz = cli_timezone(cli_settings())
    try:
        departs, cut = parse_local(at, tz), parse_local(cutoff, tz)
        parsed = [parse_stop(s, departs, tz) for s in stops]
    except FulfilmentError as exc:
        raise click.BadParameter(str(exc)) from None

    async def work(s: Any, settings: Any, f: Any) -> Any:
        leader = await db.people.leader_by_phone(s, leader_phone.strip())
        if leader is None:
            raise FulfilmentError("no_leader", f"no leader with phone {leader_phone}")
        run_, joined = await f.create_run(s, RunRequest(
            villages=list(villages), departs_at=departs, cutoff_at=cut, leader_id=leader.id,
            stops=parsed, vehicle=vehicle), actor="cli")
        return run_.id, joined, leader.name

    run_id, joined, leader_name = _work(work)
    click.echo(f"run {run_id}: {', '.join(villages)} at {at}, cut-off {cutoff}, "
               f"leader {leader_name}; {joined} waiting order(s) joined it")


@runs.command("list")
@click.option("--all", "show_all", is_flag=True, help="Past and cancelled runs too.")
def runs_list(show_all: bool) -> None:
    """Runs with their villages, time (HH:MM), cut-off, leader, stops and orders."""
    import db.runs
    from db.models import utcnow

    async def work(s: Any, settings: Any, f: Any) -> Any:
        from datetime import timedelta

        since = None if show_all else utcnow() - timedelta(days=1)
        rows = await db.runs.runs_between(
            s, since=since, statuses=None if show_all else ("scheduled",))
        counts = await db.runs.run_order_counts(s, [r.id for r in rows])
        waiting = await f.waiting_villages(s, utcnow())
        return rows, counts, waiting

    rows, counts, waiting = _work(work)
    tz = cli_timezone(cli_settings())
    if not rows:
        click.echo("no runs scheduled: doorstep runs add --village V --at ... --cutoff ... "
                   "--leader PHONE")
    for r in rows:
        day = r.departs_at.astimezone(tz).strftime("%Y-%m-%d")
        stops = " → ".join(f"{st.name} {_hm(st.arrives_at, tz)}" for st in r.stops)
        click.echo(f"run {r.id}\t{day} {_hm(r.departs_at, tz)}\t{','.join(r.village_names)}\t"
                   f"cut-off {r.cutoff_at.astimezone(tz):%m-%d %H:%M}\t"
                   f"{r.leader.name if r.leader else '-'}\t{r.status}\t"
                   f"orders {counts.get(r.id, 0)}" + (f"\t{stops}" if stops else ""))
    for v in waiting:
        click.echo(f"waiting, no run ahead: {v['village']}: {v['households']} household(s), "
                   f"oldest {v['hours']:.0f} h" + (" — schedule a run" if v["due"] else ""))


@runs.command("move")
@click.argument("run_id", type=int)
@click.option("--at", "at", required=True, help='New departure, "YYYY-MM-DD HH:MM".')
@click.option("--cutoff", default=None, help="New cut-off (default: shifted as much).")
def runs_move(run_id: int, at: str, cutoff: str | None) -> None:
    """Reschedule a run; its stops shift with it and its residents are texted the new time."""
    from gateway.orders.fulfilment import FulfilmentError
    from gateway.orders.fulfilment_forms import parse_local

    tz = cli_timezone(cli_settings())
    try:
        departs = parse_local(at, tz)
        cut = parse_local(cutoff, tz) if cutoff else None
    except FulfilmentError as exc:
        raise click.BadParameter(str(exc)) from None

    async def work(s: Any, settings: Any, f: Any) -> int:
        return (await f.move_run(s, run_id, departs, cut, actor="cli"))[1]

    told = _work(work)
    click.echo(f"run {run_id} moved to {at}; {told} resident(s) texted")


@runs.command("cancel")
@click.argument("run_id", type=int)
def runs_cancel(run_id: int) -> None:
    """Cancel a run: its orders go back to the dispatcher (next run or a leader); residents
    are texted."""

    async def work(s: Any, settings: Any, f: Any) -> int:
        return (await f.cancel_run(s, run_id, actor="cli"))[1]

    moved = _work(work)
    click.echo(f"run {run_id} cancelled; {moved} order(s) back to the dispatcher")


@click.group("pickup")
def pickup() -> None:
    """Pickup points: residents collect in time slots with a pickup number."""


@pickup.command("add")
@click.option("--name", required=True)
@click.option("--village", required=True, help="The point's own village (its staff's language).")
@click.option("--place", default="", help="Where it is, as residents say it.")
@click.option("--lat", type=click.FloatRange(-90, 90), default=None)
@click.option("--lon", type=click.FloatRange(-180, 180), default=None)
@click.option("--hours", default="08:00-18:00", show_default=True)
@click.option("--slot-minutes", type=int, default=30, show_default=True)
@click.option("--capacity", type=int, default=10, show_default=True,
              help="Households per slot at most.")
@click.option("--prefix", default="A", show_default=True, help="Pickup numbers look like A-17.")
@click.option("--serves", "serves", multiple=True,
              help="Every resident of this village collects here (repeat for several).")
def pickup_add(name: str, village: str, place: str, lat: float | None, lon: float | None,
               hours: str, slot_minutes: int, capacity: int, prefix: str,
               serves: tuple[str, ...]) -> None:
    """Add a pickup point (or update by name); the last line is the staff's invite link."""
    import db.runs
    from gateway.orders.fulfilment_forms import save_pickup_point
    from gateway.orders.people import invite_link

    async def work(s: Any, settings: Any, f: Any) -> Any:
        point, created = await save_pickup_point(
            s, name=name, village=village, place=place, lat=lat, lon=lon, hours=hours,
            slot_minutes=slot_minutes, capacity=capacity, prefix=prefix)
        for v in serves:
            await db.runs.set_pickup_village(s, v.strip(), point.id)
        return point, created, invite_link(settings.telegram_bot_username, point.invite_code)

    point, created, link = _work(work)
    click.echo(f"{'added' if created else 'updated'} pickup point {point.name}: "
               f"{point.opens}-{point.closes}, {point.slot_minutes} min slots of "
               f"{point.slot_capacity}" + (f"; serves {', '.join(serves)}" if serves else ""))
    click.echo(link)


@pickup.command("assign")
@click.option("--point", "point_name", default="", help="The point's name; empty: door delivery.")
@click.option("--village", default="", help="Every resident of this village.")
@click.option("--phone", default="", help="One resident.")
def pickup_assign(point_name: str, village: str, phone: str) -> None:
    """Send a village's or one resident's orders to a pickup point (or back to the door)."""
    from sqlalchemy import select

    import db.people
    import db.runs
    from db.models import Outlet
    from gateway.orders.fulfilment import FulfilmentError

    if bool(village.strip()) == bool(phone.strip()):
        raise click.BadParameter("give --village or --phone (one of them)")

    async def work(s: Any, settings: Any, f: Any) -> str:
        point = None
        if point_name.strip():
            point = (await s.execute(select(Outlet).where(
                Outlet.name == point_name.strip(), Outlet.pickup.is_(True)))).scalar_one_or_none()
            if point is None:
                raise FulfilmentError("no_point", f"no pickup point named {point_name!r}")
        if village.strip():
            await db.runs.set_pickup_village(s, village.strip(), point.id if point else None)
            return f"village {village.strip()}"
        resident = await db.people.resident_by_phone(s, phone.strip())
        if resident is None:
            raise FulfilmentError("no_resident", f"no resident with phone {phone}")
        resident.pickup_outlet_id = point.id if point else None
        return f"resident {resident.name} ({resident.phone})"

    who = _work(work)
    click.echo(f"{who}: " + (f"collects at {point_name.strip()}" if point_name.strip()
                             else "door delivery"))


@pickup.command("list")
def pickup_list() -> None:
    """Pickup points, their hours and slots, and the villages they serve."""
    import db.runs

    async def work(s: Any, settings: Any, f: Any) -> Any:
        return await db.runs.pickup_points(s), await db.runs.pickup_villages(s)

    points, villages = _work(work)
    if not points:
        click.echo("no pickup points: doorstep pickup add --name N --village V --hours 08:00-18:00")
    for p in points:
        click.echo(f"{p.name}\t{p.place or p.village}\t{p.opens}-{p.closes}\t"
                   f"{p.slot_minutes} min × {p.slot_capacity}\t{p.prefix}-n\t"
                   f"serves: {', '.join(villages.get(p.id, [])) or '-'}")


@pickup.command("slots")
@click.option("--point", "point_name", required=True)
@click.option("--date", "day", default=None, help="YYYY-MM-DD (default: today).")
def pickup_slots(point_name: str, day: str | None) -> None:
    """A point's slot lists for a day: pickup numbers, households, what to hand over."""
    from sqlalchemy import select

    from db.models import Outlet
    from gateway.orders.fulfilment import FulfilmentError
    from gateway.orders.sheets import slot_lists

    tz = cli_timezone(cli_settings())
    when = parse_date(day, tz)

    async def work(s: Any, settings: Any, f: Any) -> Any:
        point = (await s.execute(select(Outlet).where(
            Outlet.name == point_name.strip(), Outlet.pickup.is_(True)))).scalar_one_or_none()
        if point is None:
            raise FulfilmentError("no_point", f"no pickup point named {point_name!r}")
        return await slot_lists(s, point, when, tz)

    slots = _work(work)
    if not slots:
        click.echo(f"no pickups at {point_name} on {when}")
    for sl in slots:
        click.echo(f"{sl.start['hm']}-{sl.end['hm']}")
        for b in sl.bags:
            items = "、".join(f"{it.name}{it.quantity.normalize():f}{it.unit}" for it in b.items)
            click.echo(f"  {b.number}\t{b.name}\t{b.phone}\t{items}\t"
                       f"{'free' if b.supported else b.amount or ''}\t{b.status}")
