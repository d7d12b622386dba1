"""Each call record carries its after-call work: queue_call_records.wrap_up_time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

The average handle time (talk + wrap-up) used to join every completed call to
the WRAP_UP interval the builder opened when it ended; the call now carries
that time itself (seconds, NULL when unknown), so the KPI reads one table.
Calls recorded before this revision get it from that same interval (the
member's, in the call's queue, for that caller, starting when the call ended).

And an index for ``queueStats`` over all queues (the wallboard's query): its
calls by ``(pbx, entered_at)``, with the columns it aggregates included on
PostgreSQL, so a day of calls is read from the index alone once vacuum has
seen them (SQLite has no INCLUDE: the key columns only).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALLS = "queue_call_records"
COLUMN = "wrap_up_time"
KPI_INDEX = "ix_queue_call_records_pbx_entered_at"
KPI_INCLUDED = [
    "queue", "answered_at", "talk_time", "wrap_up_time", "hold_time", "outcome",
]  # fmt: skip

_SECONDS = {
    "postgresql": "round(extract(epoch FROM w.ended_at - w.started_at))",
    # Times are naive UTC text on SQLite.
    "sqlite": "round((julianday(w.ended_at) - julianday(w.started_at)) * 86400)",
}
_BACKFILL = """
UPDATE queue_call_records AS c SET wrap_up_time = CAST({seconds} AS INTEGER)
FROM queue_agent_intervals AS w
WHERE w.kind = 'wrap_up' AND w.pbx = c.pbx AND w.queue = c.queue
  AND w.uniqueid = c.uniqueid AND w.interface = c.answered_by AND w.started_at = c.ended_at
  AND c.talk_time IS NOT NULL
"""


def upgrade() -> None:
    """Add the column and fill it for the calls already recorded."""
    op.add_column(CALLS, sa.Column(COLUMN, sa.Integer(), nullable=True))
    dialect = op.get_bind().dialect.name
    op.execute(_BACKFILL.format(seconds=_SECONDS.get(dialect, _SECONDS["sqlite"])))
    op.create_index(KPI_INDEX, CALLS, ["pbx", "entered_at"], postgresql_include=KPI_INCLUDED)


def downgrade() -> None:
    """Drop the index and the column (the WRAP_UP intervals still hold the wrap-ups)."""
    op.drop_index(KPI_INDEX, table_name=CALLS)
    with op.batch_alter_table(CALLS) as batch:
        batch.drop_column(COLUMN)
