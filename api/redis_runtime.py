"""Following Redis losing the live state: the watches, their counters, /healthz and /metrics.

Every role runs them (`api`, `ingest`, `all`): `RedisWatch` (a restart, a
flush, or the store's version below the highest this process saw — its own
readings or the live mirror's) and, behind Sentinel, `MasterWatch` (a
failover). Either has the state rebuilt (`rebuild`: the ingest leader
reconciles from Asterisk, the database is synced) and the broadcaster reloads,
so subscribers get a RESYNC. Each process counts what it saw:
``queue_status_redis_failovers_total`` and ``queue_status_redis_state_losses_total``,
also in /healthz's ``redis`` section (``failovers``, ``stateLosses``,
``lastStateLoss``).
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
        redis: Redis,
        store: StateStore,
        rebuild: Rebuild,
        metrics: RedisLossMetrics,
        *,
        seen_version: Callable[[], int] | None = None,
        interval: float = 1.0,
        sentinel_interval: float = 0.5,
    ) -> None:
        self.failovers = 0
        self.state_losses = 0
        self.last_state_loss: str | None = None
        self._metrics = metrics
        self._rebuild = rebuild
        self.watch = RedisWatch(store, self._rebuilt, interval=interval, seen_version=seen_version)
        self.master_watch = (
            MasterWatch(
                redis, self._rebuilt, interval=sentinel_interval, on_failover=self._failed_over
            )
            if isinstance(redis, SentinelRedis)
            else None
        )

    def start(self) -> list[asyncio.Task[None]]:
        """The watches' tasks (the caller cancels them at shutdown)."""
        tasks = [asyncio.create_task(self.watch.run(), name="redis-watch")]
        if self.master_watch is not None:
            tasks.append(asyncio.create_task(self.master_watch.run(), name="sentinel-watch"))
        return tasks

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


def add_redis(details: dict[str, Any], follow: RedisFollow | None) -> None:
    """Add the watches' counters to /healthz's `redis` section."""
    if follow is not None and isinstance(details.get("redis"), dict):
        details["redis"].update(follow.state())
