"""The product's alert rules: queue_status_alert_rules, one row per rule an admin set.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Read whole by the alert engine (a handful of rows), so no index beyond the
primary key. Frozen here rather than imported from ``ingest.db.models``
(``AlertRuleRow`` describes the same table). BIGINT identity on PostgreSQL,
INTEGER PRIMARY KEY (the rowid) on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "queue_status_alert_rules"


def upgrade() -> None:
    """Create the alert rules table."""
    op.create_table(
        TABLE,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text()),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_minutes", sa.Integer()),
        sa.Column("reason", sa.Text()),
        sa.Column("clear_seconds", sa.Integer(), nullable=False),
        sa.Column("clear_margin", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("webhook_url", sa.Text()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the alert rules table (its rows with it)."""
    op.drop_table(TABLE)
