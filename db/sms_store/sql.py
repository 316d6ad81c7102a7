"""The bare drivers' SQL text, shared by `sqlite` and `postgres`, written once with `$n`
placeholders (SQLite reads them as `?n`), and the decoding of the rows they return.

Every table and column name in it comes from the models' tables (`_Names`): a column renamed
or dropped in db.models fails at import, not on the first text. Values are stored exactly as
SQLAlchemy stores them (JSON via `json.dumps`; on SQLite, UTC datetimes as
"YYYY-MM-DD HH:MM:SS.ffffff"), so either path reads what the other wrote.

Imports only db.models and db.sms_store's dataclasses.
"""

from __future__ import annotations

import json
from typing import Any, Callable, cast

from sqlalchemy import Table

from db.models import Conversation, InboundMessage, Resident
from db.sms_store import ConversationRow, Loaded


class _Names:
    """A model's table name (`str(names)`) and its column names (`names.<column>`), quoted for
    SQL text; a column the table does not have raises AttributeError."""

    def __init__(self, model: Any) -> None:
        self._table = cast(Table, model.__table__)

    def __str__(self) -> str:
        return _quote(self._table.name)

    def __getattr__(self, name: str) -> str:
        try:
            return _quote(self._table.c[name].name)
        except KeyError:
            raise AttributeError(f"{self._table.name} has no column {name!r}") from None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


I, C, R = _Names(InboundMessage), _Names(Conversation), _Names(Resident)

STORE = f"""
INSERT INTO {I} ({I.channel}, {I.vendor_id}, {I.phone}, {I.body}, {I.raw}, {I.received_at})
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT ({I.channel}, {I.vendor_id}) DO NOTHING RETURNING {I.id}"""
STORED = f"SELECT {I.id}, {I.processed_at}, {I.response} FROM {I} " \
         f"WHERE {I.channel} = $1 AND {I.vendor_id} = $2"
RECENT = f"SELECT count({I.id}) FROM {I} " \
         f"WHERE {I.channel} = $1 AND {I.phone} = $2 AND {I.received_at} >= $3"
RESIDENT_LOCALE = f"SELECT {R.locale} FROM {R} WHERE {R.phone} = $1"
ANSWER = f"UPDATE {I} SET {I.processed_at} = $2, {I.response} = $3, {I.order_id} = $4 " \
         f"WHERE {I.id} = $1"


def _answered_and_resident(inbound: str, phone: str) -> str:
    return f"""
    (SELECT {I.processed_at} FROM {I} WHERE {I.id} = {inbound}),
    (SELECT {I.response} FROM {I} WHERE {I.id} = {inbound}),
    (SELECT {R.locale} FROM {R} WHERE {R.phone} = {phone}),
    (SELECT {R.opted_out} FROM {R} WHERE {R.phone} = {phone})"""


_ROW = f"{C.id}, {C.state}, {C.locale}, {C.draft}, {C.failures}, {C.expires_at}"

# SQLite, in a BEGIN IMMEDIATE transaction: the conversation, created if new, in one statement;
# the subqueries tell whether the text was answered meanwhile and who the sender is.
LOAD_SQLITE = f"""
INSERT INTO {C} ({C.channel}, {C.key}, {C.state}, {C.locale}, {C.draft}, {C.failures},
    {C.updated_at})
VALUES ($1, $2, 'idle', $3, $4, 0, $5)
ON CONFLICT ({C.channel}, {C.key}) DO UPDATE SET {C.key} = excluded.{C.key}
RETURNING {_ROW}, {_answered_and_resident("$6", "$2")},
    {C.updated_at}"""
SAVE = f"UPDATE {C} SET {C.state} = $2, {C.draft} = $3, {C.failures} = $4, " \
       f"{C.expires_at} = $5, {C.locale} = $6, {C.updated_at} = $7 WHERE {C.id} = $1"
# PostgreSQL, without a transaction around the step (a BEGIN and a COMMIT are two round trips
# and half the server's work per text): read the row, then save it only if nobody changed it
# since (its updated_at), together with the answer, in one statement. Texts of one number are
# taken one at a time in a process; a change by another process (or the sweeper) makes the
# save touch nothing, and the caller does the step again on the ORM path, which locks the row.
LOAD_PG = f"""
SELECT {_ROW}, {_answered_and_resident("$3", "$2")},
    {C.updated_at}
FROM {C} WHERE {C.channel} = $1 AND {C.key} = $2"""
CREATE_PG = f"""
INSERT INTO {C} ({C.channel}, {C.key}, {C.state}, {C.locale}, {C.draft}, {C.failures},
    {C.updated_at})
VALUES ($1, $2, 'idle', $3, $4, 0, $5) ON CONFLICT ({C.channel}, {C.key}) DO NOTHING"""
SAVE_AND_ANSWER_PG = f"""
WITH saved AS (
    UPDATE {C} SET {C.state} = $2, {C.draft} = $3, {C.failures} = $4, {C.expires_at} = $5,
        {C.locale} = $6, {C.updated_at} = $7
    WHERE {C.id} = $1 AND {C.updated_at} = $10 RETURNING {C.id})
UPDATE {I} SET {I.processed_at} = $7, {I.response} = $8, {I.order_id} = NULL
WHERE {I.id} = $9 AND EXISTS (SELECT 1 FROM saved) RETURNING {I.id}"""
_COUNTED = f""",
    1 + (SELECT count({I.id}) FROM {I}
         WHERE {I.channel} = $1 AND {I.phone} = $3 AND {I.received_at} >= $7)"""
# The text stored and, in the same statement, the number's conversation read for the step that
# follows (its save checks that nobody changed it since) and, if asked, the number's recent
# texts (the new row is not visible to the rest of its own statement, hence the 1 +).
STORE_AND_READ_PG = {counted: f"""
WITH stored AS ({STORE})
SELECT stored.{I.id}, c.{C.id}, c.{C.state}, c.{C.locale}, c.{C.draft}, c.{C.failures},
    c.{C.expires_at}, NULL, NULL,
    (SELECT {R.locale} FROM {R} WHERE {R.phone} = $3),
    (SELECT {R.opted_out} FROM {R} WHERE {R.phone} = $3),
    c.{C.updated_at}{_COUNTED if counted else ""}
FROM stored LEFT JOIN {C} c ON c.{C.channel} = $1 AND c.{C.key} = $3"""
                     for counted in (False, True)}
EMPTY_DRAFT = json.dumps({})


def sqlite_sql(sql: str) -> str:
    return sql.replace("$", "?")  # ?NNN: SQLite's numbered parameters


def loaded(r: Any, decode: Callable[[Any], Any], parse_dt: Callable[[Any], Any]) -> Loaded:
    """A row of LOAD_SQLITE / LOAD_PG (or the conversation part of STORE_AND_READ_PG)."""
    draft = decode(r[3]) if r[3] is not None else {}
    row = ConversationRow(id=int(r[0]), state=r[1], locale=r[2],
                          draft=draft if isinstance(draft, dict) else {},
                          failures=int(r[4] or 0), expires_at=parse_dt(r[5]),
                          answered=r[6] is not None, answer=r[7], updated_at=parse_dt(r[10]))
    return Loaded(row, r[8], bool(r[9]) if r[9] is not None else False)
