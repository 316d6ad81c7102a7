"""The SMS webhook's storage behind one protocol: what a text needs stored and read, whichever
way it runs.

A text goes through two parts, each opened by `SmsStore`:
- `Intake`: store the text once (unique on its MessageSid) and count the number's recent texts,
  in one commit of its own; where the backend can, the number's conversation is read by the
  same statement (`Stored.prefetched`). An early answer (rate or size limit) is recorded here.
- `Step`: one conversation step: load the number's conversation row (created if new, held for
  the step), save it and record the answer to the text.

Implementations: `orm` (an AsyncSession: everything a text can need, orders included) and the
bare drivers `sqlite` and `postgres` (plain texts of registered residents only; anything else
raises `NeedsSession`). The caller (gateway.channels.twilio.sms) tries a bare driver first and
does the same part again on the ORM path when it raises `NeedsSession`, `Conflict` or
`Disconnected` (docs/reliability.md).

Imports only db (models, inbound, conversations, people, outbox, sqlite_inloop); the raw SQL
of the bare drivers is built from the models' tables in `sql`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

import db.inbound

if TYPE_CHECKING:
    from db.session import Database


class Conflict(Exception):
    """The conversation changed between reading and saving it (another process): nothing was
    saved; the caller does the step again on the ORM path."""


class Disconnected(Exception):
    """The driver connection is gone (server restarted, network, pool exhausted): the caller
    should do the same work on the ORM path, which reconnects."""


class NeedsSession(Exception):
    """A bare driver cannot take this text (it needs an order, a fact or a resident object):
    nothing was saved; the caller does the step again on the ORM path."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class ConversationRow:
    """A conversation as a step read it (plain values, no ORM object), and whether the
    inbound message being handled has been answered meanwhile, with that answer."""

    id: int
    state: str
    locale: str
    draft: dict[str, Any]
    failures: int
    expires_at: datetime | None
    answered: bool = False
    answer: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Loaded:
    """A number's conversation as one conversation step reads it, with its resident's facts."""

    row: ConversationRow
    resident_locale: str | None  # None: the number is not a registered resident
    resident_opted_out: bool


@dataclass(frozen=True)
class Stored(db.inbound.Stored):
    """`db.inbound.Stored` for a text, with what the intake read in passing."""

    recent: int | None = None  # texts from this number in the rate window, if it was asked
    prefetched: Loaded | None = None  # the number's conversation, if read in the same statement


class Intake(Protocol):
    """Storing one text: its statements run in one commit of their own."""

    async def store(self, *, channel: str, vendor_id: str, phone: str | None, body: str,
                    raw: dict[str, Any], rate_window: timedelta | None = None) -> Stored:
        """As `db.inbound.store`, with `recent` counted for a new text when `rate_window` is
        given."""

    async def resident_locale(self, phone: str) -> str | None: ...

    async def answer(self, inbound_id: int, *, response: str | None,
                     order_id: int | None) -> None: ...


class Step(Protocol):
    """One conversation step of one number."""

    bare: bool  # a bare driver: no session, plain texts only

    async def load(self, phone: str, inbound_id: int, guessed: str) -> Loaded:
        """The number's conversation, created (in locale `guessed`) if new, held until the
        step ends; NeedsSession on a bare driver if the sender is not a resident it serves."""

    def session(self, why: str = "orders") -> AsyncSession:
        """The step's session (orders, facts); NeedsSession(why) on a bare driver."""

    def resident(self) -> Any:
        """The sender's Resident (for an order); NeedsSession on a bare driver."""

    def set_opted_out(self, value: bool) -> None: ...

    async def finish(self, row: ConversationRow, *, state: str, draft: dict[str, Any],
                     failures: int, expires_at: datetime | None, locale: str, inbound_id: int,
                     response: str, order_id: int | None) -> None:
        """Save the conversation and record the answer; Conflict if the row changed since
        `load` read it (PostgreSQL's bare driver)."""

    def queued(self) -> bool:
        """Whether the step queued an outbound message (the outbox is to be woken)."""


# --- bare drivers ---------------------------------------------------------------------------------

class DriverTransaction(ABC):
    """One conversation step of one number on a bare driver."""

    @abstractmethod
    async def load(self, channel: str, key: str, *, locale: str, inbound_id: int) -> Loaded: ...

    @abstractmethod
    async def finish(self, row: ConversationRow, *, state: str, draft: dict[str, Any],
                     failures: int, expires_at: datetime | None, locale: str, inbound_id: int,
                     response: str) -> None:
        """Save the conversation and record the answer to the text; Conflict if the row
        changed since `load` read it."""


class Driver(ABC):
    """The plain-text statements of the SMS webhook on one database's bare driver; an
    `Intake` itself."""

    @abstractmethod
    async def store(self, *, channel: str, vendor_id: str, phone: str | None, body: str,
                    raw: dict[str, Any], rate_window: timedelta | None = None) -> Stored:
        """As `Intake.store`, committed at once; where the backend reads it in the same
        statement, the number's conversation comes back too (`prefetched`)."""

    @abstractmethod
    async def resident_locale(self, phone: str) -> str | None: ...

    @abstractmethod
    async def answer(self, inbound_id: int, *, response: str | None,
                     order_id: int | None) -> None: ...

    @abstractmethod
    def transaction(self) -> Any:
        """`async with driver.transaction() as tx:` commits on success, rolls back on error."""

    @abstractmethod
    async def close(self) -> None: ...


def driver_for_url(url: str) -> Driver | None:
    """The bare driver for a plain database URL; None where it cannot share the database (an
    in-memory SQLite lives in one connection only)."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        if not u.database or u.database == ":memory:" or u.database.startswith("file:"):
            return None
        from db.sms_store.sqlite import SqliteDriver

        return SqliteDriver(u.database)
    if backend in ("postgresql", "postgres"):
        from db.sms_store.postgres import PostgresDriver

        return PostgresDriver(u.set(drivername="postgresql").render_as_string(
            hide_password=False))
    return None


class BareStep:
    """One conversation step on a bare driver: a plain text from a registered resident that
    changes the draft; anything else raises NeedsSession (the transaction rolls back)."""

    bare = True

    def __init__(self, tx: DriverTransaction, channel: str,
                 prefetched: Loaded | None = None) -> None:
        self.tx, self.channel, self.prefetched = tx, channel, prefetched

    async def load(self, phone: str, inbound_id: int, guessed: str) -> Loaded:
        loaded = self.prefetched or await self.tx.load(self.channel, phone, locale=guessed,
                                                       inbound_id=inbound_id)
        if loaded.resident_locale is None or loaded.resident_opted_out:
            raise NeedsSession("sender")  # kept as an order for an operator
        return loaded

    def session(self, why: str = "orders") -> AsyncSession:
        raise NeedsSession(why)  # e.g. an order to make, or one to look up

    def resident(self) -> Any:
        raise NeedsSession("orders")

    def set_opted_out(self, value: bool) -> None:
        raise NeedsSession("opt-out")

    async def finish(self, row: ConversationRow, *, inbound_id: int, response: str,
                     order_id: int | None, **state: Any) -> None:
        await self.tx.finish(row, inbound_id=inbound_id, response=response, **state)

    def queued(self) -> bool:
        return False


# --- the store -----------------------------------------------------------------------------------

class SmsStore:
    """Hands out the intake and the steps of one channel's texts, on the ORM session or on the
    database's bare driver. On SQLite, writers take turns here (one writer at a time anyway;
    its busy loop is slow under load). `normalize`: a resident's stored locale to the one a
    new conversation row of theirs gets."""

    def __init__(self, database: Database, *, channel: str, bare: bool = True,
                 normalize: Callable[[str], str] = str) -> None:
        self.database, self.channel, self._bare = database, channel, bare
        self.normalize = normalize
        self._writer = asyncio.Lock() if database.is_sqlite else None

    @property
    def driver(self) -> Driver | None:
        """The bare driver, None when it is off or cannot run on this database."""
        return self.database.hot if self._bare else None  # type: ignore[no-any-return]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction on the ORM session; on SQLite one at a time."""
        if self._writer is None:
            async with self.database.session() as s:
                yield s
            return
        async with self._writer:
            async with self.database.session() as s:
                yield s

    @asynccontextmanager
    async def _driver(self) -> AsyncIterator[Driver]:
        driver = self.driver
        assert driver is not None
        if self._writer is None:
            yield driver
            return
        async with self._writer:
            yield driver

    @asynccontextmanager
    async def intake(self, *, bare: bool) -> AsyncIterator[Intake]:
        """`async with store.intake(bare=...) as it:` one commit of its own."""
        if bare:
            async with self._driver() as driver:
                yield driver
            return
        from db.sms_store.orm import OrmIntake

        async with self.transaction() as s:
            yield OrmIntake(s)

    @asynccontextmanager
    async def step(self, *, bare: bool, prefetched: Loaded | None = None
                   ) -> AsyncIterator[Step]:
        """`async with store.step(bare=...) as step:` committed on success, rolled back on
        error. `prefetched`: the conversation as the intake read it (bare only)."""
        if bare:
            async with self._driver() as driver:
                async with driver.transaction() as tx:
                    yield BareStep(tx, self.channel, prefetched)
            return
        from db.sms_store.orm import OrmStep

        async with self.transaction() as s:
            yield OrmStep(s, self.channel, self.normalize)
