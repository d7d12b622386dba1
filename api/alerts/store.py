"""The rules' table, `queue_status_alert_rules`: list, get, create, update, delete.

Every call is one short transaction. A database that is down or refuses the
statement becomes `Unavailable` (503 / UNAVAILABLE) whose message names no URL
and no value (a rule's webhook URL may hold a credential).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.alerts.rules import AlertRule, RuleKind, RuleSpec
from api.errors import NotFound, Unavailable
from ingest.db.engine import DatabaseUnavailable, database_errors
from ingest.db.models import AlertRuleRow

RULES: Table = AlertRuleRow.__table__  # type: ignore[assignment]
QUERY_TIMEOUT = 5.0


class RuleStore:
    """CRUD on the rules' table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(self) -> list[AlertRule]:
        """Every rule, by id."""
        async with self._connection("read the alert rules") as connection:
            rows = await connection.execute(select(RULES).order_by(RULES.c.id))
            return [_rule(row) for row in rows]

    async def get(self, rule_id: int) -> AlertRule:
        """One rule, or NotFound."""
        async with self._connection("read an alert rule") as connection:
            row = (await connection.execute(select(RULES).where(RULES.c.id == rule_id))).first()
        if row is None:
            raise NotFound(f"no alert rule {rule_id}")
        return _rule(row)

    async def create(self, spec: RuleSpec) -> AlertRule:
        """Store a new (validated) rule; it gets the next id."""
        async with self._connection("store an alert rule", write=True) as connection:
            row = (
                await connection.execute(insert(RULES).values(**_values(spec)).returning(RULES))
            ).one()
        return _rule(row)

    async def update(self, rule_id: int, spec: RuleSpec) -> AlertRule:
        """Replace rule `rule_id` with a (validated) spec, or NotFound."""
        async with self._connection("update an alert rule", write=True) as connection:
            row = (
                await connection.execute(
                    update(RULES)
                    .where(RULES.c.id == rule_id)
                    .values(**_values(spec))
                    .returning(RULES)
                )
            ).first()
        if row is None:
            raise NotFound(f"no alert rule {rule_id}")
        return _rule(row)

    async def delete(self, rule_id: int) -> AlertRule:
        """Remove rule `rule_id` and return it, or NotFound."""
        async with self._connection("delete an alert rule", write=True) as connection:
            row = (
                await connection.execute(
                    delete(RULES).where(RULES.c.id == rule_id).returning(RULES)
                )
            ).first()
        if row is None:
            raise NotFound(f"no alert rule {rule_id}")
        return _rule(row)

    @asynccontextmanager
    async def _connection(
        self, action: str, *, write: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        try:
            async with asyncio.timeout(QUERY_TIMEOUT), database_errors(self._engine, action):
                opened = self._engine.begin() if write else self._engine.connect()
                async with opened as connection:
                    yield connection
        except (DatabaseUnavailable, TimeoutError):
            raise Unavailable(f"cannot {action}: the database is unavailable") from None


def _values(spec: RuleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind.value,
        "queue": spec.queue,
        "threshold": spec.threshold,
        "window_minutes": spec.window_minutes,
        "reason": spec.reason,
        "clear_seconds": spec.clear_seconds,
        "clear_margin": spec.clear_margin,
        "enabled": spec.enabled,
        "webhook_url": spec.webhook_url,
        "pbx": spec.pbx,
        "updated_at": datetime.now(UTC),
    }


def _rule(row: Row[Any]) -> AlertRule:
    return AlertRule(
        id=int(row.id),
        name=row.name,
        kind=RuleKind(row.kind),
        threshold=float(row.threshold),
        queue=row.queue,
        window_minutes=row.window_minutes,
        reason=row.reason,
        clear_seconds=int(row.clear_seconds),
        clear_margin=float(row.clear_margin),
        enabled=bool(row.enabled),
        webhook_url=row.webhook_url,
        # SQLite (the demo) gives the stored UTC time back without its zone.
        updated_at=(
            row.updated_at.replace(tzinfo=UTC)
            if row.updated_at is not None and row.updated_at.tzinfo is None
            else row.updated_at
        ),
        pbx=row.pbx,
    )
