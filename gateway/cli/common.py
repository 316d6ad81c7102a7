"""What every command shares: settings loaded once with a clean error, a database for one
command, migrations before writing, the demo gateway's Twilio token."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from gateway.settings import Settings, SettingsError, load_settings

T = TypeVar("T")

# Where `serve --demo` leaves its per-process Twilio token (owner-only), so that
# `doorstep simulate` run in the same folder can sign webhooks for it.
DEMO_TOKEN_FILE = "demo-twilio-token"


def cli_settings() -> Settings:
    """The settings from the environment; a bad value ends the command with its message."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def run(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    return asyncio.run(fn(*args))


async def with_db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from db.session import Database

    database = Database(settings.database_url)
    try:
        return await work(database)
    finally:
        await database.dispose()


def session_work(fn: Callable[[Any, Settings], Awaitable[T]],
                 errors: tuple[type[Exception], ...] = ()) -> T:
    """Migrate, then run `fn(session, settings)` in one transaction; the `errors` it raises
    become a clear message and exit status 1."""
    settings = cli_settings()
    migrate(settings)

    async def work(database: Any) -> T:
        async with database.session() as s:
            return await fn(s, settings)

    try:
        return run(with_db, settings, work)
    except errors as exc:
        raise click.ClickException(str(exc)) from None


def migrate(settings: Settings) -> None:
    from db.migrate import upgrade

    upgrade(settings.database_url)


def database_label(settings: Settings) -> str:
    """The database as a person can find it: the SQLite file's full path, or the server/db
    without credentials."""
    url = settings.database_url
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1] if ":///" in url else ""
        if not path or path == ":memory:":
            return url
        return str(Path(path).expanduser().resolve())
    return url.split("@")[-1]


def database_exists(settings: Settings) -> bool:
    """False only for a SQLite file that is not there yet (opening it would create it)."""
    url = settings.database_url
    if not url.startswith("sqlite") or ":///" not in url:
        return True
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return path in ("", ":memory:") or Path(path).expanduser().exists()


def wrote_to(settings: Settings) -> None:
    click.echo(f"database: {database_label(settings)}", err=True)


def demo_token_path(settings: Settings) -> Path:
    return settings.data_dir / DEMO_TOKEN_FILE


def write_demo_token(settings: Settings, token: str) -> Path:
    path = demo_token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return path


def twilio_token(settings: Settings) -> str:
    """TWILIO_AUTH_TOKEN, or the token of a `serve --demo` running from this folder."""
    if settings.twilio_auth_token:
        return settings.twilio_auth_token
    path = demo_token_path(settings)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise click.ClickException(
            "TWILIO_AUTH_TOKEN must be set (the same as the gateway's); a `doorstep serve "
            f"--demo` started in this folder leaves its token in {path}") from None


def read_input(read: Callable[[Path], T], file: Path, errors: tuple[type[Exception], ...]) -> T:
    """`read(file)`; a bad row (`errors`) or a bad encoding ends the command with a message
    naming the file."""
    try:
        return read(file)
    except (*errors, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
