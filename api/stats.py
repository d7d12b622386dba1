"""KPIs from the call records for the API: `queueStats`, `agentStats`, `calls`.

Glue between the requests (REST `api.rest_stats`, GraphQL `api.graphql.stats`)
and the queries (`ingest.records.kpi`): the site's time zone and short-abandon
threshold from the settings, each queue's service level from the live state,
the token's queue scope, and errors as the API gives them:

- a range, interval, outcome, page size or cursor that cannot be served:
  `Unprocessable` (422, GraphQL BAD_USER_INPUT);
- the database down or silent for `QUERY_TIMEOUT_SECONDS`: `Unavailable`
  (503, GraphQL UNAVAILABLE), never a hang; the details go to the log.

Scope: a token limited to some queues reads only their records; a queue out
of scope gives no rows, as if it had none.

Service levels come from Redis, where the ingest keeps each queue's
``serviceLevel`` (QueueParams' ServiceLevel, or the realtime ``servicelevel``
column): the KPI uses the queue's CURRENT setting for every call. When Redis
is down or the queue is unknown there, the service-level fields are null (and
``serviceLevelSeconds`` says so) rather than wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.auth import Grant
from api.errors import BadInput, Unavailable
from api.settings import Settings
from ingest.db.engine import DatabaseUnavailable, database_errors
from ingest.logs import get_logger
from ingest.records.kpi.agent_stats import AgentStats, agent_stats
from ingest.records.kpi.call_list import CallPage, call_page, check_outcome
from ingest.records.kpi.periods import Period, PeriodError, check_rows, make_period, site_zone
from ingest.records.kpi.queue_stats import QueueStats, queue_stats
from ingest.store import StateStore

log = get_logger("Stats")

QUERY_TIMEOUT_SECONDS = 10.0
STATS_UNAVAILABLE = "statistics are unavailable: database unavailable"


class Unprocessable(BadInput):
    """Well-formed parameters that cannot be served (a reversed range, an interval too short)."""

    status_code = 422


@dataclass(frozen=True)
class RecordStats:
    """The KPI reads of one app (cheap: built per request from the runtime)."""

    engine: AsyncEngine
    store: StateStore
    zone: ZoneInfo
    short_abandon_seconds: int
    pbx: str = ""
    """The `pbx` of the records read: one PBX's ("" for the one PBX without PBXES)."""

    @classmethod
    def from_settings(
        cls, engine: AsyncEngine, store: StateStore, settings: Settings, *, pbx: str = ""
    ) -> RecordStats:
        """The reads of PBX `pbx` with the settings' zone and short-abandon threshold."""
        return cls(
            engine, store, site_zone(settings.site_timezone), settings.short_abandon_seconds, pbx
        )

    def period(
        self, since: datetime | None, until: datetime | None, interval: int | None
    ) -> Period:
        """The period asked for (today's ends where omitted); Unprocessable when unusable."""
        try:
            return make_period(since, until, interval, zone=self.zone, now=datetime.now(UTC))
        except PeriodError as exc:
            raise Unprocessable(str(exc)) from None

    async def queue_stats(
        self,
        grant: Grant,
        *,
        queue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        interval: int | None = None,
    ) -> list[QueueStats]:
        """Rows per queue and bucket: every queue in scope that is live or has records."""
        period = self.period(since, until, interval)
        queues = _queues(grant, queue)
        if queues is not None and not queues:
            return []
        levels = await self._service_levels()
        live = [name for name in levels if queues is None or name in queues]
        with _unprocessable():
            # Refused before the query when the queues known already make it too large.
            check_rows(len(queues if queues is not None else live) * len(period.buckets))
            async with self._connection("read queue statistics") as connection:
                return await queue_stats(
                    connection,
                    period,
                    queues=queues,
                    service_levels=levels,
                    short_abandon_seconds=self.short_abandon_seconds,
                    always_include=live if queue is None else [queue],
                    pbx=self.pbx,
                )

    async def agent_stats(
        self,
        grant: Grant,
        *,
        member_id: str | None = None,
        queue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        interval: int | None = None,
    ) -> list[AgentStats]:
        """Rows per member, queue and bucket, for the queues in scope."""
        period = self.period(since, until, interval)
        queues = _queues(grant, queue)
        if queues is not None and not queues:
            return []
        with _unprocessable():
            async with self._connection("read agent statistics") as connection:
                return await agent_stats(
                    connection, period, member_id=member_id, queues=queues, pbx=self.pbx
                )

    async def calls(
        self,
        grant: Grant,
        *,
        queue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcome: str | None = None,
        first: int,
        after: str | None = None,
    ) -> CallPage:
        """One page of calls in the scope, newest first."""
        period = self.period(since, until, None)
        try:
            wanted = None if outcome is None else check_outcome(outcome)
        except PeriodError as exc:
            raise Unprocessable(str(exc)) from None
        queues = _queues(grant, queue)
        if queues is not None and not queues:
            return CallPage()
        async with self._connection("read calls") as connection:
            try:
                return await call_page(
                    connection,
                    period,
                    queues=queues,
                    outcome=wanted,
                    first=first,
                    after=after,
                    pbx=self.pbx,
                )
            except PeriodError as exc:
                raise Unprocessable(str(exc)) from None

    async def _service_levels(self) -> dict[str, int]:
        try:
            stored = await self.store.all("queue")
        except RedisError as exc:
            log.warning("Service levels unavailable (Redis: %s): left null", type(exc).__name__)
            return {}
        return {
            str(entry["name"]): int(entry["serviceLevel"])
            for entry in stored
            if isinstance(entry.get("name"), str) and _is_seconds(entry.get("serviceLevel"))
        }

    @asynccontextmanager
    async def _connection(self, action: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
                async with database_errors(self.engine, action), self.engine.connect() as conn:
                    yield conn
        except DatabaseUnavailable as exc:
            log.warning("Statistics read failed: %s", exc.reason)
            raise Unavailable(STATS_UNAVAILABLE) from None
        except TimeoutError:
            log.warning("Statistics read failed: no answer within %g s", QUERY_TIMEOUT_SECONDS)
            raise Unavailable(STATS_UNAVAILABLE) from None


@contextmanager
def _unprocessable() -> Iterator[None]:
    """A PeriodError found while answering (too many rows) as the API's 422."""
    try:
        yield
    except PeriodError as exc:
        raise Unprocessable(str(exc)) from None


def _is_seconds(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _queues(grant: Grant, queue: str | None) -> list[str] | None:
    """The queues to read: the one asked for when in scope, else the scope (None: all)."""
    if queue is not None:
        return [queue] if grant.sees_queue(queue) else []
    return None if grant.queues is None else sorted(grant.queues)
