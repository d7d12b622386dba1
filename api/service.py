"""The domain service: the one implementation behind REST and GraphQL.

Routes and resolvers are one-liners over these methods. Every write goes
through the reducer and the store, like an AMI event.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import orjson
from redis.exceptions import RedisError

from api.auth import OPEN, Grant
from api.errors import Forbidden, NotFound, Unavailable
from api.scope import operator_for, scope_channels, scope_operators, scope_queues
from api.views import (
    parse_status,
    queue_view,
    queue_views,
    removed_counts,
    select_channels,
    select_operators,
    snapshot_view,
    sync_differences,
)
from ingest.clock import now_ms
from ingest.db.repository import DatabaseUnavailable, load_config
from ingest.logs import get_logger
from ingest.metrics import Metrics
from ingest.patches import JsonObject
from ingest.reducer import reduce
from ingest.reducer.manual import OperatorStatusSet
from ingest.store import StateStore
from ingest.sync import DATABASE_UNAVAILABLE, QueueDataSync, SyncReport

log = get_logger("RedisQueueStatusService")


class IngestReporter(Protocol):
    """What the AMI ingest reports about itself (absent when AMI is disabled): its
    status (`ingest`'s `IngestStatus`), as far as the service reads it."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready status: amiConnected, lastEventAt, counters, drift."""
        ...


PINNED: ContextVar[tuple[tuple[Replica, int], ...]] = ContextVar("pinned", default=())
"""Replicas the current computation saw at the store's version, with that version: a
computation that reads them without yielding to the event loop (none can move then)
reads one consistent state, that version's (the GraphQL answer cache's misses)."""


class Replica(Protocol):
    """An in-process copy of the live state, kept current from the change stream (the
    live mirror, `api.live.LiveState`).

    Collection reads use it instead of Redis when it is provably current: its
    version equals the store's (one GET of the counter). Versions are global
    and contiguous and every change is published, so at the same version it
    holds exactly what Redis holds — read at that moment, as a Redis read
    would have been. A mirror that lags (a change not yet applied, a reload
    under way) is not used: the read goes to Redis.
    """

    loaded: bool

    @property
    def version(self) -> int:
        """The store version it is at."""
        ...

    def operators(self) -> list[JsonObject]:
        """Every operator, sorted by memberId."""
        ...

    def operators_json(self) -> tuple[int, bytes]:
        """(count, the operators as one JSON array), as a stored read would give them."""
        ...

    def channels(self) -> list[JsonObject]:
        """Every channel, sorted by name."""
        ...

    def channels_json(self) -> tuple[int, bytes]:
        """(count, the channels as one JSON array)."""
        ...

    def queue_views(self, now: int | None = None) -> list[JsonObject]:
        """Every queue as `queue_view` builds it, sorted by name."""
        ...

    def queue_view(self, name: str, now: int | None = None) -> JsonObject | None:
        """One queue as `queue_view` builds it, or None."""
        ...


class QueueStatusService:
    """Reads and writes of the live state, with the API's error model.

    Every read takes the request's `Grant`: a grant scoped to some queues sees
    only what `api.scope` lets it see (the unscoped default does no extra work).
    """

    def __init__(
        self,
        store: StateStore,
        sync: QueueDataSync,
        *,
        ingest_status: Callable[[], IngestReporter | None] = lambda: None,
        request_reconcile: Callable[[str], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self.store = store
        self.sync = sync
        self._ingest_status = ingest_status
        self._request_reconcile = request_reconcile

    @asynccontextmanager
    async def _redis(self) -> AsyncIterator[None]:
        try:
            yield
        except RedisError as exc:
            log.error("Redis unavailable: %s", type(exc).__name__)
            if self._metrics is not None:
                self._metrics.redis_errors.inc()
            raise Unavailable("Redis is unavailable; retry shortly") from None

    async def current(self, replica: Replica | None) -> Replica | None:
        """`replica` when it is at the store's version (see `Replica`), else None.

        A replica pinned at its version (`PINNED`) while still at it is taken without the
        round trip: the caller saw it at the store's version just before."""
        if replica is None or not replica.loaded:
            return None
        for pinned, version in PINNED.get():
            if pinned is replica and replica.version == version:
                return replica
        async with self._redis():
            version = await self.store.version()
        return replica if replica.version == version else None

    async def operators(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        paused: bool | None = None,
        replica: Replica | None = None,
        grant: Grant = OPEN,
    ) -> list[JsonObject]:
        """Operators, optionally only those of a queue, a status, a paused state."""
        wanted = parse_status(status) if status else None
        current = await self.current(replica)
        if current is not None:
            operators = current.operators()
        else:
            async with self._redis():
                operators = await self.store.all("operator")
        if grant.queues is not None:
            operators = scope_operators(operators, grant.queues)
        return select_operators(operators, queue=queue, status=wanted, paused=paused)

    async def operators_json(self, replica: Replica | None = None) -> bytes:
        """Every operator as the REST body `{"success": true, "data": [...], "count": n}`,
        already encoded: from the current replica, else the stored JSON (never parsed).

        Unscoped only (the bytes hold every operator): a scoped grant reads `operators`."""
        head = b'{"success":true,"data":'
        current = await self.current(replica)
        if current is not None:
            count, encoded = current.operators_json()
            return head + encoded + b',"count":%d}' % count
        async with self._redis():
            raw = await self.store.raw("operator")
        return raw.wrapped(head, b',"count":%d}' % raw.count)

    async def operator(self, member_id: str, grant: Grant = OPEN) -> JsonObject:
        """One operator, or NotFound (also when it has no membership in the grant's scope:
        as if absent, so a scoped token cannot probe for others' operators)."""
        async with self._redis():
            found = operator_for(grant, await self.store.get("operator", member_id))
        if found is None:
            raise NotFound(f"operator {member_id!r} not found")
        return found

    async def queues(self, replica: Replica | None = None, grant: Grant = OPEN) -> list[JsonObject]:
        """Every queue with its callers and member counts."""
        current = await self.current(replica)
        if current is not None:
            if grant.queues is None:
                return current.queue_views(now_ms())
            now = now_ms()
            views = (current.queue_view(name, now) for name in sorted(grant.queues))
            return [view for view in views if view is not None]
        async with self._redis():
            snap = await self.store.snapshot()
        stored = snap.queues if grant.queues is None else scope_queues(snap.queues, grant.queues)
        return queue_views(stored, snap.operators, now_ms())

    async def queue(self, name: str, grant: Grant = OPEN) -> JsonObject:
        """One queue, or NotFound (also outside the grant's scope, as if absent)."""
        if not grant.sees_queue(name):
            raise NotFound(f"queue {name!r} not found")
        async with self._redis():
            found = await self.store.get("queue", name)
            operators = await self.store.all("operator") if found else []
        if found is None:
            raise NotFound(f"queue {name!r} not found")
        return queue_view(found, operators, now_ms())

    async def channels(
        self, *, queue: str | None = None, replica: Replica | None = None, grant: Grant = OPEN
    ) -> list[JsonObject]:
        """Active channels, optionally only those of one queue."""
        if grant.queues is not None:
            snap = await self.snapshot(replica, grant)
            return select_channels(snap["channels"], queue=queue)
        current = await self.current(replica)
        if current is not None:
            channels = current.channels()
        else:
            async with self._redis():
                channels = await self.store.all("channel")
        return select_channels(channels, queue=queue)

    async def snapshot(self, replica: Replica | None = None, grant: Grant = OPEN) -> JsonObject:
        """Everything at one version."""
        if grant.queues is not None:
            return await self._scoped_snapshot(replica, grant.queues)
        current = await self.current(replica)
        now = now_ms()
        if current is not None:
            return snapshot_view(
                current.operators(),
                current.queue_views(now),
                current.channels(),
                current.version,
                now,
            )
        async with self._redis():
            snap = await self.store.snapshot()
        now = now_ms()
        queues = queue_views(snap.queues, snap.operators, now)
        return snapshot_view(snap.operators, queues, snap.channels, snap.version, now)

    async def _scoped_snapshot(self, replica: Replica | None, scope: frozenset[str]) -> JsonObject:
        """`snapshot` as a grant scoped to `scope` sees it (see `api.scope`)."""
        current = await self.current(replica)
        if current is not None:
            operators, channels = current.operators(), current.channels()
            now = now_ms()
            views = (current.queue_view(name, now) for name in sorted(scope))
            queues = [view for view in views if view is not None]
            version = current.version
        else:
            async with self._redis():
                snap = await self.store.snapshot()
            operators, channels, version = snap.operators, snap.channels, snap.version
            now = now_ms()
            queues = queue_views(scope_queues(snap.queues, scope), snap.operators, now)
        return snapshot_view(
            scope_operators(operators, scope),
            queues,
            scope_channels(channels, scope, operators),
            version,
            now,
        )

    async def snapshot_json(self, replica: Replica | None = None) -> bytes:
        """`snapshot()` as the REST body `{"success": true, "data": …}`, already encoded.

        From the current replica, operators and channels as it encoded them once for
        its version; else from Redis, as stored (never re-encoded). Only the queue
        views are built per request (wait times move with the clock).
        """
        current = await self.current(replica)
        if current is not None:
            now = now_ms()
            _, operators = current.operators_json()
            _, channels = current.channels_json()
            return b"".join(
                (
                    b'{"success":true,"data":{"operators":',
                    operators,
                    b',"queues":',
                    orjson.dumps(current.queue_views(now)),
                    b',"channels":',
                    channels,
                    b',"version":%d,"generatedAt":%d}}' % (current.version, now),
                )
            )
        async with self._redis():
            raw = await self.store.raw_snapshot()
        now = now_ms()
        queues = queue_views(raw.queues.entities(), raw.operators.entities(), now)
        return b"".join(
            (
                raw.operators.wrapped(b'{"success":true,"data":{"operators":', b',"queues":'),
                orjson.dumps(queues),
                raw.channels.wrapped(
                    b',"channels":', b',"version":%d,"generatedAt":%d}}' % (raw.version, now)
                ),
            )
        )

    async def set_operator_status(
        self, command: OperatorStatusSet, grant: Grant = OPEN
    ) -> JsonObject:
        """State an operator's status; it goes through the reducer like an AMI event.

        A pause that names no queue applies to all of the operator's queues (a scoped
        grant's only): they are read here, into the command's `pause_queues`. A scoped
        grant may state only an operator of its queues, about one of its queues.
        """
        async with self._redis():
            event = command
            current = await self.store.get("operator", command.member_id)
            if grant.scoped:
                if operator_for(grant, current) is None:
                    raise Forbidden(f"operator {command.member_id} is in none of your queues")
                if command.queue_name and not grant.sees_queue(command.queue_name):
                    raise Forbidden(f"queue {command.queue_name!r} is outside your token's queues")
            if command.paused is not None and not command.queue_name:
                mine = sorted((current or {}).get("queues") or {})
                pause_queues = tuple(q for q in mine if grant.sees_queue(q))
                event = dataclasses.replace(command, pause_queues=pause_queues)
            now = now_ms()
            applied = await self.store.apply(reduce(event, now), now=now, return_changes=True)
            for change in applied:
                if change.kind == "operator" and change.id == command.member_id and change.data:
                    return operator_for(grant, change.data) or change.data
            unchanged = operator_for(grant, await self.store.get("operator", command.member_id))
        if unchanged is None:  # pragma: no cover - the patch always creates
            raise NotFound(f"operator {command.member_id!r} not found")
        return unchanged

    async def resync(self) -> SyncReport:
        """Reload the configuration from the database; with AMI, Asterisk's snapshot too.

        The snapshot (QueueStatus, and the lists the manager user may ask) is
        taken by the ingest right after, in its place in the event stream: while
        AMI is connected Asterisk decides who is a member, after the database.
        """
        try:
            async with self._redis():
                return await self.sync.run()
        except DatabaseUnavailable:
            # Which database and why is for the log (QueueDataSync logged it), not for clients.
            raise Unavailable(DATABASE_UNAVAILABLE) from None
        finally:
            if self._request_reconcile is not None:
                self._request_reconcile("resync requested")

    async def clear(self) -> JsonObject:
        """Remove our keys; report what was removed."""
        async with self._redis():
            removed = await self.store.clear()
        log.info(
            "Cleared live state: %d operators, %d queues, %d channels",
            removed["operator"],
            removed["queue"],
            removed["channel"],
        )
        return removed_counts(removed)

    async def sync_status(self, grant: Grant = OPEN) -> JsonObject:
        """Database vs Redis: the runbook's five counts, plus what differs.

        Not for a scoped grant (Forbidden): the counts, the differences and the last
        sync's removals cover every queue and name operators of any of them.
        """
        if grant.scoped:
            raise Forbidden(
                "sync status covers every queue; a token scoped to some queues may not read it"
            )
        async with self._redis():
            counts = await self.store.counts()
            operator_ids = await self.store.ids("operator")
            queue_ids = await self.store.ids("queue")
        data: JsonObject = {
            "dbMembers": None,
            "dbQueues": None,
            "redisOperators": counts["operator"],
            "redisQueues": counts["queue"],
            "redisChannels": counts["channel"],
        }
        try:
            config = await load_config(self.sync.engine)
        except DatabaseUnavailable as exc:
            log.warning("Sync status without the database: %s", exc)
            data.update(inSync=False, databaseError=DATABASE_UNAVAILABLE)
        else:
            differences = sync_differences(config, operator_ids, queue_ids)
            data.update(
                dbMembers=len(config.members),
                dbQueues=len(config.queues),
                inSync=not any(differences.values()),
                differences=differences,
            )
        report = self.sync.last_report
        data["lastSync"] = report.as_json() if report else None
        data["lastSyncError"] = self.sync.last_error
        ingest = self._ingest_status()
        if ingest is not None:
            data.update(ingest.as_json())
        return data

    async def health(self, database_check: Callable[[], Any]) -> tuple[bool, JsonObject]:
        """(serving, details): serving is False only when Redis is down."""
        started = time.perf_counter()
        checks: JsonObject = {}
        try:
            await self.store.ping()
            checks["redis"] = {"ok": True}
        except RedisError as exc:
            checks["redis"] = {"ok": False, "error": type(exc).__name__}
        try:
            await database_check()
            checks["database"] = {"ok": True}
        except DatabaseUnavailable as exc:
            checks["database"] = {"ok": False, "error": str(exc)}
        ingest = self._ingest_status()
        checks["ami"] = ingest.as_json() if ingest is not None else {"enabled": False}
        redis_ok = bool(checks["redis"]["ok"])
        degraded = not checks["database"]["ok"] or (
            ingest is not None and not checks["ami"].get("amiConnected", False)
        )
        checks["status"] = "down" if not redis_ok else ("degraded" if degraded else "ok")
        checks["tookMs"] = round((time.perf_counter() - started) * 1000, 2)
        return redis_ok, checks
