"""The audit trail of supervisor actions: every action is a row of `queue_status_audit`.

The action code calls `AuditTrail.record(AuditEntry(...))`, which never
blocks and never raises: the entry goes into a bounded in-memory buffer
(AUDIT_BUFFER_SIZE). A background task (`start()` / `stop()`) writes the
buffer in batches, one INSERT per batch. While PostgreSQL is down the rows
wait and the writer retries with a capped backoff; the outage is logged once
and the recovery once. When the buffer is full the oldest row is dropped:
counted (`dropped`, `/metrics`) and logged once per overflow episode, with
how many were lost. A row the database refuses as such (a constraint, a value
it cannot store) is dropped and counted too, so it never holds up the rest.
No log line names a token: rows carry its fingerprint only, and the writer
logs counts and error kinds, never arguments.

`query()` reads written rows back (`api.audit_query`). `stats()` feeds
`/healthz` (`api.health.audit_section`) and the gauges of `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.audit_entry import AUDIT_TABLE, AuditEntry, StoredEntry, entry_row
from api.audit_query import DEFAULT_PAGE, AuditPage, read_page
from ingest.clock import now_ms
from ingest.db.engine import DatabaseUnavailable, database_errors
from ingest.logs import get_logger
from ingest.metrics import Metrics
from ingest.tasks import cancel_and_wait

__all__ = ["AuditEntry", "AuditPage", "AuditStats", "AuditTrail", "StoredEntry"]

log = get_logger("Audit")

NO_DATABASE = "no database configured"


@dataclass(frozen=True)
class AuditStats:
    """What the writer has done so far, for /healthz and /metrics."""

    buffered: int
    """Rows recorded and not written yet."""
    written: int
    dropped: int
    """Rows lost: the buffer overflowed, or the database refused them."""
    write_errors: int
    """Failed attempts to write a batch (each is retried)."""
    last_error: str | None
    """Why the last write failed (an error kind, never a URL nor a value); None once one
    succeeds again."""
    database: bool
    """Whether the trail has a database at all."""

    @property
    def status(self) -> str:
        """`ok`, or `degraded` while rows cannot be written (the database is down or absent)."""
        return "degraded" if self.last_error is not None or not self.database else "ok"

    def as_json(self) -> dict[str, Any]:
        """The `audit` section of /healthz."""
        return {
            "status": self.status,
            "buffered": self.buffered,
            "written": self.written,
            "dropped": self.dropped,
            "writeErrors": self.write_errors,
            "lastError": self.last_error,
        }


class AuditTrail:
    """A bounded buffer of audit rows and the task that writes them (see the module's doc)."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        *,
        buffer_size: int = 10_000,
        metrics: Metrics | None = None,
        batch_size: int = 200,
        retry_initial: float = 0.5,
        retry_cap: float = 30.0,
        write_timeout: float = 10.0,
    ) -> None:
        self._engine = engine
        self._capacity = max(1, buffer_size)
        # Rows in flight stay within the capacity and leave room for new ones.
        self._batch = max(1, min(batch_size, self._capacity // 2))
        self._retry_initial = retry_initial
        self._retry_cap = retry_cap
        self._write_timeout = write_timeout
        self._metrics = metrics
        self._buffer: deque[dict[str, Any]] = deque()
        self._inflight: list[dict[str, Any]] = []
        self._written = 0
        self._dropped = 0
        self._write_errors = 0
        self._last_error: str | None = NO_DATABASE if engine is None else None
        self._down = False
        self._episode_dropped = 0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        if metrics is not None:
            metrics.audit_buffered.set_function(lambda: self.buffered)

    # --- the producer side -----------------------------------------------------------

    def record(self, entry: AuditEntry) -> None:
        """Buffer `entry` for writing; never blocks, never raises (see the module's doc)."""
        try:
            row = _row(entry)
            if self.buffered >= self._capacity:
                self._drop(1, overflow=True)
                if not self._buffer:  # everything is in flight: this one cannot wait
                    return
                self._buffer.popleft()
            self._buffer.append(row)
            self._wake.set()
        except Exception:  # the audit must never fail an action
            with contextlib.suppress(Exception):
                log.exception("Audit entry could not be buffered")

    @property
    def buffered(self) -> int:
        """Rows recorded and not written yet (in flight included)."""
        return len(self._buffer) + len(self._inflight)

    def stats(self) -> AuditStats:
        """The writer's counters."""
        return AuditStats(
            buffered=self.buffered,
            written=self._written,
            dropped=self._dropped,
            write_errors=self._write_errors,
            last_error=self._last_error,
            database=self._engine is not None,
        )

    # --- the reader side -------------------------------------------------------------

    async def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        queue: str | None = None,
        member_id: str | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        queues_in_scope: frozenset[str] | None = None,
        pbx: str | None = None,
    ) -> AuditPage:
        """Written rows, newest first (see `api.audit_query.read_page`); the page's
        `buffered` says how many recorded rows are not written yet."""
        return await read_page(
            self._engine,
            since=since,
            until=until,
            queue=queue,
            member_id=member_id,
            first=first,
            after=after,
            queues_in_scope=queues_in_scope,
            buffered=self.buffered,
            pbx=pbx,
        )

    # --- the writer ------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer (no-op without a database, or when it runs already)."""
        if self._engine is None or (self._task is not None and not self._task.done()):
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self, timeout: float = 2.0) -> None:
        """Write what can be written within `timeout` seconds, then stop the writer.

        Rows still buffered then are lost (logged with their count): a database
        that is down at shutdown gets one more try, no retries.
        """
        self._stopping.set()
        self._wake.set()
        task = self._task
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)
            await cancel_and_wait(task)
            self._task = None
        self._end_overflow_episode()
        if self.buffered:
            log.warning("Audit writer stopped with %d row(s) not written", self.buffered)

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row recorded so far is written; False after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.buffered:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _run(self) -> None:
        delay = self._retry_initial
        while True:
            if not self._buffer:
                if self._stopping.is_set():
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if await self._write_batch():
                delay = self._retry_initial
                continue
            if self._stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            delay = min(delay * 2, self._retry_cap)

    async def _write_batch(self) -> bool:
        """Write the oldest rows; False when the database could not take them (kept)."""
        count = min(self._batch, len(self._buffer))
        self._inflight = [self._buffer.popleft() for _ in range(count)]
        try:
            try:
                await self._insert(self._inflight)
            except DatabaseUnavailable as exc:
                if not isinstance(exc.__cause__, DataError | IntegrityError):
                    raise
                await self._insert_each()  # find and drop the rows it refuses
            else:
                self._count_written(len(self._inflight))
                self._inflight = []
        except Exception as exc:  # down, too slow, or anything else: the rows wait
            self._failed(exc)
            return False
        finally:
            self._requeue()
        self._recovered()
        return True

    async def _insert_each(self) -> None:
        while self._inflight:
            try:
                await self._insert(self._inflight[:1])
            except DatabaseUnavailable as exc:
                if not isinstance(exc.__cause__, DataError | IntegrityError):
                    raise
                self._inflight.pop(0)
                self._drop(1, overflow=False)
                log.error("Audit row refused by the database and dropped: %s", _kind(exc))
                continue
            self._inflight.pop(0)
            self._count_written(1)

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        engine = self._engine
        assert engine is not None  # the writer runs only with a database
        async with (
            asyncio.timeout(self._write_timeout),
            database_errors(engine, "write the audit"),
            engine.begin() as connection,
        ):
            await connection.execute(insert(AUDIT_TABLE).values(rows))

    def _requeue(self) -> None:
        """Rows of a failed write go back to the front, the oldest dropped past capacity."""
        if not self._inflight:
            return
        self._buffer.extendleft(reversed(self._inflight))
        self._inflight = []
        excess = len(self._buffer) - self._capacity
        for _ in range(max(0, excess)):
            self._buffer.popleft()
        if excess > 0:
            self._drop(excess, overflow=True)

    # --- bookkeeping -----------------------------------------------------------------

    def _count_written(self, count: int) -> None:
        self._written += count
        if self._metrics is not None:
            self._metrics.audit_written.inc(count)

    def _drop(self, count: int, *, overflow: bool) -> None:
        self._dropped += count
        if self._metrics is not None:
            self._metrics.audit_dropped.inc(count)
        if not overflow:
            return
        if not self._episode_dropped:
            log.warning(
                "Audit buffer full (%d rows waiting for the database): dropping the oldest",
                self._capacity,
            )
        self._episode_dropped += count

    def _end_overflow_episode(self) -> None:
        if self._episode_dropped:
            log.warning("Audit buffer overflow ended: %d rows were dropped", self._episode_dropped)
            self._episode_dropped = 0

    def _failed(self, exc: Exception) -> None:
        self._write_errors += 1
        if self._metrics is not None:
            self._metrics.audit_write_errors.inc()
        refused = isinstance(exc.__cause__, ProgrammingError)  # e.g. the table is missing
        problem = "database error" if refused else "database unavailable"
        self._last_error = f"{problem} ({_kind(exc)})"
        if not self._down:
            self._down = True
            log.warning(
                "Audit rows cannot be written (%s)%s; %d waiting, retrying in the background",
                _detail(exc),
                "; has `queue-status migrate` run?" if refused else "",
                self.buffered,
            )

    def _recovered(self) -> None:
        self._last_error = None
        if self._down:
            self._down = False
            log.info(
                "Audit writer recovered: writing the %d waiting rows (%d failed attempts so far)",
                self.buffered,
                self._write_errors,
            )
        if self._episode_dropped and self.buffered < self._capacity // 2:
            self._end_overflow_episode()


def _row(entry: AuditEntry) -> dict[str, Any]:
    """The row of `entry`; an entry that cannot become one still leaves a trace."""
    try:
        return entry_row(entry)
    except Exception:
        return entry_row(
            AuditEntry(
                at_ms=now_ms(),
                role=None,
                token_fingerprint=None,
                scope="*",
                action=str(getattr(entry, "action", "unknown"))[:100],
                arguments={},
                outcome=str(getattr(entry, "outcome", "unknown"))[:20],
                message="the audit entry could not be recorded as given",
            )
        )


def _detail(exc: Exception) -> str:
    """What the log says about a failed write: the database's message (its URL without
    the password, see `ingest.db.engine.database_errors`), never a row's values."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"unexpected {type(exc).__name__}"


def _kind(exc: BaseException) -> str:
    """The error's kind: the driver's exception class name (no URL, no value)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) else exc
    original = getattr(cause, "orig", None) or cause
    # SQLAlchemy's async adapters wrap the driver's own error (asyncpg's UndefinedTableError).
    inner = getattr(original, "__cause__", None)
    if inner is not None and type(original).__module__.startswith("sqlalchemy"):
        original = inner
    return type(original).__name__ if original is not None else type(exc).__name__
