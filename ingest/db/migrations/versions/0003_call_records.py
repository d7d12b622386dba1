"""The product's durable KPI records: queue_call_records and queue_agent_intervals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

One row per queued call and per closed agent interval, unique on
``(pbx, record_key)`` so that the writer and ``import-queue-log`` upsert and
never double-count. Indexed for KPIs per queue and per member over a time
range, and for retention (``ended_at``). Frozen here rather than imported from
``ingest.db.models`` (``CallRecordRow`` and ``AgentIntervalRow`` describe the
same tables; a test compares them). BIGINT identity on PostgreSQL, INTEGER
PRIMARY KEY (the rowid) on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALLS = "queue_call_records"
INTERVALS = "queue_agent_intervals"
INDEXES = {
    CALLS: {
        "ix_queue_call_records_pbx_queue_entered_at": ["pbx", "queue", "entered_at"],
        "ix_queue_call_records_pbx_answered_by_entered_at": ["pbx", "answered_by", "entered_at"],
        "ix_queue_call_records_ended_at": ["ended_at"],
    },
    INTERVALS: {
        "ix_queue_agent_intervals_pbx_interface_started_at": ["pbx", "interface", "started_at"],
        "ix_queue_agent_intervals_pbx_queue_started_at": ["pbx", "queue", "started_at"],
        "ix_queue_agent_intervals_ended_at": ["ended_at"],
    },
}


def _key_columns(table: str) -> list[SchemaItem]:
    return [
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("pbx", sa.Text(), nullable=False, server_default=""),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.UniqueConstraint("pbx", "record_key", name=f"uq_{table}_pbx_record_key"),
    ]


def _text(name: str, *, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _int(name: str, *, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def _time(name: str, *, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create both record tables and their indexes."""
    op.create_table(
        CALLS,
        *_key_columns(CALLS),
        _text("queue", nullable=False),
        _text("uniqueid", nullable=False),
        _text("linkedid"),
        _text("caller_num"),
        _text("caller_name"),
        _time("entered_at"),
        _int("position"),
        _int("original_position"),
        _time("answered_at"),
        _text("answered_by"),
        _text("member_name"),
        _int("ring_attempts", nullable=False),
        _int("ring_no_answers", nullable=False),
        _int("hold_time"),
        _int("ring_time"),
        _int("talk_time"),
        _time("ended_at", nullable=False),
        _text("outcome", nullable=False),
        _int("abandon_position"),
        sa.Column("timed_out", sa.Boolean(create_constraint=False)),
        _text("source", nullable=False),
        _text("transfer_target"),
    )
    op.create_table(
        INTERVALS,
        *_key_columns(INTERVALS),
        _text("interface", nullable=False),
        _text("queue", nullable=False),
        _text("kind", nullable=False),
        _time("started_at", nullable=False),
        _time("ended_at", nullable=False),
        _text("member_name"),
        _text("reason"),
        _text("uniqueid"),
        _text("source", nullable=False),
    )
    for table, indexes in INDEXES.items():
        for name, columns in indexes.items():
            op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop both record tables (their rows with them)."""
    for table, indexes in INDEXES.items():
        for name in indexes:
            op.drop_index(name, table_name=table)
        op.drop_table(table)
