"""What every command shares: settings loaded once with a clean error, a database for one
command, migrations before writing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

from gateway.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


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


def migrate(settings: Settings) -> None:
    from db.migrate import upgrade

    upgrade(settings.database_url)
