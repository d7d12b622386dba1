"""Wiring of the live call records into the app's lifespan: tap, buffer, drainer, timer.

Every process with a database runs a drainer (the Redis lease lets one of
them drain a prefix at a time); a process with the AMI ingest also feeds the
records tap from its pipeline (`api.ingest_runtime`), ticks it every second,
loads the open calls the last run saved before the ingest starts, and saves
them at a graceful stop once the ingest has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.config import IngestSettings
from ingest.keys import KeySchema
from ingest.logs import get_logger
from ingest.records.buffer import RecordBuffer
from ingest.records.drainer import RecordDrainer
from ingest.records.lease import DrainGuard, RedisLease
from ingest.records.metrics import RecordsMetrics
from ingest.records.tap import RecordsTap
from ingest.tasks import cancel_and_wait

log = get_logger("CallRecords")

TICK_SECONDS = 1.0
"""How often calls that are due close without an event (the builder's leave grace is 5 s)."""


class LiveRecords:
    """The records path of one process (see the module's doc)."""

    def __init__(
        self,
        settings: IngestSettings,
        redis: Redis,
        keys: KeySchema,
        engine: AsyncEngine,
        registry: CollectorRegistry,
        guard: DrainGuard | None = None,
        **drainer_options: Any,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.metrics = RecordsMetrics(registry)
        self.buffer = RecordBuffer(redis, keys, cap=settings.records_buffer_max)
        drainer_options.setdefault("retention_days", settings.records_retention_days)
        self.drainer = RecordDrainer(
            self.buffer,
            engine,
            guard if guard is not None else RedisLease(redis, keys.records("lease")),
            metrics=self.metrics,
            **drainer_options,
        )
        self.tap = (
            RecordsTap(self.buffer, on_buffered=self.drainer.wake) if settings.ami_enabled else None
        )
        self._ticker: asyncio.Task[None] | None = None
        self._elected = guard is not None
        """An election decides who carries the open calls (`take_over`, `hand_over`)."""
        self._leading = False

    async def start(self) -> None:
        """Open again the calls the last run left open (without an election: with one,
        the leader does when elected), then drain and tick."""
        if self.tap is not None:
            if not self._elected:
                await self.take_over()
            self._ticker = asyncio.create_task(self._tick(), name="records-tick")
        self.drainer.start()

    async def take_over(self) -> None:
        """Open again the calls the last ingest left open (taken out of Redis: one taker)."""
        if self.tap is None:
            return
        self._leading = True
        try:
            carried = await self.tap.load_open(self.redis, self.keys.records("open"))
            if carried:
                log.info("%d open call(s) carried over from the last run", carried)
        except RedisError as exc:
            log.warning("Open calls of the last run not loaded (%s)", type(exc).__name__)

    async def stop(self) -> None:
        """After the ingest stopped: buffer what is complete, keep what is open, stop."""
        if self._ticker is not None:
            await cancel_and_wait(self._ticker)
            self._ticker = None
        if not self._elected or self._leading:
            await self.hand_over()
        await self.drainer.stop()

    async def hand_over(self) -> None:
        """The ingest stopped cleanly: buffer what is complete, keep what is open for the
        next ingest (a leader deposed otherwise keeps nothing: its successor took over)."""
        self._leading = False
        tap = self.tap
        if tap is not None:
            try:
                await tap.flush()
                kept = await tap.save_open(self.redis, self.keys.records("open"))
                log.info("%d open call(s) kept for the next run", kept)
            except RedisError as exc:
                log.warning(
                    "Records not kept at stop (%s): %d complete, open calls lost",
                    type(exc).__name__,
                    tap.unsent,
                )

    async def health(self) -> dict[str, Any]:
        """The `records` section of /healthz."""
        section = (await self.drainer.stats()).as_json()
        if self.tap is not None:
            counters = self.tap.counters
            section["built"] = counters.built
            section["unbuffered"] = self.tap.unsent
        return section

    async def _tick(self) -> None:
        assert self.tap is not None
        while True:
            await asyncio.sleep(TICK_SECONDS)
            with contextlib.suppress(RedisError, OSError):
                await self.tap.tick()
