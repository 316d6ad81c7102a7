"""`doorstep catalog`: import, export and list the shop's products."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gateway.cli.common import cli_settings, migrate, read_input, run, with_db, wrote_to


@click.group()
def catalog() -> None:
    """The shop's catalogue of products."""


@catalog.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalog_import(file: Path) -> None:
    """Import FILE.csv (sku,name,aliases,unit,units,price,category); updates by sku."""
    import db.catalog
    from gateway.orders.catalog import CatalogError, read_csv

    settings = cli_settings()
    items = read_input(read_csv, file, (CatalogError,))
    migrate(settings)
    wrote_to(settings)

    async def work(database: Any) -> Any:
        async with database.session() as s:
            return await db.catalog.import_items(s, items)

    r = run(with_db, settings, work)
    click.echo(f"{len(items)} products: {r.created} new, {r.updated} updated, "
               f"{r.unchanged} unchanged")


@catalog.command("export")
def catalog_export() -> None:
    """Print the catalogue as CSV (the import format)."""
    import db.catalog
    from gateway.orders.catalog import from_product, write_csv

    settings = cli_settings()

    async def work(database: Any) -> str:
        async with database.session() as s:
            return write_csv(from_product(p) for p in await db.catalog.list_products(s))

    click.echo(run(with_db, settings, work), nl=False)


@catalog.command("list")
def catalog_list() -> None:
    """List products."""
    import db.catalog

    settings = cli_settings()

    async def work(database: Any) -> list[Any]:
        async with database.session() as s:
            return list(await db.catalog.list_products(s))

    for p in run(with_db, settings, work):
        cols = [p.sku, p.name, p.unit, "|".join(p.units), str(p.price or ""), p.category]
        click.echo("\t".join(cols + ([] if p.active else ["(inactive)"])))
