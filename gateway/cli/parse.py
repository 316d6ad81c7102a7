"""`doorstep parse`: order texts to intent and items, as JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.common import cli_settings, read_input, run, with_db
from gateway.settings import Settings


@click.command()
@click.option("--locale", default=None, help="zh-CN (default) or ko-KR.")
@click.option("--catalog", "catalog_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), default=None, help="Use this CSV instead of the database.")
@click.argument("texts", nargs=-1)
def parse(locale: str | None, catalog_file: Path | None, texts: tuple[str, ...]) -> None:
    """Parse order texts into JSON lines (intent, items, unmatched); stdin if no TEXT."""
    from gateway.language import compile_language
    from gateway.language.locales import normalize_locale
    from gateway.orders.catalog import CatalogError, read_csv

    loc = normalize_locale(locale) if locale else None
    if catalog_file is not None:
        items = read_input(read_csv, catalog_file, (CatalogError,))
        loc = loc or "zh-CN"
    else:
        settings = cli_settings()
        loc = loc or settings.default_locale
        items = _db_catalog(settings, loc)
    lang = compile_language(loc, items)
    source = texts if texts else (line.rstrip("\r\n") for line in sys.stdin)
    for text in source:
        click.echo(json.dumps(lang.parse(text).to_dict(), ensure_ascii=False))


def _db_catalog(settings: Settings, locale: str) -> list[Any]:
    """Active products from the database; the demo catalogue if the database has none."""
    from gateway.orders.catalog import active_items, read_csv
    from gateway.orders.demo import demo_file

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return await active_items(s)

    from gateway.cli.common import database_exists

    items: list[Any] = []
    if database_exists(settings):  # reading never creates a SQLite file
        try:
            items = run(with_db, settings, work)
        except Exception:
            items = []
    if not items:
        click.echo("note: the database has no catalogue; using the demo catalogue", err=True)
        items = read_csv(demo_file("catalog", locale))
    return items
