"""The bare drivers' SQL text (db.sms_store.sql) against the schema: every statement is compiled
by the database the migrations made, and its names come from the models."""

from __future__ import annotations

import re
import sqlite3

import pytest
from sqlalchemy.engine import make_url

from db.models import Conversation, InboundMessage, Resident
from db.session import Database
from db.sms_store import sql


def statements() -> dict[str, str]:
    found = {name: value for name, value in vars(sql).items()
             if name.isupper() and not name.startswith("_") and isinstance(value, str)
             and name != "EMPTY_DRAFT"}
    for counted, value in sql.STORE_AND_READ_PG.items():
        found[f"STORE_AND_READ_PG[{counted}]"] = value
    return found


def test_every_name_in_the_sql_is_a_model_table_or_column() -> None:
    known = {t.name for t in (m.__table__ for m in (InboundMessage, Conversation, Resident))}
    for m in (InboundMessage, Conversation, Resident):
        known |= {c.name for c in m.__table__.c}
    for name, statement in statements().items():
        quoted = set(re.findall(r'"([^"]+)"', statement))
        assert quoted and quoted <= known, (name, quoted - known)


def test_a_name_the_model_lacks_fails_at_once() -> None:
    with pytest.raises(AttributeError):
        sql.I.sender  # noqa: B018


async def test_every_statement_compiles_on_the_migrated_database(database: Database) -> None:
    """SQLite's EXPLAIN and PostgreSQL's PREPARE resolve every table and column."""
    pg = not database.is_sqlite
    if not pg:
        conn = sqlite3.connect(make_url(database.url).database or "")
        try:
            for name, statement in statements().items():
                if name.endswith("_PG") or "_PG[" in name:
                    continue  # PostgreSQL's own statements
                params = max((int(n) for n in re.findall(r"\$(\d+)", statement)), default=0)
                conn.execute("EXPLAIN " + sql.sqlite_sql(statement), [None] * params)
        finally:
            conn.close()
        return
    import asyncpg

    conn = await asyncpg.connect(make_url(database.url).set(drivername="postgresql")
                                 .render_as_string(hide_password=False))
    try:
        for name, statement in statements().items():
            if name.endswith("_SQLITE"):
                continue  # SQLite's own statement
            await conn.prepare(statement)
    finally:
        await conn.close()
