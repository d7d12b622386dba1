"""The AMI ingest: events in arrival order → pipeline → Redis, kept exact by reconciliation.

panoramisk runs coroutine callbacks as separate tasks, so their order is lost.
Our callback is plain: it appends the message to one queue. One consumer task
applies the queue strictly in order, in batches (one Redis round trip each).

Reconciliation takes a snapshot of Asterisk's lists (`ingest.runners.ami_snapshots`)
and makes Redis equal to what it reports. Its place in the event stream is
exact: the protocol reports the first answer to the QueueStatus action, and a
marker goes into the queue at that point. Events before the marker are
applied before the snapshot; events after it (those that arrived while the
lists were being collected) wait until the snapshot is applied, then follow
in order — never lost, never applied twice.

The queue is bounded (`queue_max`, INGEST_QUEUE_MAX): when it is full the
connection stops reading (`AmiConnection.hold_reading`) and TCP makes Asterisk
wait, until the consumer has drained it to half. Memory stays bounded and the
ingest reads only as fast as it applies. One exception: while the consumer
waits at a snapshot's marker for the lists, which come through the same
socket, reading goes on (else neither could move). Only past `hard_max` — a
last resort a working Redis never lets happen — are events dropped until the
next reconciliation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from redis.exceptions import RedisError

from ingest.actions.waiters import EventWaiters
from ingest.ami.connection import AmiConnection, AmiEndpoint, AmiSession
from ingest.ami.message import AmiMessage
from ingest.ami.sources import LIST_ACTION_TIMEOUT, SnapshotSources
from ingest.clock import now_ms
from ingest.logs import get_logger
from ingest.runners.ami_snapshots import SnapshotCollector, SnapshotPoint
from ingest.runners.ami_status import DEFAULT_QUEUE_MAX, IngestStatus
from ingest.store import StaleEpoch
from ingest.tasks import cancel_and_wait

log = get_logger("AmiService")
event_log = get_logger("AmiEvents")

BATCH_SIZE = 200
"""Messages applied per EVALSHA: a few ms of parsing and reducing in our loop and of
Lua in Redis, so neither the API sharing the loop nor its Redis reads wait long."""
HARD_QUEUE_MAX = 200_000
"""Beyond it events are dropped until reconciled: only reachable while reading must go
on for a snapshot's lists and Redis does not take what queues up meanwhile."""
SNAPSHOT_RETRY_MIN = 1.0
"""Seconds before a failed snapshot is taken again; doubled per failure up to the max."""
SNAPSHOT_RETRY_MAX = 30.0


class ApplyEvents(Protocol):
    """Applies one batch of messages at `now`; the number of events applied.

    `writer` numbers the batch among this ingest's batches: when a write times
    out, Redis may still run it (it was only slow, e.g. stopped) and the batch
    is then sent again; the store applies it once (see `StateStore.apply`),
    so counters are not counted twice. `EventPipeline.apply` is one.
    """

    def __call__(
        self, messages: list[AmiMessage], now: int, *, writer: tuple[str, int]
    ) -> Awaitable[int]: ...


class ApplySnapshot(Protocol):
    """Reconciles collected lists at `now`; `queue` limits it to one queue's answer.
    `EventPipeline.apply_snapshot` is one."""

    def __call__(
        self, collected: dict[str, list[AmiMessage]], now: int, *, queue: str | None = None
    ) -> Awaitable[int]: ...


class AmiUnavailable(ConnectionError):
    """No AMI session to send an action on (disconnected, or AMI is off)."""


class EventApplier:
    """What the consumer needs from the pipeline and the reconciler (see `ingest.pipeline`)."""

    def __init__(self, apply_events: ApplyEvents, apply_snapshot: ApplySnapshot) -> None:
        self.apply_events = apply_events
        self.apply_snapshot = apply_snapshot


class AmiIngest:
    """Runs the connection, the ordered consumer, the periodic reconcile and the stats line."""

    def __init__(
        self,
        endpoint: AmiEndpoint,
        applier: EventApplier,
        *,
        known_queues: Callable[[], Awaitable[set[str]]],
        reconcile_interval: float = 60.0,
        ping_interval: float = 10.0,
        max_queue: int = DEFAULT_QUEUE_MAX,
        hard_max: int = HARD_QUEUE_MAX,
        stats_interval: float = 60.0,
        on_redis_recovered: Callable[[], Awaitable[None]] | None = None,
        list_timeout: float = LIST_ACTION_TIMEOUT,
        on_stale: Callable[[], None] | None = None,
        prefilter: bool = True,
    ) -> None:
        self.status = IngestStatus(
            host=endpoint.host,
            port=endpoint.port,
            sources=SnapshotSources(retry_after=reconcile_interval, timeout=list_timeout),
        )
        self._applier = applier
        self._reconcile_interval = reconcile_interval
        if max_queue < 2:
            raise ValueError("max_queue must be at least 2")
        self._max_queue = max_queue
        self._resume_at = max_queue // 2
        self._hard_max = max(hard_max, max_queue)
        self.status.queue_max = max_queue
        # The consumer waits at a snapshot's marker: its lists need the socket read.
        self._awaiting_lists = False
        self._stats_interval = stats_interval
        self._on_redis_recovered = on_redis_recovered
        self._on_stale = on_stale
        self._fenced = False
        self._items: deque[AmiMessage | SnapshotPoint] = deque()
        self._wakeup = asyncio.Event()
        self._session: AmiSession | None = None
        self._snapshots = SnapshotCollector(
            self.status.sources,
            known_queues=known_queues,
            list_timeout=list_timeout,
            at_marker=self._at_marker,
        )
        self._reconcile_wanted = asyncio.Event()
        self._last_uptime: int | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._window_received = 0
        self._window_applied = 0
        self.waiters = EventWaiters()
        self._writer_id = uuid.uuid4().hex
        self._batches = itertools.count()
        self.connection = AmiConnection(
            endpoint,
            on_event=self._on_event,
            on_session=self._on_session,
            on_state=self._on_state,
            stats=self.status.protocol,
            ping_interval=ping_interval,
            prefilter=prefilter,
        )

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start every task of the ingest."""
        self._fenced = False
        self._awaiting_lists = False
        self._tasks = [
            asyncio.create_task(self.connection.run(), name="ami-connection"),
            asyncio.create_task(self._consume(), name="ami-consumer"),
            asyncio.create_task(self._log_stats(), name="ami-stats"),
        ]

    async def stop(self) -> None:
        """Stop every task; the session is closed."""
        if self._session is not None:
            self._session.close("service stopping")
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        self._release_reading()  # what was queued stays; the next session reads again

    async def halt(self, reason: str) -> None:
        """Stop consuming at once and forget what was not applied (stepping down: the
        next leader's reconciliation brings the truth); `start` resumes from a new session."""
        if self._session is not None:
            self._session.close(reason)
        await self.stop()
        self._items.clear()
        self._snapshots.session_ended()
        self._session = None
        status = self.status
        status.connected, status.connected_since, status.stale = False, None, True
        status.queue_depth = 0

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until logged in (or `timeout`); True when connected."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self.status.connected:
                    await asyncio.sleep(0.02)
        return self.status.connected

    async def send_action(self, action: Mapping[str, str], timeout: float) -> Any:
        """Send an action on the live session; Asterisk's answer.

        Raises AmiUnavailable without a session, SessionClosed when it ends
        first, TimeoutError after `timeout`.
        """
        session = self._session
        if session is None or not self.status.connected:
            raise AmiUnavailable("AMI is not connected")
        return await session.send(action, timeout=timeout)

    async def reconcile_queue(self, queue: str, timeout: float) -> int:
        """Ask ``QueueStatus Queue: <queue>`` and make that queue equal to the answer,
        at the answer's place in the stream; the corrections made.

        This is how a realtime queue's members are reloaded from its table:
        Asterisk reads the table when the queue is used, and says nothing else.
        """
        session = self._session
        if session is None or not self.status.connected:
            raise AmiUnavailable("AMI is not connected")
        point = await self._snapshots.collect_queue(session, queue)
        async with asyncio.timeout(timeout):
            return await point.applied

    def request_reconcile(self, reason: str) -> None:
        """Take a new snapshot as soon as possible."""
        log.info("Reconciliation requested: %s", reason)
        self._reconcile_wanted.set()

    # --- connection callbacks (plain functions: they run inline, in order) ----

    def _on_event(self, message: AmiMessage) -> None:
        status = self.status
        status.events_received += 1
        self._window_received += 1
        status.last_event_at = now_ms()
        if len(self._items) >= self._hard_max:
            # Last resort (see the module's doc): drop, let reconciliation restore the truth.
            status.events_dropped += 1
            if not status.stale:
                log.error(
                    "Ingest queue full (%d); dropping events until reconciled", self._hard_max
                )
                status.stale = True
                self._reconcile_wanted.set()
            return
        self._items.append(message)
        self._wakeup.set()
        self._queued()

    def _queued(self) -> None:
        """After an append: count the depth; a full queue stops the reading."""
        depth = len(self._items)
        status = self.status
        status.queue_depth = depth
        if depth > status.queue_depth_max:
            status.queue_depth_max = depth
        if depth >= self._max_queue and not self._awaiting_lists:
            self._hold_reading()

    def _hold_reading(self) -> None:
        if self.connection.reading_held:
            return
        self.connection.hold_reading()
        status = self.status
        status.reading_paused = True
        status.read_pauses += 1
        status.paused_since = time.monotonic()

    def _release_reading(self) -> None:
        if not self.connection.reading_held:
            return
        status = self.status
        if status.paused_since is not None:
            status.read_paused_seconds += time.monotonic() - status.paused_since
        status.paused_since = None
        status.reading_paused = False
        self.connection.release_reading()

    def _at_marker(self, point: SnapshotPoint) -> None:
        # The snapshot's exact place in the stream: after everything received so far.
        self._items.append(point)
        self._wakeup.set()
        self._queued()

    def _on_state(self, connected: bool, error: str | None) -> None:
        status = self.status
        status.connected = connected
        status.reconnects = self.connection.reconnects
        if connected:
            status.connected_since = now_ms()
            status.last_error = None
        else:
            status.connected_since = None
            status.last_error = error
            status.stale = True

    async def _on_session(self, session: AmiSession) -> None:
        """Runs while a session lives: the startup snapshot, then periodic ones."""
        self._session = session
        session.watch_action_messages(self._snapshots.on_action_message)
        try:
            self._reconcile_wanted.set()
            wait = self._reconcile_interval
            retry = SNAPSHOT_RETRY_MIN
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._reconcile_wanted.wait()
                self._reconcile_wanted.clear()
                if await self._snapshots.collect(session, retry):
                    wait, retry = self._reconcile_interval, SNAPSHOT_RETRY_MIN
                else:
                    # A missed reconciliation (e.g. the one after Redis recovered) is
                    # taken again soon, not a whole interval later.
                    wait = min(retry, self._reconcile_interval)
                    retry = min(retry * 2, SNAPSHOT_RETRY_MAX)
        finally:
            self._session = None
            self._snapshots.session_ended()

    # --- the consumer ------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            if self._fenced:
                self._items.clear()  # deposed: nothing more is applied until `start`
                self._release_reading()
            if not self._items:
                self._wakeup.clear()
                self.status.queue_depth = 0
                self._release_reading()
                await self._wakeup.wait()
                continue
            head = self._items[0]
            if isinstance(head, SnapshotPoint):
                self._items.popleft()
                await self._apply_snapshot(head)
                continue
            batch: list[AmiMessage] = []
            while (
                self._items
                and len(batch) < BATCH_SIZE
                and not isinstance(self._items[0], SnapshotPoint)
            ):
                item = self._items.popleft()
                assert not isinstance(item, SnapshotPoint)
                batch.append(item)
            self.status.queue_depth = len(self._items)
            if len(self._items) <= self._resume_at:
                self._release_reading()
            self._watch_system_events(batch)
            try:
                await self._apply_with_retry(batch, (self._writer_id, next(self._batches)))
            except StaleEpoch:
                self._deposed()
            # A batch whose Redis answer came at once must not chain into the next one
            # without letting the API (sharing this loop) in.
            await asyncio.sleep(0)

    def _deposed(self) -> None:
        """A write was refused as stale: apply nothing more, let the election step down."""
        log.error("A newer ingest leader exists: this one's writes are refused; stepping down")
        self._fenced = True
        self._items.clear()
        if self._on_stale is not None:
            self._on_stale()

    async def _apply_with_retry(self, batch: list[AmiMessage], writer: tuple[str, int]) -> None:
        delay = 0.05
        failed = False
        while True:
            try:
                applied = await self._applier.apply_events(batch, now_ms(), writer=writer)
            except RedisError as exc:
                # Keep the batch and its order: Redis comes back, nothing is lost.
                self.status.redis_errors += 1
                if not failed:
                    log.error(
                        "Redis unavailable while applying AMI events (%s); retrying",
                        type(exc).__name__,
                    )
                failed = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            break
        self.status.events_applied += applied
        self._window_applied += applied
        self.waiters.applied(batch)
        if failed:
            log.info("Redis is back; applying AMI events again")
            if self._on_redis_recovered is not None:
                await self._on_redis_recovered()
            # Redis may have restarted empty: rebuild from Asterisk's own picture.
            self.request_reconcile("Redis recovered")

    async def _apply_snapshot(self, point: SnapshotPoint) -> None:
        # The lists come through the socket: read on, whatever the depth, until they are in.
        self._awaiting_lists = True
        self._release_reading()
        try:
            collected = await asyncio.wait_for(point.collected, timeout=60)
        except Exception as exc:
            point.fail(exc)
            return  # logged by the collector; the next snapshot will come
        finally:
            self._awaiting_lists = False
            if len(self._items) >= self._max_queue:
                self._hold_reading()
        while True:
            try:
                corrections = await self._applier.apply_snapshot(
                    collected, now_ms(), queue=point.queue
                )
            except StaleEpoch as exc:
                point.fail(exc)
                self._deposed()
                return
            except RedisError as exc:
                self.status.redis_errors += 1
                log.error("Redis unavailable while reconciling (%s); retrying", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            break
        if not point.applied.done():
            point.applied.set_result(corrections)
        if point.queue is not None:
            log.info("Reconciled queue %s with Asterisk: %d corrections", point.queue, corrections)
            return
        status = self.status
        status.reconciliations += 1
        status.last_reconcile_at = now_ms()
        status.last_reconcile_corrections = corrections
        if status.reconciliations > 1:
            # The first snapshot builds the state; later ones measure drift.
            status.drift_corrections += corrections
        status.stale = not status.connected
        log.info("Reconciled with Asterisk: %d corrections", corrections)

    def _watch_system_events(self, batch: list[AmiMessage]) -> None:
        for message in batch:
            name = str(message.get("Event", ""))
            if event_log.isEnabledFor(10):
                event_log.debug("AMI Event %s", name)
            if name == "FullyBooted":
                uptime = _int(message.get("Uptime"))
                if (
                    uptime is not None
                    and self._last_uptime is not None
                    and uptime < self._last_uptime
                ):
                    self.request_reconcile("Asterisk restarted")
                self._last_uptime = uptime
            elif name == "Reload":
                self.request_reconcile("Asterisk reloaded")

    async def _log_stats(self) -> None:
        filtered_before = self.status.protocol.events_filtered
        while True:
            await asyncio.sleep(self._stats_interval)
            event_log.info(
                "AMI Events: %d received, %d applied in the last %d s",
                self._window_received,
                self._window_applied,
                int(self._stats_interval),
            )
            self._window_received = 0
            self._window_applied = 0
            filtered = self.status.protocol.events_filtered
            event_filter = self.connection.event_filter
            if filtered > filtered_before and event_filter is not None:
                kinds = ", ".join(
                    f"{kind} {count}"
                    for kind, count in list(event_filter.dropped_by_kind().items())[:5]
                )
                event_log.info(
                    "AMI events of unused kinds dropped unread: %d in the last %d s"
                    " (most since the start: %s)",
                    filtered - filtered_before,
                    int(self._stats_interval),
                    kinds,
                )
            filtered_before = filtered


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
