"""Alert rules of one PBX: queue_status_alert_rules.pbx.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

With several PBXes (PBXES) a rule may watch one of them: ``pbx`` holds its
name; NULL (every rule stored before this revision) watches every PBX.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "queue_status_alert_rules"
COLUMN = "pbx"


def upgrade() -> None:
    """Add the nullable column."""
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column(COLUMN, sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop it (every rule then watches every PBX)."""
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column(COLUMN)
