"""Create the realtime tables where they are missing, through Alembic.

The tables usually exist already: Asterisk's own tooling (``ast-db-manage``)
creates them and keeps its revision in ``alembic_version``. So our migrations
only add what is missing, never alter Asterisk's tables, and record our
revision in a table of our own, :data:`VERSION_TABLE`.

The Alembic configuration is built here, not read from an ``alembic.ini``, and
the scripts are found next to this module, so an installed package migrates
the same way as a checkout.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.dialects.postgresql.base import PGInspector
from sqlalchemy.engine import Connection

from ingest.db.engine import database_errors, make_engine

__all__ = ["MIGRATIONS_DIR", "VERSION_TABLE", "alembic_config", "migrate"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Not "alembic_version": that one is Asterisk's, holding Asterisk's revision.
VERSION_TABLE = "queue_status_alembic_version"
# Serializes concurrent migrations (several replicas starting at once) on PostgreSQL.
_ADVISORY_LOCK_KEY = 0x5155_4555_5354_4154  # "QUEUSTAT" in ASCII


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration; ``connection`` is what ``env.py`` migrates."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Explicit, so Alembic does not warn about the legacy separator.
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


async def migrate(url: str) -> list[str]:
    """Bring the database at ``url`` to the newest revision.

    Returns what it created, e.g. ``["type yesno_values", "table queues",
    "table queue_status_alembic_version"]``; an empty list when the database
    was already up to date. Raises :class:`~ingest.db.engine.DatabaseUnavailable`
    on database errors.

    Concurrent calls on PostgreSQL wait for each other (an advisory lock). On
    SQLite run one at a time: Alembic's ``context`` is process-global.
    """
    engine = make_engine(url)
    try:
        async with database_errors(engine, "migrate"), engine.begin() as connection:
            return await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection) -> list[str]:
    if connection.dialect.name == "postgresql":
        # Held until commit: a second migrate() waits, then finds nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    before = _schema_objects(connection)
    command.upgrade(alembic_config(connection), "head")
    return [name for name in _schema_objects(connection) if name not in before]


def _schema_objects(connection: Connection) -> list[str]:
    inspector = inspect(connection)
    types = []
    if isinstance(inspector, PGInspector):
        types = sorted(f"type {enum['name']}" for enum in inspector.get_enums())
    return types + sorted(f"table {table}" for table in inspector.get_table_names())
