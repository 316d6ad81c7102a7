"""Migrations run from empty to head and back on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from db.migrate import current, downgrade, upgrade
from db.models import Base
from db.session import sync_url
from tests.conftest import PG_ADMIN_URL


def _pg_available() -> bool:
    try:
        engine = create_engine(sync_url(PG_ADMIN_URL))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"doorstep_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def head() -> str:
    """The one head of the migration chain (two heads would be a broken merge)."""
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    return heads[0]


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    assert current(empty_url) is None
    upgrade(empty_url)
    assert current(empty_url) == head()
    engine = create_engine(sync_url(empty_url))
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    downgrade(empty_url)
    assert current(empty_url) is None
    upgrade(empty_url)
    assert current(empty_url) == head()


def test_head_matches_models(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_engine(sync_url(empty_url))
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; write a migration: {diff}"
