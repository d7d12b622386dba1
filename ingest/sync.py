"""PostgreSQL → Redis: the queue configuration Asterisk reads, mirrored into live state.

Writes the configuration fields (names, penalties, static pause, strategies)
and keeps the live fields (status, current call) of operators still
configured. When the database is authoritative (AMI disabled) it also removes
operators, memberships and queues the database no longer has; while AMI is
connected Asterisk's own snapshot decides who is a member, so the sync only
adds and updates.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.clock import now_ms
from ingest.db.repository import (
    DatabaseUnavailable,
    DbConfig,
    MemberConfig,
    QueueConfig,
    load_config,
)
from ingest.logs import get_logger
from ingest.metrics import Metrics
from ingest.patches import Change, Patch, Retain
from ingest.store import StateStore

log = get_logger("QueueDataSyncService")

DATABASE_UNAVAILABLE = "database unavailable"
"""What clients are told when the database fails (details go to the log only)."""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one synchronization did."""

    members: int
    queues: int
    operators: int
    removed_operators: list[str] = field(default_factory=list)
    removed_queues: list[str] = field(default_factory=list)
    removed_memberships: list[str] = field(default_factory=list)
    changes: int = 0
    version: int = 0
    duration_ms: float = 0.0
    finished_at: int = 0
    authoritative: bool = True

    def as_json(self) -> dict[str, Any]:
        """camelCase for the API."""
        raw = asdict(self)
        return {_camel(key): value for key, value in raw.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def member_patch_data(members: list[MemberConfig]) -> dict[str, Any]:
    """The configuration of one interface across its queues, as a merge patch."""
    first = members[0]
    queues = {
        m.queue_name: {
            "queueName": m.queue_name,
            "penalty": m.penalty,
            "paused": m.paused,
            "pausedReason": m.paused_reason or "",
            "wrapupTime": m.wrapup_time,
            "ringinuse": m.ringinuse,
            "membership": "realtime",
        }
        for m in members
    }
    return {
        "memberName": first.member_name,
        "stateInterface": first.state_interface,
        "queues": queues,
    }


def queue_patch_data(queue: QueueConfig) -> dict[str, Any]:
    """The configuration of one queue, as a merge patch."""
    return {
        "strategy": queue.strategy,
        "serviceLevel": queue.service_level,
        "wrapupTime": queue.wrapup_time,
        "timeout": queue.timeout,
        "maxLen": queue.max_len,
        "weight": queue.weight,
    }


def plan_sync(
    config: DbConfig,
    current_operators: list[dict[str, Any]],
    *,
    authoritative: bool,
) -> tuple[list[Change], list[str]]:
    """Pure: the patches that make Redis mirror `config`, and the memberships removed."""
    by_interface: dict[str, list[MemberConfig]] = defaultdict(list)
    for member in config.members:
        by_interface[member.interface].append(member)
    changes: list[Change] = []
    removed_memberships: list[str] = []
    current = {op["memberId"]: op for op in current_operators if "memberId" in op}
    for interface, members in sorted(by_interface.items()):
        data = member_patch_data(members)
        if authoritative and interface in current:
            configured = set(data["queues"])
            for stale in sorted(set(current[interface].get("queues") or {}) - configured):
                data["queues"][stale] = None
                removed_memberships.append(f"{interface}@{stale}")
        changes.append(Patch(kind="operator", id=interface, set=data))
    queue_names = {q.name for q in config.queues}
    for queue in config.queues:
        changes.append(Patch(kind="queue", id=queue.name, set=queue_patch_data(queue)))
    for name in sorted({m.queue_name for m in config.members} - queue_names):
        # A queue defined in queues.conf but with realtime members still shows.
        changes.append(Patch(kind="queue", id=name, set={}))
    if authoritative:
        changes.append(Retain(kind="operator", keep=frozenset(by_interface)))
        changes.append(
            Retain(
                kind="queue", keep=frozenset(queue_names | {m.queue_name for m in config.members})
            )
        )
    return changes, removed_memberships


class QueueDataSync:
    """Runs the synchronization; remembers the last report."""

    def __init__(
        self,
        store: StateStore,
        engine: AsyncEngine,
        *,
        database_is_authoritative: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self.engine = engine
        self._authoritative = database_is_authoritative
        self._lock = asyncio.Lock()
        self.last_report: SyncReport | None = None
        self.last_error: str | None = None

    async def run(self) -> SyncReport:
        """One synchronization. Raises DatabaseUnavailable or a Redis error."""
        async with self._lock:
            started = time.perf_counter()
            log.info("Starting queue data synchronization from DB to Redis")
            try:
                config = await load_config(self.engine)
            except DatabaseUnavailable as exc:
                # Shown to API clients (/sync/status): which database and why stay in the log.
                self.last_error = DATABASE_UNAVAILABLE
                log.error("Queue data synchronization failed: %s", exc)
                self._count("failed")
                raise
            log.info("Syncing %d queue members to Redis", len(config.members))
            log.info("Syncing %d queues to Redis", len(config.queues))
            authoritative = self._authoritative()
            current = await self._store.all("operator") if authoritative else []
            changes, removed_memberships = plan_sync(config, current, authoritative=authoritative)
            applied = await self._store.apply(changes, return_changes=True)
            removed_ops = [c.id for c in applied if c.kind == "operator" and c.op == "delete"]
            removed_queues = [c.id for c in applied if c.kind == "queue" and c.op == "delete"]
            report = SyncReport(
                members=len(config.members),
                queues=len(config.queues),
                operators=len({m.interface for m in config.members}),
                removed_operators=removed_ops,
                removed_queues=removed_queues,
                removed_memberships=removed_memberships,
                changes=len(applied),
                version=max((c.version for c in applied), default=await self._store.version()),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                finished_at=now_ms(),
                authoritative=authoritative,
            )
            self.last_report = report
            self.last_error = None
            self._count("ok")
            if self._metrics is not None:
                self._metrics.sync_duration.set(report.duration_ms / 1000)
            log.info("Queue data synchronization completed successfully")
            return report

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.sync_runs.labels(result=result).inc()

    async def run_until_success(
        self,
        *,
        initial_delay: float = 1.0,
        max_delay: float = 30.0,
        attempts: int | None = None,
    ) -> SyncReport | None:
        """Retry with capped exponential backoff and jitter (startup with the DB down)."""
        delay = initial_delay
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.run()
            except Exception as exc:  # the DB or Redis may be down; both heal
                if not isinstance(exc, DatabaseUnavailable):
                    self.last_error = f"Redis unavailable ({type(exc).__name__})"
                if attempts is not None and attempt >= attempts:
                    return None
                wait = delay * (0.5 + random.random())
                log.warning(
                    "Queue data synchronization attempt %d failed (%s); retrying in %.1f s",
                    attempt,
                    type(exc).__name__,
                    wait,
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, max_delay)
