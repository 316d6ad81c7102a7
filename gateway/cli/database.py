"""`doorstep db`: schema migrations."""

from __future__ import annotations

import click

from gateway.cli.common import cli_settings


@click.group("db")
def db_group() -> None:
    """Database schema management."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Run Alembic migrations up to head (or REVISION)."""
    from db.migrate import current, upgrade

    settings = cli_settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at revision {current(settings.database_url)}")
