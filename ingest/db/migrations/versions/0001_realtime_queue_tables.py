"""Asterisk's realtime queue tables: queues, queue_members, queue_rules.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

The tables as Asterisk 22's ``contrib/realtime/postgresql/postgresql_config.sql``
leaves them (alembic head ``e89e30cee53f``), frozen here as a migration should be
rather than imported from ``ingest.db.models``. Each table and enum type is
created only when missing (``checkfirst``), so on a database where Asterisk's
tooling already made them this revision changes nothing but our version table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    # Named types on PostgreSQL; VARCHAR without CHECK on SQLite.
    return sa.Enum(*values, name=name, create_constraint=False)


_yesno = _enum("yesno_values", "yes", "no")
_ast_bool = _enum("ast_bool_values", "0", "1", "off", "on", "false", "true", "no", "yes")
_autopause = _enum("queue_autopause_values", "yes", "no", "all")
_strategy = _enum(
    "queue_strategy_values",
    "ringall",
    "leastrecent",
    "fewestcalls",
    "random",
    "rrmemory",
    "linear",
    "wrandom",
    "rrordered",
)


def _varchar(name: str, length: int, *, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _int(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer)


def _tables() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "queues",
        metadata,
        sa.Column("name", sa.String(128), primary_key=True),
        _varchar("musiconhold", 128),
        _varchar("announce", 128),
        _varchar("context", 128),
        _int("timeout"),
        sa.Column("ringinuse", _yesno),
        sa.Column("setinterfacevar", _yesno),
        sa.Column("setqueuevar", _yesno),
        sa.Column("setqueueentryvar", _yesno),
        _varchar("monitor_format", 8),
        _varchar("membermacro", 512),
        _varchar("membergosub", 512),
        _varchar("queue_youarenext", 128),
        _varchar("queue_thereare", 128),
        _varchar("queue_callswaiting", 128),
        _varchar("queue_quantity1", 128),
        _varchar("queue_quantity2", 128),
        _varchar("queue_holdtime", 128),
        _varchar("queue_minutes", 128),
        _varchar("queue_minute", 128),
        _varchar("queue_seconds", 128),
        _varchar("queue_thankyou", 128),
        _varchar("queue_callerannounce", 128),
        _varchar("queue_reporthold", 128),
        _int("announce_frequency"),
        sa.Column("announce_to_first_user", _yesno),
        _int("min_announce_frequency"),
        _int("announce_round_seconds"),
        _varchar("announce_holdtime", 128),
        _varchar("announce_position", 128),
        _int("announce_position_limit"),
        _varchar("periodic_announce", 50),
        _int("periodic_announce_frequency"),
        sa.Column("relative_periodic_announce", _yesno),
        sa.Column("random_periodic_announce", _yesno),
        _int("retry"),
        _int("wrapuptime"),
        _int("penaltymemberslimit"),
        sa.Column("autofill", _yesno),
        _varchar("monitor_type", 128),
        sa.Column("autopause", _autopause),
        _int("autopausedelay"),
        sa.Column("autopausebusy", _yesno),
        sa.Column("autopauseunavail", _yesno),
        _int("maxlen"),
        _int("servicelevel"),
        sa.Column("strategy", _strategy),
        _varchar("joinempty", 128),
        _varchar("leavewhenempty", 128),
        sa.Column("reportholdtime", _yesno),
        _int("memberdelay"),
        _int("weight"),
        sa.Column("timeoutrestart", _yesno),
        _varchar("defaultrule", 128),
        _varchar("timeoutpriority", 128),
        sa.Column("log_restricted_caller_id", _ast_bool),
    )
    sa.Table(
        "queue_members",
        metadata,
        sa.Column("queue_name", sa.String(80), primary_key=True),
        sa.Column("interface", sa.String(80), primary_key=True),
        _varchar("membername", 80),
        _varchar("state_interface", 80),
        _int("penalty"),
        _int("paused"),
        sa.Column("uniqueid", sa.Integer, nullable=False, unique=True, autoincrement=False),
        _int("wrapuptime"),
        sa.Column("ringinuse", _ast_bool),
        _varchar("reason_paused", 80),
    )
    sa.Table(
        "queue_rules",
        metadata,
        _varchar("rule_name", 80, nullable=False),
        _varchar("time", 32, nullable=False),
        _varchar("min_penalty", 32, nullable=False),
        _varchar("max_penalty", 32, nullable=False),
    )
    return metadata


def upgrade() -> None:
    """Create the enum types and tables that do not exist yet."""
    _tables().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    """Leave the tables: Asterisk reads them and may have created them itself."""
