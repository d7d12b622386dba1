"""Alembic environment: migrates the connection that ``ingest.db.migrate`` hands over.

``migrate()`` opens an async engine and calls Alembic inside
``AsyncConnection.run_sync``, so this file only sees a synchronous
``Connection``, already in the transaction that ``migrate()`` commits.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from ingest.db.migrate import VERSION_TABLE


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # No autogenerate: the schema is Asterisk's, revisions are written by hand.
        target_metadata=None,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(_connection, Connection):
    raise RuntimeError(
        "run migrations with `queue-status migrate` or ingest.db.migrate.migrate(url)"
    )
_run(_connection)
