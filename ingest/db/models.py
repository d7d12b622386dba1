"""Asterisk's realtime queue tables, column for column.

Asterisk owns this schema: its alembic tree (``contrib/ast-db-manage``) and the
generated ``contrib/realtime/postgresql/postgresql_config.sql`` define it, and
``app_queue`` reads and writes these rows through ``res_config_pgsql``. So the
models copy Asterisk exactly — names, types, nullability, physical order, no
defaults — instead of expressing our own preferences; a test compares them with
``information_schema`` after loading Asterisk's SQL.

On PostgreSQL the enum columns use Asterisk's named enum types. They are created
with ``checkfirst`` (SQLAlchemy's default for ``create_all``), so they work whether
Asterisk's tooling made them or we do. On SQLite, which has no enum types, they are
plain VARCHARs without a CHECK constraint.

Some tables are the product's own, not Asterisk's: ``queue_status_audit``
(:class:`AuditRecord`, one row per supervisor action), ``queue_call_records``
and ``queue_agent_intervals`` (:class:`CallRecordRow`, :class:`AgentIntervalRow`:
the durable KPI records) and ``queue_status_alert_rules`` (:class:`AlertRuleRow`,
the alert rules admins set), on a base of their own so that Asterisk's metadata
stays Asterisk's schema alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    CHAR,
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

YesNo = Literal["yes", "no"]
AstBool = Literal["0", "1", "off", "on", "false", "true", "no", "yes"]
QueueAutopause = Literal["yes", "no", "all"]
QueueStrategy = Literal[
    "ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom", "rrordered"
]


def _asterisk_enum(values: Any, name: str) -> TypeEngine[str]:
    labels: tuple[str, ...] = get_args(values)
    # PostgreSQL: Asterisk's named enum type (no CHECK constraint, like Asterisk's
    # schema). Elsewhere a VARCHAR as wide as the longest label that reads back
    # whatever is stored: app_queue is lax (ast_true() takes any spelling), and a
    # strict Enum would make one odd row fail the whole load.
    native = Enum(*labels, name=name, create_constraint=False)
    return String(max(map(len, labels))).with_variant(native, "postgresql")


# One object per type, shared by every column that uses it, so the type is
# created once per metadata.
yesno_values = _asterisk_enum(YesNo, "yesno_values")
ast_bool_values = _asterisk_enum(AstBool, "ast_bool_values")
queue_autopause_values = _asterisk_enum(QueueAutopause, "queue_autopause_values")
queue_strategy_values = _asterisk_enum(QueueStrategy, "queue_strategy_values")


class Base(DeclarativeBase):
    """Declarative base with its own MetaData: these tables belong to Asterisk."""

    metadata = MetaData()


class Queue(Base):
    """A row of ``queues``: a realtime queue (``[section]`` of queues.conf).

    ``app_queue`` applies each non-NULL column as the queues.conf option of the
    same name with ``_`` replaced by ``-``.
    """

    __tablename__ = "queues"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    musiconhold: Mapped[str | None] = mapped_column(String(128))
    announce: Mapped[str | None] = mapped_column(String(128))
    context: Mapped[str | None] = mapped_column(String(128))
    timeout: Mapped[int | None] = mapped_column(Integer)
    ringinuse: Mapped[YesNo | None] = mapped_column(yesno_values)
    setinterfacevar: Mapped[YesNo | None] = mapped_column(yesno_values)
    setqueuevar: Mapped[YesNo | None] = mapped_column(yesno_values)
    setqueueentryvar: Mapped[YesNo | None] = mapped_column(yesno_values)
    monitor_format: Mapped[str | None] = mapped_column(String(8))
    membermacro: Mapped[str | None] = mapped_column(String(512))
    membergosub: Mapped[str | None] = mapped_column(String(512))
    queue_youarenext: Mapped[str | None] = mapped_column(String(128))
    queue_thereare: Mapped[str | None] = mapped_column(String(128))
    queue_callswaiting: Mapped[str | None] = mapped_column(String(128))
    queue_quantity1: Mapped[str | None] = mapped_column(String(128))
    queue_quantity2: Mapped[str | None] = mapped_column(String(128))
    queue_holdtime: Mapped[str | None] = mapped_column(String(128))
    queue_minutes: Mapped[str | None] = mapped_column(String(128))
    queue_minute: Mapped[str | None] = mapped_column(String(128))
    queue_seconds: Mapped[str | None] = mapped_column(String(128))
    queue_thankyou: Mapped[str | None] = mapped_column(String(128))
    queue_callerannounce: Mapped[str | None] = mapped_column(String(128))
    queue_reporthold: Mapped[str | None] = mapped_column(String(128))
    announce_frequency: Mapped[int | None] = mapped_column(Integer)
    announce_to_first_user: Mapped[YesNo | None] = mapped_column(yesno_values)
    min_announce_frequency: Mapped[int | None] = mapped_column(Integer)
    announce_round_seconds: Mapped[int | None] = mapped_column(Integer)
    announce_holdtime: Mapped[str | None] = mapped_column(String(128))
    announce_position: Mapped[str | None] = mapped_column(String(128))
    announce_position_limit: Mapped[int | None] = mapped_column(Integer)
    periodic_announce: Mapped[str | None] = mapped_column(String(50))
    periodic_announce_frequency: Mapped[int | None] = mapped_column(Integer)
    relative_periodic_announce: Mapped[YesNo | None] = mapped_column(yesno_values)
    random_periodic_announce: Mapped[YesNo | None] = mapped_column(yesno_values)
    retry: Mapped[int | None] = mapped_column(Integer)
    wrapuptime: Mapped[int | None] = mapped_column(Integer)
    penaltymemberslimit: Mapped[int | None] = mapped_column(Integer)
    autofill: Mapped[YesNo | None] = mapped_column(yesno_values)
    monitor_type: Mapped[str | None] = mapped_column(String(128))
    autopause: Mapped[QueueAutopause | None] = mapped_column(queue_autopause_values)
    autopausedelay: Mapped[int | None] = mapped_column(Integer)
    autopausebusy: Mapped[YesNo | None] = mapped_column(yesno_values)
    autopauseunavail: Mapped[YesNo | None] = mapped_column(yesno_values)
    maxlen: Mapped[int | None] = mapped_column(Integer)
    servicelevel: Mapped[int | None] = mapped_column(Integer)
    strategy: Mapped[QueueStrategy | None] = mapped_column(queue_strategy_values)
    joinempty: Mapped[str | None] = mapped_column(String(128))
    leavewhenempty: Mapped[str | None] = mapped_column(String(128))
    reportholdtime: Mapped[YesNo | None] = mapped_column(yesno_values)
    memberdelay: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[int | None] = mapped_column(Integer)
    timeoutrestart: Mapped[YesNo | None] = mapped_column(yesno_values)
    defaultrule: Mapped[str | None] = mapped_column(String(128))
    timeoutpriority: Mapped[str | None] = mapped_column(String(128))
    log_restricted_caller_id: Mapped[AstBool | None] = mapped_column(ast_bool_values)


class QueueMember(Base):
    """A row of ``queue_members``: one interface in one queue (``Membership: realtime``).

    ``uniqueid`` is app_queue's key for the row (it writes ``paused`` and
    ``reason_paused`` back with ``WHERE uniqueid = ...``). PostgreSQL gets no
    sequence for it: whoever inserts a row must supply it.
    """

    __tablename__ = "queue_members"

    queue_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    interface: Mapped[str] = mapped_column(String(80), primary_key=True)
    membername: Mapped[str | None] = mapped_column(String(80))
    state_interface: Mapped[str | None] = mapped_column(String(80))
    penalty: Mapped[int | None] = mapped_column(Integer)
    paused: Mapped[int | None] = mapped_column(Integer)
    # autoincrement=False: Asterisk's PostgreSQL schema has no sequence here.
    uniqueid: Mapped[int] = mapped_column(Integer, unique=True, autoincrement=False)
    wrapuptime: Mapped[int | None] = mapped_column(Integer)
    ringinuse: Mapped[AstBool | None] = mapped_column(ast_bool_values)
    reason_paused: Mapped[str | None] = mapped_column(String(80))


class QueueRule(Base):
    """A row of ``queue_rules`` (queuerules.conf in the database, ``realtime_rules = yes``).

    The table has no primary key; the ORM needs one, so the mapper treats the
    whole row as its identity without adding a constraint to the table.
    """

    __tablename__ = "queue_rules"

    rule_name: Mapped[str] = mapped_column(String(80))
    time: Mapped[str] = mapped_column(String(32))
    min_penalty: Mapped[str] = mapped_column(String(32))
    max_penalty: Mapped[str] = mapped_column(String(32))

    __mapper_args__ = {"primary_key": [rule_name, time, min_penalty, max_penalty]}


class ProductBase(DeclarativeBase):
    """Declarative base of the product's own tables (not Asterisk's), its own MetaData."""

    metadata = MetaData()


# BIGINT identity on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the rowid (generated).
_audit_id = BigInteger().with_variant(Integer(), "sqlite")
# JSONB on PostgreSQL, JSON (text) elsewhere.
_json_object = JSON().with_variant(JSONB(), "postgresql")


class AuditRecord(ProductBase):
    """A row of ``queue_status_audit``: one supervisor action, accepted or refused.

    Written by ``api.audit.AuditTrail`` (batches, never blocking the action);
    ``outcome`` is ``ok``, ``pending``, ``refused`` (by us), ``rejected`` (by
    Asterisk) or ``failed`` (AMI down, a timeout); the token is named by its
    fingerprint only (first 8 hex digits of its SHA-256), never by itself.
    """

    __tablename__ = "queue_status_audit"

    id: Mapped[int] = mapped_column(_audit_id, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    role: Mapped[str | None] = mapped_column(Text)
    token_fingerprint: Mapped[str | None] = mapped_column(CHAR(8))
    scope: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    member_id: Mapped[str | None] = mapped_column(Text)
    arguments: Mapped[dict[str, Any]] = mapped_column(_json_object)
    outcome: Mapped[str] = mapped_column(Text)
    via: Mapped[str | None] = mapped_column(Text)
    asterisk_message: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_queue_status_audit_at", "at"),
        Index("ix_queue_status_audit_queue_at", "queue", "at"),
        Index("ix_queue_status_audit_member_id_at", "member_id", "at"),
    )


_KPI_INCLUDED = ["queue", "answered_at", "talk_time", "wrap_up_time", "hold_time", "outcome"]
"""What queueStats reads of a call, in its (pbx, entered_at) index on PostgreSQL."""


class CallRecordRow(ProductBase):
    """A row of ``queue_call_records``: one caller's stay in one queue (`CallRecord`).

    Unique on ``(pbx, record_key)``: ``ingest.records.repository.save_records``
    upserts on it, so a replayed event or a re-imported queue_log never adds a
    row. ``pbx`` is ``''`` while there is one PBX. Times are UTC; durations
    (``hold_time``, ``ring_time``, ``talk_time``, ``wrap_up_time``) whole seconds
    as Asterisk reports them.
    """

    __tablename__ = "queue_call_records"

    id: Mapped[int] = mapped_column(_audit_id, Identity(), primary_key=True)
    pbx: Mapped[str] = mapped_column(Text, server_default="")
    record_key: Mapped[str] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(Text)
    uniqueid: Mapped[str] = mapped_column(Text)
    linkedid: Mapped[str | None] = mapped_column(Text)
    caller_num: Mapped[str | None] = mapped_column(Text)
    caller_name: Mapped[str | None] = mapped_column(Text)
    entered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    position: Mapped[int | None] = mapped_column(Integer)
    original_position: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_by: Mapped[str | None] = mapped_column(Text)
    member_name: Mapped[str | None] = mapped_column(Text)
    ring_attempts: Mapped[int] = mapped_column(Integer)
    ring_no_answers: Mapped[int] = mapped_column(Integer)
    hold_time: Mapped[int | None] = mapped_column(Integer)
    ring_time: Mapped[int | None] = mapped_column(Integer)
    talk_time: Mapped[int | None] = mapped_column(Integer)
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(Text)
    abandon_position: Mapped[int | None] = mapped_column(Integer)
    timed_out: Mapped[bool | None] = mapped_column(Boolean(create_constraint=False))
    source: Mapped[str] = mapped_column(Text)
    transfer_target: Mapped[str | None] = mapped_column(Text)
    wrap_up_time: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("pbx", "record_key", name="uq_queue_call_records_pbx_record_key"),
        Index("ix_queue_call_records_pbx_queue_entered_at", "pbx", "queue", "entered_at"),
        Index(
            "ix_queue_call_records_pbx_answered_by_entered_at", "pbx", "answered_by", "entered_at"
        ),
        Index("ix_queue_call_records_ended_at", "ended_at"),
        Index(
            "ix_queue_call_records_pbx_entered_at",
            "pbx",
            "entered_at",
            postgresql_include=_KPI_INCLUDED,
        ),
    )


class AgentIntervalRow(ProductBase):
    """A row of ``queue_agent_intervals``: a closed interval of one member in one queue.

    Unique on ``(pbx, record_key)`` like :class:`CallRecordRow`; ``kind`` is an
    `IntervalKind` value (``logged_in``, ``paused``, ``ringing``, ``in_call``,
    ``wrap_up``).
    """

    __tablename__ = "queue_agent_intervals"

    id: Mapped[int] = mapped_column(_audit_id, Identity(), primary_key=True)
    pbx: Mapped[str] = mapped_column(Text, server_default="")
    record_key: Mapped[str] = mapped_column(Text)
    interface: Mapped[str] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    member_name: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    uniqueid: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("pbx", "record_key", name="uq_queue_agent_intervals_pbx_record_key"),
        Index(
            "ix_queue_agent_intervals_pbx_interface_started_at", "pbx", "interface", "started_at"
        ),
        Index("ix_queue_agent_intervals_pbx_queue_started_at", "pbx", "queue", "started_at"),
        Index("ix_queue_agent_intervals_ended_at", "ended_at"),
    )


class AlertRuleRow(ProductBase):
    """A row of ``queue_status_alert_rules``: one alert rule (``api.alerts.rules.AlertRule``).

    ``kind`` is a ``RuleKind`` value; ``queue`` NULL means every queue;
    ``window_minutes`` only for the service-level kind, ``reason`` only for the
    paused-operator kind. ``webhook_url`` may hold a credential: never logged.
    """

    __tablename__ = "queue_status_alert_rules"

    id: Mapped[int] = mapped_column(_audit_id, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    threshold: Mapped[float] = mapped_column(Float)
    window_minutes: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    clear_seconds: Mapped[int] = mapped_column(Integer)
    clear_margin: Mapped[float] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean(create_constraint=False))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pbx: Mapped[str | None] = mapped_column(Text)
    """The PBX it watches (PBXES); NULL: every PBX (revision 0006)."""
