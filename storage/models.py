"""Typed SQLAlchemy models: one class per concept in SPEC's table.

Every row carries `team_id`; uniqueness that the product promises (numbering,
one prompt per owner and period, one measurement per KPI and time, one open
alert per KPI, processed event ids) is enforced here, in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _utc_from_sqlite(value: str | None) -> datetime | None:
    """SQLite keeps our datetimes as naive UTC ISO strings: parsed with the offset
    appended they are aware in one C call (0.14 µs, where parsing and then
    `replace(tzinfo=UTC)` through the decorator cost about 2.5 µs — a 1,000-key-result
    report reads 2,000 of them)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # written with an offset of its own (raw SQL)
        return datetime.fromisoformat(value).astimezone(UTC)


class _SQLiteUTCDateTime(sqlite.DATETIME):
    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        return _utc_from_sqlite


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend: PostgreSQL's timestamptz comes
    back aware in UTC from asyncpg; SQLite, which has no zones, stores naive UTC and
    reads it back aware (`_utc_from_sqlite`)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return _SQLiteUTCDateTime()  # type: ignore[no-untyped-call]  # SQLAlchemy's own
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Workspace(Base):
    __tablename__ = "workspaces"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    # Counters behind O-<n> / KR-<n>: incremented with UPDATE … RETURNING,
    # which takes a row lock, so concurrent creations get distinct numbers.
    last_objective_number: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_key_result_number: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    installed: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # When Slack said the app was removed; the data is erased a grace period later.
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # When the time-zone cache was last refreshed from users.list for the whole team.
    users_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Admins' choices from the App Home; None keeps the environment's default.
    reminder_hours: Mapped[float | None] = mapped_column(Float)
    digest_delay_hours: Mapped[float | None] = mapped_column(Float)
    alert_repeat_hours: Mapped[float | None] = mapped_column(Float)
    # Missed periods in a row after which the objective's owner is told (None: never).
    escalate_after: Mapped[int | None] = mapped_column(Integer)
    # Bumped by database triggers (migration 0016) on every write that can make an owner
    # due a prompt; planning remembers the version and schedules it last answered "who
    # is due" for (`prompts_planned_key`) and the instants that answer holds for (no
    # owner's period starts or ends between `from` and `until`).
    planning_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", nullable=False
    )
    prompts_planned_key: Mapped[str | None] = mapped_column(String(255))
    prompts_planned_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prompts_planned_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Key-result owners the user cache lacks, as counted at `owners_missing_version`.
    owners_missing: Mapped[int | None] = mapped_column(Integer)
    owners_missing_version: Mapped[int | None] = mapped_column(Integer)


class Objective(Base):
    __tablename__ = "objectives"
    __table_args__ = (
        UniqueConstraint("team_id", "number"),
        UniqueConstraint("team_id", "key", name="uq_objectives_team_key"),
        Index("ix_objectives_team_channel", "team_id", "channel_id"),
        Index("ix_objectives_team_owner", "team_id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    key: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(32), nullable=False)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    cycle: Mapped[str] = mapped_column(String(16), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("objectives.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class KeyResult(Base):
    __tablename__ = "key_results"
    __table_args__ = (
        UniqueConstraint("team_id", "number"),
        Index("ix_key_results_objective", "objective_id"),
        Index("ix_key_results_team_owner", "team_id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    objective_id: Mapped[int] = mapped_column(
        ForeignKey("objectives.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # increase/decrease: start → target; range: [low, high]; boolean: 0 → 1.
    start_value: Mapped[float | None] = mapped_column(Float)
    target_value: Mapped[float | None] = mapped_column(Float)
    range_low: Mapped[float | None] = mapped_column(Float)
    range_high: Mapped[float | None] = mapped_column(Float)
    current_value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[int | None] = mapped_column(Integer)
    kpi_id: Mapped[int | None] = mapped_column(ForeignKey("kpis.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class CheckIn(Base):
    __tablename__ = "check_ins"
    __table_args__ = (
        Index("ix_check_ins_key_result_time", "key_result_id", "created_at"),
        Index("ix_check_ins_message", "team_id", "entered_by", "message_ts"),
        Index("ix_check_ins_key_result_period", "key_result_id", "period_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    key_result_id: Mapped[int] = mapped_column(
        ForeignKey("key_results.id", ondelete="CASCADE"), nullable=False
    )
    value: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    # For whom (the key result's owner) and who typed it (an admin or the objective's
    # owner may check in on someone's behalf).
    author_id: Mapped[str | None] = mapped_column(String(32))
    entered_by: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id", ondelete="SET NULL"))
    # The DM (its Slack ts) this check-in was read from: an edit of it replaces them.
    message_ts: Mapped[str | None] = mapped_column(String(32))
    # The owner's own weekly period this check-in counts for (the prompt it answers, or
    # the owner's local week): digests group by it, not by when it arrived. None on rows
    # older than migration 0015, which count by `created_at`.
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # `same` / `no change`: the period is answered, the value is the previous one.
    no_change: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class Schedule(Base):
    """Weekly check-in slot for a workspace (channel_id "") or one objective channel."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("team_id", "channel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    channel_id: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    weekday: Mapped[int] = mapped_column(Integer, nullable=False)  # 0 = Monday
    local_time: Mapped[str] = mapped_column(String(5), nullable=False)  # "HH:MM"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class SlackUser(Base):
    """Cache of `users.info`: time zone and admin flag, refreshed when old."""

    __tablename__ = "slack_users"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    tz: Mapped[str | None] = mapped_column(String(64))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Prompt(Base):
    """One check-in request per owner and period: the outbox row of its DM."""

    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id", "period_start"),
        Index("ix_prompts_state", "state"),
        Index("ix_prompts_reminders", "team_id", "state", "reminded_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The weekly slot ("0@09:00") this prompt is for: key results on another
    # channel's schedule get their own prompt at their own slot.
    slot: Mapped[str] = mapped_column(String(8), nullable=False, default="0@09:00")
    # pending → sent → answered; skipped (out that week) or away (`/okr away`).
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    # Where the reminder DM is, so answering updates it as well as the prompt.
    reminder_channel_id: Mapped[str | None] = mapped_column(String(32))
    reminder_ts: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    skipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Absence(Base):
    """Someone away until a day (inclusive, in their zone): no prompts or reminders
    for periods that begin before `ends_at`, and "away" in digests."""

    __tablename__ = "absences"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    until: Mapped[str] = mapped_column(String(10), nullable=False)  # "YYYY-MM-DD", their day
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # the next midnight
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Kpi(Base):
    __tablename__ = "kpis"
    __table_args__ = (UniqueConstraint("team_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    unit: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(32))
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    consecutive: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    min_history: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    expected_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    # The streaming detector's state after the newest evaluated measurement, so a
    # new value is judged without rereading the history (JSON text).
    detector_state: Mapped[str | None] = mapped_column(Text)
    last_measurement_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Measurement(Base):
    __tablename__ = "measurements"
    __table_args__ = (UniqueConstraint("kpi_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    kpi_id: Mapped[int] = mapped_column(ForeignKey("kpis.id", ondelete="CASCADE"), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="api")
    # The normal range in force when this value was judged (None while learning or for
    # values older than the newest one), so a chart shows the band as it was.
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per KPI and kind, on both backends.
        Index(
            "uq_alerts_one_open",
            "kpi_id",
            "kind",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    kpi_id: Mapped[int] = mapped_column(ForeignKey("kpis.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="range")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_value: Mapped[float | None] = mapped_column(Float)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    worst_value: Mapped[float | None] = mapped_column(Float)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    # The chart uploaded for the message (shown as an image block, kept on every edit).
    chart_file_id: Mapped[str | None] = mapped_column(String(32))
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_by: Mapped[str | None] = mapped_column(String(32))
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message okrbot must post exactly once: written first, then sent, then recorded.

    `dedupe_key` names the message's purpose (e.g. `prompt:42`), so however many
    ticks or replicas decide to send it, one row exists. A sender claims the row
    with a short lease it keeps alive by a heartbeat (the database's clock); a claim
    whose lease ran out has an unknown fate and is reconciled by looking for the
    row's id in the channel's message metadata. A sender only acts on a row while
    `claimed_by` still names it (a fencing token checked in every write).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("team_id", "dedupe_key"),
        Index("ix_outbox_state_due", "state", "due_at"),
        Index("ix_outbox_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # prompt|reminder|digest
    dedupe_key: Mapped[str] = mapped_column(String(200), nullable=False)
    recipient: Mapped[str] = mapped_column(String(32), nullable=False)  # user (DM) or channel
    ref_id: Mapped[int | None] = mapped_column(Integer)  # the prompt a prompt/reminder is for
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    # When to try next: planned time, or a retry's backoff after a transient failure.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While "sending": the database's clock at the claim or its sender's last heartbeat;
    # older than the lease means the sender is gone.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # the sender holding it
    # Posts tried (marked, and committed, just before each call): a row claimed with
    # attempts > 0 may already be in Slack, so it is reconciled before posting.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class DeliveryLeader(Base):
    """The one sender delivering a workspace's outbox now, so the workspace's Slack
    budget is spent by one process, not one per replica. Held with a lease on the
    database's clock, renewed by the holder's heartbeat, taken over when it runs out."""

    __tablename__ = "delivery_leaders"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.team_id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(64), nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ProcessedEvent(Base):
    """Slack `event_id`s already handled, so retried deliveries are ignored."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RequestSignature(Base):
    """Signatures of Slack requests already admitted, so a replayed request is refused.

    Slack signs each delivery afresh; a signature is only valid within five minutes of
    its timestamp, so rows older than that are pruned.
    """

    __tablename__ = "request_signatures"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
