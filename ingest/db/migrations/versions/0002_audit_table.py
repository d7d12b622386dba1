"""The product's own audit table: queue_status_audit, one row per supervisor action.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Not Asterisk's: it sits beside the realtime tables and Asterisk never reads it.
Frozen here as a migration should be rather than imported from
``ingest.db.models`` (``AuditRecord`` describes the same table; a test compares
the two). BIGINT identity and JSONB on PostgreSQL; on SQLite (the demo) an
INTEGER PRIMARY KEY (the rowid) and JSON as text.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "queue_status_audit"
INDEXES = {
    "ix_queue_status_audit_at": ["at"],
    "ix_queue_status_audit_queue_at": ["queue", "at"],
    "ix_queue_status_audit_member_id_at": ["member_id", "at"],
}


def upgrade() -> None:
    """Create the audit table and the indexes its readers use."""
    op.create_table(
        TABLE,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.Text()),
        sa.Column("token_fingerprint", sa.CHAR(8)),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text()),
        sa.Column("member_id", sa.Text()),
        sa.Column("arguments", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("via", sa.Text()),
        sa.Column("asterisk_message", sa.Text()),
        sa.Column("message", sa.Text()),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, TABLE, columns)


def downgrade() -> None:
    """Drop the audit table (its rows with it)."""
    for name in INDEXES:
        op.drop_index(name, table_name=TABLE)
    op.drop_table(TABLE)
