"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Asterisk may already have created (or may later create) what this revision
adds: create only what is missing, and never alter or drop Asterisk's tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    """Add what is missing."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Undo only what cannot belong to Asterisk."""
    ${downgrades if downgrades else "pass"}
