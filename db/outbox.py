"""The outbox: enqueue in the same transaction as the change it reports, claim due rows, settle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence, cast

from sqlalchemy import ColumnElement, String, Table, bindparam, func, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from db.models import Outbox, utcnow

# A row stuck in 'sending' this long (its worker died mid-send) is tried again.
SENDING_LEASE = timedelta(minutes=2)
QUEUED = "doorstep.outbox_queued"  # session.info key
# The idempotency key of the resident's text about one order event: order:<id>:event:<id>:sms
_EVENT_SMS_KEY = ("order:", ":event:", ":sms")


def event_sms_key(order_id: int, event_id: int) -> str:
    """The outbox idempotency key of the text about one order event."""
    head, mid, tail = _EVENT_SMS_KEY
    return f"{head}{order_id}{mid}{event_id}{tail}"


def event_sms_key_sql(order_id: ColumnElement[Any] | QueryableAttribute[Any],
                      event_id: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[str]:
    """`event_sms_key` as an SQL expression of two id columns (to look the key up in a query)."""
    head, mid, tail = _EVENT_SMS_KEY
    return literal(head) + sql_cast(order_id, String) + literal(mid) \
        + sql_cast(event_id, String) + literal(tail)


_OUTBOX = cast(Table, Outbox.__table__)
_MARK_SENT = _OUTBOX.update().where(_OUTBOX.c.id == bindparam("row_id")).values(
    status="sent", sent_at=bindparam("now"), vendor_id=bindparam("vendor_id"), last_error=None,
    attempts=_OUTBOX.c.attempts + 1)


async def enqueue(session: AsyncSession, *, channel: str, recipient: str, body: str,
                  idempotency_key: str, payload: dict[str, Any] | None = None,
                  not_before: datetime | None = None) -> bool:
    """Queue a message once per idempotency key; returns False if the key was already queued."""
    values = dict(channel=channel, recipient=recipient, body=body, payload=payload or {},
                  idempotency_key=idempotency_key, status="pending", attempts=0,
                  next_attempt_at=not_before or utcnow(), created_at=utcnow())
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    ins = pg_insert(Outbox) if dialect == "postgresql" else sqlite_insert(Outbox)
    stmt = ins.values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    result = await session.execute(stmt)
    queued = bool(result.rowcount)  # type: ignore[attr-defined]
    if queued:  # callers wake the outbox worker after the commit only if something was queued
        session.info[QUEUED] = True
    return queued


def queued_in(session: AsyncSession) -> bool:
    """Whether `enqueue` queued anything in this session."""
    return bool(session.info.get(QUEUED))


async def claim_due(session: AsyncSession, *, limit: int = 20, now: datetime | None = None,
                    channels: Sequence[str] | None = None,
                    lease: timedelta = SENDING_LEASE) -> list[Outbox]:
    """Mark up to `limit` due rows as 'sending' and return them. On PostgreSQL rows locked by
    another worker are skipped, so two gateways never take the same message. Rows 'sending'
    for longer than `lease` are taken again: their worker died mid-send, or the connection
    was lost as the claim committed (the claim went through, its worker never heard)."""
    now = now or utcnow()
    due = (Outbox.status == "pending") & (Outbox.next_attempt_at <= now)
    stale = (Outbox.status == "sending") & (Outbox.next_attempt_at <= now - lease)
    q = select(Outbox).where(due | stale)
    if channels:
        q = q.where(Outbox.channel.in_(channels))
    q = q.order_by(Outbox.next_attempt_at, Outbox.id).limit(limit)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = list((await session.execute(q)).scalars())
    for r in rows:
        if r.status == "sending":  # its worker died mid-send: that try may have gone out,
            r.attempts += 1        # so the sender checks with the vendor before sending again
        r.status = "sending"
        r.next_attempt_at = now
    await session.flush()
    return rows


async def renew(session: AsyncSession, row_id: int, claimed_at: datetime,
                now: datetime | None = None) -> datetime | None:
    """Start this worker's lease on a claimed row afresh, just before sending it; None when the
    row is no longer ours (its lease ran out and another worker claimed it, or it was settled).
    The claim's own `next_attempt_at` is the token: a worker that re-claims the row sets it to
    its own time, so the conditional update finds nothing."""
    now = max(now or utcnow(), claimed_at + timedelta(microseconds=1))
    conn = await session.connection()
    result = await conn.execute(_OUTBOX.update().where(
        (_OUTBOX.c.id == row_id) & (_OUTBOX.c.status == "sending")
        & (_OUTBOX.c.next_attempt_at == claimed_at)).values(next_attempt_at=now))
    return now if result.rowcount == 1 else None


async def mark_sent(session: AsyncSession, row_id: int, vendor_id: str | None = None) -> None:
    conn = await session.connection()  # Core: no ORM bookkeeping for a row nobody holds
    await conn.execute(_MARK_SENT, {"row_id": row_id, "now": utcnow(), "vendor_id": vendor_id})


async def mark_failed(session: AsyncSession, row_id: int, error: str, *, retry_in: float | None,
                      ) -> None:
    """Record a failed attempt; `retry_in` seconds until the next try, or None to give up."""
    values: dict[str, Any] = dict(attempts=_OUTBOX.c.attempts + 1, last_error=error[:2000])
    if retry_in is None:
        values["status"] = "failed"
    else:
        values.update(status="pending", next_attempt_at=utcnow() + timedelta(seconds=retry_in))
    conn = await session.connection()
    await conn.execute(_OUTBOX.update().where(_OUTBOX.c.id == row_id).values(**values))


async def depth(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Outbox.status, func.count(Outbox.id)).group_by(Outbox.status))
    return {s: int(n) for s, n in rows.all()}
