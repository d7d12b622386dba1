"""The service level of the last M minutes, per queue, from `queue_call_records`.

Asterisk's definition (`ServicelevelPerf`): of the calls answered, the % whose
hold time was within the queue's `servicelevel`; here over the calls that
entered the queue in the window. A queue with no answered call in the window,
or without a servicelevel, has no figure (None). Kept small and behind
`ServiceLevelSource` so the engine can later be pointed at the general KPI
queries instead.

One grouped read per window: (queue, hold time) → count of answered calls,
portable SQL (PostgreSQL and the demo's SQLite), at most queues × distinct
hold times rows, of one PBX's records (`pbx`; None: every PBX's, the one PBX without
PBXES).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.alerts.evaluator import ServiceLevels
from ingest.db.engine import database_errors
from ingest.db.models import CallRecordRow

CALLS = CallRecordRow.__table__


class ServiceLevelSource(Protocol):
    """Where the engine reads recent service levels."""

    async def service_levels(
        self, wanted: Iterable[tuple[str, int]], levels: Mapping[str, int], now_ms: int
    ) -> ServiceLevels:
        """(queue, window minutes) → %, for each wanted pair; `levels` are the queues'
        servicelevel seconds. Raises on database errors."""
        ...


class RecordsServiceLevels:
    """`ServiceLevelSource` over the call records."""

    def __init__(
        self, engine: AsyncEngine, *, timeout: float = 5.0, pbx: str | None = None
    ) -> None:
        self._engine = engine
        self._timeout = timeout
        self._pbx = pbx

    async def service_levels(
        self, wanted: Iterable[tuple[str, int]], levels: Mapping[str, int], now_ms: int
    ) -> ServiceLevels:
        """See `ServiceLevelSource`."""
        by_window: dict[int, set[str]] = {}
        for queue, window in wanted:
            if levels.get(queue):
                by_window.setdefault(window, set()).add(queue)
        figures: dict[tuple[str, int], float | None] = {pair: None for pair in wanted}
        async with asyncio.timeout(self._timeout):
            for window, queues in sorted(by_window.items()):
                holds = await self._answered_holds(sorted(queues), now_ms, window)
                for queue in queues:
                    figures[(queue, window)] = service_level(holds.get(queue, {}), levels[queue])
        return figures

    async def _answered_holds(
        self, queues: list[str], now_ms: int, window: int
    ) -> dict[str, dict[int, int]]:
        since = datetime.fromtimestamp(now_ms / 1000, UTC) - timedelta(minutes=window)
        statement = (
            select(CALLS.c.queue, CALLS.c.hold_time, func.count())
            .where(
                CALLS.c.queue.in_(queues),
                CALLS.c.entered_at >= since,
                CALLS.c.answered_at.is_not(None),
                *(() if self._pbx is None else (CALLS.c.pbx == self._pbx,)),
            )
            .group_by(CALLS.c.queue, CALLS.c.hold_time)
        )
        holds: dict[str, dict[int, int]] = {}
        async with (
            database_errors(self._engine, "read recent service levels"),
            self._engine.connect() as connection,
        ):
            for queue, hold, count in await connection.execute(statement):
                holds.setdefault(queue, {})[int(hold or 0)] = int(count)
        return holds


def service_level(holds: Mapping[int, int], level_seconds: int) -> float | None:
    """% of answered calls (hold time → count) held `level_seconds` or less; None when none."""
    answered = sum(holds.values())
    if not answered:
        return None
    within = sum(count for hold, count in holds.items() if hold <= level_seconds)
    return round(100.0 * within / answered, 2)
