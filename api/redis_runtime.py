"""Following Redis losing the live state: the watches, their counters, /healthz and /metrics.

Every role runs them (`api`, `ingest`, `all`): per PBX a `RedisWatch` (a
restart, a flush, or the store's version below the highest this process saw —
its own readings or the live mirror's) and, behind Sentinel, one `MasterWatch`
per process (a failover; `master_watch`), which every PBX follows: a failover
repoints and drops the shared pool's connections once, then each PBX's state is
rebuilt. Either has the state rebuilt (`rebuild`: the ingest leader reconciles
from Asterisk, the database is synced) and the broadcaster reloads, so
subscribers get a RESYNC. Each PBX counts what its state went through:
``queue_status_redis_failovers_total`` and ``queue_status_redis_state_losses_total``
(with PBXES labelled `pbx`: one failover is one in each PBX's series, as the one
master held every PBX's state), also in /healthz's ``redis`` section
(``failovers``, ``stateLosses``, ``lastStateLoss``; with PBXES in each PBX's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis

from ingest.redis_sentinel import MasterWatch, SentinelRedis
from ingest.store import StateStore
from ingest.watch import RedisWatch

Rebuild = Callable[[str], Awaitable[None]]


class RedisLossMetrics:
    """The Prometheus series of what the watches saw (in the process's registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.failovers = Counter(
            "queue_status_redis_failovers_total",
            "Redis Sentinel failovers this process followed (the master moved).",
            registry=registry,
        )
        self.state_losses = Counter(
            "queue_status_redis_state_losses_total",
            "Times this process found Redis had lost the live state (a restart, a failover, "
            "a flush, the version below one already seen) and had it rebuilt.",
            registry=registry,
        )


class RedisFollow:
    """This process's watches on Redis and what they counted."""

    def __init__(
        self,
        store: StateStore,
        rebuild: Rebuild,
        metrics: RedisLossMetrics,
        *,
        seen_version: Callable[[], int] | None = None,
        interval: float = 1.0,
        master_watch: MasterWatch | None = None,
    ) -> None:
        self.failovers = 0
        self.state_losses = 0
        self.last_state_loss: str | None = None
        self._metrics = metrics
        self._rebuild = rebuild
        self.watch = RedisWatch(store, self._rebuilt, interval=interval, seen_version=seen_version)
        if master_watch is not None:  # the process's one watch runs it (`master_watch`)
            master_watch.follow(self._rebuilt, self._failed_over)

    def start(self) -> list[asyncio.Task[None]]:
        """The watch's task (the caller cancels it at shutdown)."""
        return [asyncio.create_task(self.watch.run(), name="redis-watch")]

    def state(self) -> dict[str, Any]:
        """For /healthz's `redis` section."""
        return {
            "failovers": self.failovers,
            "stateLosses": self.state_losses,
            "lastStateLoss": self.last_state_loss,
        }

    def _failed_over(self) -> None:
        self.failovers += 1
        self._metrics.failovers.inc()

    async def _rebuilt(self, reason: str) -> None:
        # Counted once the rebuild succeeded: a failed one is retried with the same reason.
        await self._rebuild(reason)
        self.state_losses += 1
        self.last_state_loss = reason
        self._metrics.state_losses.inc()


def master_watch(redis: Redis, *, interval: float = 0.5) -> MasterWatch | None:
    """The process's one watch on the sentinels (None without Sentinel); the PBXes'
    `RedisFollow`s follow it, the caller runs it (`MasterWatch.run`)."""
    return MasterWatch(redis, interval=interval) if isinstance(redis, SentinelRedis) else None


def add_redis(details: dict[str, Any], follow: RedisFollow | None) -> None:
    """Add the watches' counters to /healthz's `redis` section."""
    if follow is not None and isinstance(details.get("redis"), dict):
        details["redis"].update(follow.state())
