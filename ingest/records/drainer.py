"""The drainer: the record buffer (Redis stream) into PostgreSQL, in order, in batches.

One background task per process; a Redis lease (`ingest.records.lease`) lets
only one process of a key prefix drain at a time. Each step reads the oldest
entries (up to ``batch_size``), upserts them with `save_records` and only
then deletes them from the stream, so a crash between the two saves them
again on the next run — the upsert on ``(pbx, record_key)`` makes that a
no-op. On a database error the entries stay and the step is retried with an
exponential backoff (``retry_initial`` .. ``retry_cap`` s); the outage is
logged once (the database named without its password) and the recovery once.
A record the database refuses as such (a value it cannot store) is dropped,
counted and logged, so it never holds up the rest; so is an entry that does
not decode.

Retention: every ``purge_interval`` seconds (the first a minute after the
start) the lease holder deletes records that ended more than
``retention_days`` ago (0 keeps them forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.clock import now_ms
from ingest.db.engine import DatabaseUnavailable
from ingest.logs import get_logger
from ingest.records.buffer import RecordBuffer
from ingest.records.lease import DrainGuard
from ingest.records.metrics import RecordsMetrics
from ingest.records.model import Record
from ingest.records.repository import purge_before, save_records
from ingest.tasks import cancel_and_wait

__all__ = ["DrainStats", "RecordDrainer"]

log = get_logger("CallRecords")


@dataclass(frozen=True, slots=True)
class DrainStats:
    """The `records` section of /healthz."""

    buffered: int | None
    """Entries in the stream (None: Redis did not answer)."""
    overflow: int | None
    written: int
    last_write_at: int | None
    database_up: bool
    last_error: str | None
    refused: int
    draining: bool
    """Whether this process holds the lease (another one may drain instead)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.database_up else "degraded",
            "buffered": self.buffered,
            "overflow": self.overflow,
            "written": self.written,
            "lastWriteAt": self.last_write_at,
            "databaseUp": self.database_up,
            "lastError": self.last_error,
            "refused": self.refused,
            "draining": self.draining,
        }


class RecordDrainer:
    """Moves buffered records to PostgreSQL (see the module's doc)."""

    def __init__(
        self,
        buffer: RecordBuffer,
        engine: AsyncEngine,
        lease: DrainGuard,
        *,
        pbx: str = "",
        batch_size: int = 1000,
        idle_wait: float = 0.5,
        retry_initial: float = 1.0,
        retry_cap: float = 30.0,
        write_timeout: float = 30.0,
        retention_days: int = 0,
        purge_interval: float = 3600.0,
        metrics: RecordsMetrics | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.buffer = buffer
        self.engine = engine
        self.lease = lease
        self.pbx = pbx
        self.batch_size = max(1, batch_size)
        self.idle_wait = idle_wait
        self.retry_initial = retry_initial
        self.retry_cap = retry_cap
        self.write_timeout = write_timeout
        self.retention_days = max(0, retention_days)
        self.purge_interval = purge_interval
        self.metrics = metrics
        self._clock = clock
        self.written = 0
        self.refused = 0
        self.last_write_at: int | None = None
        self.last_error: str | None = None
        self._down = False
        # The first purge a minute after the start, not in the middle of it.
        self._next_purge = time.monotonic() + min(60.0, purge_interval)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start draining in the background (no-op when running)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="records-drainer")

    async def stop(self) -> None:
        """Stop draining and give the lease up (what is buffered stays for the next run)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        with contextlib.suppress(RedisError, OSError):
            await self.lease.release()

    def wake(self) -> None:
        """Records were buffered: drain now rather than after the idle wait."""
        self._wake.set()

    async def stats(self) -> DrainStats:
        """The counters, with the stream's length and overflow read from Redis now."""
        buffered = overflow = None
        with contextlib.suppress(RedisError, OSError):
            buffered = await self.buffer.length()
            overflow = await self.buffer.overflow()
        return DrainStats(
            buffered=buffered,
            overflow=overflow,
            written=self.written,
            last_write_at=self.last_write_at,
            database_up=not self._down,
            last_error=self.last_error,
            refused=self.refused,
            draining=self.lease.held,
        )

    # --- one step each ---------------------------------------------------------------

    async def drain_once(self) -> int:
        """Save and delete the oldest batch; the records saved (raises DatabaseUnavailable,
        TimeoutError, RedisError with the batch left in the stream)."""
        batch = await self.buffer.oldest(self.batch_size)
        if batch.undecodable:
            self._refuse(len(batch.undecodable), "buffer entries that do not decode")
            await self.buffer.delete(batch.undecodable)
        if not batch.records:
            return 0
        await self._save(batch.records)
        await self.buffer.delete(batch.ids)
        self.written += len(batch.records)
        self.last_write_at = self._clock()
        if self.metrics is not None:
            self.metrics.written.inc(len(batch.records))
        return len(batch.records)

    async def purge_now(self) -> tuple[int, int]:
        """Delete what ended before the retention; (calls, intervals) deleted."""
        if self.retention_days <= 0:
            return 0, 0
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        async with asyncio.timeout(self.write_timeout * 4):
            calls, intervals = await purge_before(self.engine, cutoff, pbx=self.pbx)
        if calls or intervals:
            log.info(
                "Retention (%d days): %d call records and %d agent intervals deleted",
                self.retention_days,
                calls,
                intervals,
            )
        return calls, intervals

    async def _save(self, records: Sequence[Record]) -> None:
        try:
            async with asyncio.timeout(self.write_timeout):
                await save_records(self.engine, records, pbx=self.pbx)
        except DatabaseUnavailable as exc:
            if not isinstance(exc.__cause__, DataError | IntegrityError):
                raise
            for record in records:  # find and drop the ones it refuses
                try:
                    async with asyncio.timeout(self.write_timeout):
                        await save_records(self.engine, [record], pbx=self.pbx)
                except DatabaseUnavailable as one:
                    if not isinstance(one.__cause__, DataError | IntegrityError):
                        raise
                    self._refuse(1, f"a record refused by the database ({_kind(one)})")

    # --- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.retry_initial
        while True:
            try:
                if not await self.lease.hold():
                    await self._idle(max(self.idle_wait, self.lease.ttl_ms / 3000))
                    continue
                saved = await self.drain_once()
                self._recovered()
                delay = self.retry_initial
                await self._maybe_purge()
                await self._gauges()
            except (DatabaseUnavailable, TimeoutError) as exc:
                self._failed(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_cap)
                continue
            except (RedisError, OSError):
                # Redis down: the ingest reports it; the records wait in the stream.
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_cap)
                continue
            if saved < self.batch_size:
                await self._idle(self.idle_wait)

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _maybe_purge(self) -> None:
        if self.retention_days <= 0 or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self.purge_interval
        try:
            await self.purge_now()
        except (DatabaseUnavailable, TimeoutError) as exc:
            log.warning("Retention purge failed (%s); trying again in an hour", _kind(exc))

    async def _gauges(self) -> None:
        if self.metrics is None:
            return
        self.metrics.buffered.set(await self.buffer.length())
        self.metrics.overflow.set(await self.buffer.overflow())

    # --- bookkeeping -----------------------------------------------------------------

    def _refuse(self, count: int, what: str) -> None:
        self.refused += count
        if self.metrics is not None:
            self.metrics.refused.inc(count)
        log.error("Dropped %d %s", count, what)

    def _failed(self, exc: Exception) -> None:
        self.last_error = f"database unavailable ({_kind(exc)})"
        if self.metrics is not None:
            self.metrics.write_errors.inc()
            self.metrics.database_up.set(0)
        if not self._down:
            self._down = True
            detail = str(exc) if isinstance(exc, DatabaseUnavailable) else "no answer in time"
            log.warning(
                "Call records cannot be saved (%s); they wait in the Redis buffer, retrying",
                detail,
            )

    def _recovered(self) -> None:
        if self._down:
            self._down = False
            log.info("Call records are saved again: draining the Redis buffer")
        self.last_error = None
        if self.metrics is not None:
            self.metrics.database_up.set(1)


def _kind(exc: BaseException) -> str:
    """The error's kind: the driver's exception class name (no URL, no value)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    cause: BaseException | None = exc.__cause__ if isinstance(exc, DatabaseUnavailable) else exc
    original = getattr(cause, "orig", None) or cause
    inner = getattr(original, "__cause__", None)
    if inner is not None and type(original).__module__.startswith("sqlalchemy"):
        original = inner
    return type(original).__name__ if original is not None else type(exc).__name__
