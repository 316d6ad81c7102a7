"""Typed SQLAlchemy 2 models: people, catalogue, orders and their history, inbound/outbound messages."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer,
    MetaData, Numeric, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORDER_STATUSES = (
    "draft", "confirmed", "assigned", "accepted", "purchased", "delivered",
    "cancelled", "unassigned", "needs_review",
)
CHANNELS = ("sms", "voice", "telegram", "console")
FULFIL_KINDS = ("leader", "run", "pickup")
NOTIFY_KINDS = ("sms", "call", "both")
VOICE_CALL_KINDS = ("callback", "notice", "question")
VOICE_CALL_STATUSES = ("pending", "calling", "heard", "answered", "gave_up", "cancelled")
STANDING_STATUSES = ("active", "paused", "stopped")
ROUND_STATES = ("asked", "confirmed", "skipped", "ordered")
RUN_STATUSES = ("scheduled", "cancelled", "done")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Resident(Base):
    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300), default="")
    village: Mapped[str] = mapped_column(String(100), default="", index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    preferred_leader_id: Mapped[int | None] = mapped_column(
        ForeignKey("leaders.id", ondelete="SET NULL"))
    registered_by: Mapped[str] = mapped_column(String(100), default="")
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # Collects at this pickup point instead of door delivery (else the village's, if any).
    pickup_outlet_id: Mapped[int | None] = mapped_column(
        ForeignKey("outlets.id", ondelete="SET NULL"))
    # How the resident is told about their orders' key steps: texts, short calls, or both.
    notify: Mapped[str] = mapped_column(String(8), default="sms", server_default="sms")
    # What their standing orders do when a week's question goes unanswered: skip | confirm
    # (gateway.orders.standing; each standing order keeps its own copy, set from this).
    standing_unconfirmed: Mapped[str] = mapped_column(String(8), default="skip",
                                                      server_default="skip")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("notify", NOTIFY_KINDS), name="notify_known"),
        CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name="lat_range"),
        CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name="lon_range"),
    )


class Leader(Base):
    __tablename__ = "leaders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_km: Mapped[float] = mapped_column(Float, default=5.0)
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    invite_code: Mapped[str] = mapped_column(String(64), unique=True)
    invite_used_at: Mapped[datetime | None] = mapped_column()
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("radius_km > 0", name="radius_positive"),
        CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("lat >= -90 AND lat <= 90", name="lat_range"),
        CheckConstraint("lon >= -180 AND lon <= 180", name="lon_range"),
    )


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    # Logging out ends every session issued before this moment (kept across restarts).
    sessions_revoked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    unit: Mapped[str] = mapped_column(String(16), default="")
    units: Mapped[list[Any]] = mapped_column(default=list)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    category: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Who the co-operative buys it from: a Supplier's name ("" = not set).
    supplier: Mapped[str] = mapped_column(String(100), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("price IS NULL OR price >= 0", name="price_nonnegative"),)


class InboundMessage(Base):
    """Every SMS, call webhook and Telegram update as received, before anything else happens."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    vendor_id: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()
    response: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("channel", "vendor_id", name="uq_inbound_vendor"),)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    channel: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str] = mapped_column(String(32), index=True)
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL"), index=True)
    leader_id: Mapped[int | None] = mapped_column(
        ForeignKey("leaders.id", ondelete="SET NULL"), index=True)
    transcript: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    # The resident was a supported (hardship) household when the order was confirmed: nothing
    # is collected at the door and the cost goes to the month's supported tally.
    supported: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # How the order reaches the resident (gateway.orders.fulfilment): a nearest leader, a
    # village run (which run, which stop), or a pickup point (which point, slot and number).
    # Set by the dispatcher's one rule; each choice is also an event. `promised` is what the
    # resident's confirmation said ("run:3", "pickup:2", "leader"), so a second text is sent
    # only when the choice differs from it.
    fulfil_kind: Mapped[str | None] = mapped_column(String(8))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"),
                                               index=True)
    run_stop_id: Mapped[int | None] = mapped_column(
        ForeignKey("run_stops.id", ondelete="SET NULL"))
    pickup_outlet_id: Mapped[int | None] = mapped_column(
        ForeignKey("outlets.id", ondelete="SET NULL"), index=True)
    slot_start: Mapped[datetime | None] = mapped_column()
    pickup_no: Mapped[str | None] = mapped_column(String(16))
    promised: Mapped[str | None] = mapped_column(String(32))
    # Ordered by a family member or carer for the resident (they are told too).
    proxy_id: Mapped[int | None] = mapped_column(ForeignKey("proxies.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id",
        lazy="selectin", foreign_keys="OrderItem.order_id")
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.id",
        lazy="selectin")
    resident: Mapped[Resident | None] = relationship(lazy="selectin")
    leader: Mapped[Leader | None] = relationship(lazy="selectin")
    recordings: Mapped[list[Recording]] = relationship(
        back_populates="order", order_by="Recording.id", lazy="selectin")
    run: Mapped[Run | None] = relationship(lazy="selectin")
    run_stop: Mapped[RunStop | None] = relationship(lazy="selectin")
    pickup_outlet: Mapped[Outlet | None] = relationship(lazy="selectin")
    proxy: Mapped[Proxy | None] = relationship(lazy="selectin")

    __table_args__ = (
        CheckConstraint(_in("status", ORDER_STATUSES), name="status_known"),
        CheckConstraint(_in("channel", CHANNELS), name="channel_known"),
        CheckConstraint("fulfil_kind IS NULL OR " + _in("fulfil_kind", FULFIL_KINDS),
                        name="fulfil_kind_known"),
    )


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit: Mapped[str] = mapped_column(String(16), default="")
    source_text: Mapped[str] = mapped_column(Text, default="")
    # The price per `unit` kept when the order was confirmed (gateway.orders.pricing); None:
    # not confirmed yet, or no price known.
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    # Out of stock in the resident's area at confirmation and kept as a back-order: None (an
    # ordinary line), "waiting" (not bought or delivered with the order), "sent" (it went out
    # on the follow-up order `backorder_order_id` once restocked).
    backorder: Mapped[str | None] = mapped_column(String(16))
    backorder_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"))

    order: Mapped[Order] = relationship(back_populates="items", foreign_keys=[order_id])

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("backorder IS NULL OR backorder IN ('waiting', 'sent')",
                        name="backorder_known"),
    )


class OrderEvent(Base):
    """One status change; rows are only ever added, so the history is never overwritten."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")

    order: Mapped[Order] = relationship(back_populates="events")


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="stream")  # stream | message
    path: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(64), default="audio/wav")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    vendor_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column()

    order: Mapped[Order | None] = relationship(back_populates="recordings")


class Conversation(Base):
    """Where a resident's SMS or call dialogue stands; kept in the database so restarts lose nothing."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))  # phone number, or CallSid for a call
    state: Mapped[str] = mapped_column(String(32), default="idle")
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    draft: Mapped[dict[str, Any]] = mapped_column(default=dict)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("channel", "key", name="uq_conversation_key"),)


class Task(Base):
    """An offer of an order to one leader, and what the leader did with it."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="offered")
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # The recording sent along with the offer, deleted with the details (see redacted_at).
    voice_message_id: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[datetime | None] = mapped_column()  # declined, expired, done, withdrawn
    # When the resident's details were removed from the leader's chat (hide_resident_after_days).
    redacted_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        CheckConstraint(
            _in("status", ("offered", "accepted", "declined", "expired", "done", "withdrawn")),
            name="status_known"),
        Index("ix_tasks_leader_status", "leader_id", "status"),
    )


class Outbox(Base):
    """An outbound SMS or Telegram message, sent by a retrying worker; never sent twice."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | telegram
    recipient: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    vendor_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        CheckConstraint(_in("status", ("pending", "sending", "sent", "failed")),
                        name="status_known"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )


class Supplier(Base):
    """Where the co-operative buys: a supermarket, a rice mill, an oil company, a wholesaler."""

    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


LEDGER_KINDS = ("received", "correction", "handed_over")


class LedgerEntry(Base):
    """Cash a leader collected or handed over; rows are only ever added (a correction is a
    new row with its reason), so the ledger is never edited in place."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id", ondelete="RESTRICT"),
                                           index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"),
                                                 index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Signed: received and corrections add to what the leader holds, a hand-over takes away.
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint(_in("kind", LEDGER_KINDS), name="kind_known"),)


# --- supply: stock, outlets and their shortage reports, supported households ---------------

STOCK_KINDS = ("out", "in")
SHORTAGE_KINDS = ("short", "restock")
SUPPORT_KINDS = ("grant", "revoke")


class StockChange(Base):
    """A product marked out of stock or back in, everywhere (`village` "") or in one village.
    Rows are only added: the latest row of a (sku, village) is its state."""

    __tablename__ = "stock_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    village: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint(_in("kind", STOCK_KINDS), name="kind_known"),
                      Index("ix_stock_changes_sku_village", "sku", "village", "id"))


class Outlet(Base):
    """A village service station or co-op shop whose staff report shortages on Telegram."""

    __tablename__ = "outlets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    village: Mapped[str] = mapped_column(String(100), default="", index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    invite_code: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A pickup point when `pickup` is set: residents collect here in slots of `slot_minutes`
    # between `opens` and `closes` (HH:MM, the co-operative's time), at most `slot_capacity`
    # households a slot, with numbers `<prefix>-<n>` counted per day.
    pickup: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    place: Mapped[str] = mapped_column(String(300), default="", server_default="")
    opens: Mapped[str] = mapped_column(String(5), default="08:00", server_default="08:00")
    closes: Mapped[str] = mapped_column(String(5), default="18:00", server_default="18:00")
    slot_minutes: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    slot_capacity: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    prefix: Mapped[str] = mapped_column(String(4), default="A", server_default="A")


class PickupVillage(Base):
    """Every resident of `village` collects at this pickup point (unless they have their own)."""

    __tablename__ = "pickup_villages"

    id: Mapped[int] = mapped_column(primary_key=True)
    village: Mapped[str] = mapped_column(String(100), unique=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"))


class PickupSeat(Base):
    """One household's place in a pickup slot. The unique keys make a slot's capacity and a
    day's pickup numbers hold across gateways on one database: a taken seat or number fails
    the insert, and the booking tries the next."""

    __tablename__ = "pickup_seats"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"))
    slot_start: Mapped[datetime] = mapped_column()
    seat: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    number: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          unique=True)

    __table_args__ = (
        UniqueConstraint("outlet_id", "slot_start", "seat", name="uq_pickup_seats_slot_seat"),
        UniqueConstraint("outlet_id", "day", "number", name="uq_pickup_seats_day_number"),
    )


class Run(Base):
    """A mobile-supermarket run to one or more villages: a vehicle and its leader, a departure,
    stops in order, and the cut-off for orders. Orders go onto it by the dispatcher's rule."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle: Mapped[str] = mapped_column(String(100), default="")
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("leaders.id", ondelete="SET NULL"))
    departs_at: Mapped[datetime] = mapped_column(index=True)
    cutoff_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    picking_sent_at: Mapped[datetime | None] = mapped_column()
    # When its residents were told it is on the way (at the departure; None: not yet).
    departure_told_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    villages: Mapped[list[RunVillage]] = relationship(
        cascade="all, delete-orphan", order_by="RunVillage.id", lazy="selectin")
    stops: Mapped[list[RunStop]] = relationship(
        cascade="all, delete-orphan", order_by="RunStop.seq", lazy="selectin")
    leader: Mapped[Leader | None] = relationship(lazy="selectin")

    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status_known"),)

    @property
    def village_names(self) -> list[str]:
        return [v.village for v in self.villages]


class RunVillage(Base):
    __tablename__ = "run_villages"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    village: Mapped[str] = mapped_column(String(100), index=True)

    __table_args__ = (UniqueConstraint("run_id", "village", name="uq_run_villages_run_village"),)


class RunStop(Base):
    """A stop of a run: where the vehicle waits (a village entrance, a square) and when."""

    __tablename__ = "run_stops"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    village: Mapped[str] = mapped_column(String(100), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    arrives_at: Mapped[datetime] = mapped_column()


class OutletStaff(Base):
    __tablename__ = "outlet_staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"),
                                           index=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(100), default="")
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShortageReport(Base):
    """An outlet's report that a product runs short (or is restocked); never edited."""

    __tablename__ = "shortage_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"),
                                           index=True)
    sku: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (CheckConstraint(_in("kind", SHORTAGE_KINDS), name="kind_known"),)


class SupportGrant(Base):
    """A resident marked as a supported household (特困/低保) until a day, or the end of it.
    Rows are only added; the latest row of a resident is their state."""

    __tablename__ = "support_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"),
                                             index=True)
    kind: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(32), default="")
    approved_by: Mapped[str] = mapped_column(String(100), default="")
    until: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint(_in("kind", SUPPORT_KINDS), name="kind_known"),)


# --- console login throttling -------------------------------------------------------------

class LoginAttempt(Base):
    """Console login attempts counted per key (`u:<name>|<address>`, `a:<address>`) in a
    window. A guess takes a slot here, atomically, before its password is checked, so at most
    the limit is ever evaluated per window however many arrive at once."""

    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(index=True)


# --- reaching residents: proxies, outbound calls, standing orders ------------------------------


class Proxy(Base):
    """A family member or carer who orders for a resident and is told about their orders.
    `relation` is what the proxy calls the resident (妈妈, 외할머니): "给妈妈订：…" finds them."""

    __tablename__ = "proxies"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"),
                                             index=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(32), default="")
    notify: Mapped[str] = mapped_column(String(8), default="sms", server_default="sms")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    resident: Mapped[Resident] = relationship(lazy="selectin")

    __table_args__ = (
        UniqueConstraint("resident_id", "phone", name="uq_proxies_resident_phone"),
        CheckConstraint(_in("notify", NOTIFY_KINDS), name="notify_known"),
    )


class VoiceCall(Base):
    """An outbound call Doorstep makes: a `callback` after a missed call (the ordering flow),
    or a spoken `notice` about an order ("press 1 if you heard this"). Each try is an outbox
    row (channel "call", key `call:<id>:<try>`), so a restart or an outage loses none and two
    gateways never place one try twice; Twilio's status callback decides the next try."""

    __tablename__ = "voice_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    text: Mapped[str] = mapped_column(Text, default="")
    fallback_text: Mapped[str] = mapped_column(Text, default="")
    tries: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    last_outcome: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(_in("kind", VOICE_CALL_KINDS), name="kind_known"),
        CheckConstraint(_in("status", VOICE_CALL_STATUSES), name="status_known"),
    )


class StandingOrder(Base):
    """A repeating order ("每周二一样"): weekly or every N weeks on a weekday, or on each run of
    the village's mobile supermarket. Before each occurrence the resident (or proxy) is asked;
    unanswered rounds are skipped or confirmed as `unconfirmed` says."""

    __tablename__ = "standing_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"),
                                             index=True)
    proxy_id: Mapped[int | None] = mapped_column(ForeignKey("proxies.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    items: Mapped[list[Any]] = mapped_column(default=list)
    weekday: Mapped[int | None] = mapped_column(Integer)  # 0 = Monday; None: on each run
    every_weeks: Mapped[int] = mapped_column(Integer, default=1)
    on_runs: Mapped[bool] = mapped_column(Boolean, default=False)
    start_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8), default="active", index=True)
    unconfirmed: Mapped[str] = mapped_column(String(8), default="skip")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    resident: Mapped[Resident] = relationship(lazy="selectin")

    __table_args__ = (
        CheckConstraint(_in("status", STANDING_STATUSES), name="status_known"),
        CheckConstraint("unconfirmed IN ('skip', 'confirm')", name="unconfirmed_known"),
    )


class StandingRound(Base):
    """One occurrence of a standing order: asked, then confirmed, skipped or ordered."""

    __tablename__ = "standing_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    standing_id: Mapped[int] = mapped_column(
        ForeignKey("standing_orders.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="asked")
    deadline: Mapped[datetime] = mapped_column()
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column()
    answered_by: Mapped[str] = mapped_column(String(100), default="")

    __table_args__ = (
        UniqueConstraint("standing_id", "day", name="uq_standing_rounds_standing_day"),
        CheckConstraint(_in("state", ROUND_STATES), name="state_known"),
    )
