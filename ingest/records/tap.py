"""The live records tap: every typed event the pipeline parses also goes to one builder.

`EventPipeline.plan` hands each parsed event, in order, to `feed` (cheap: one
dict lookup for the time and the builder's own work); the records it completes
wait in memory until `flush` appends them to the durable buffer
(`ingest.records.buffer`), which the pipeline does right after the batch's
state write, before the batch counts as done. A flush that fails (Redis down)
keeps them, and the consumer's retry of the batch flushes them again.

Event time: the AMI ``Timestamp`` header (manager.conf ``timestampevents =
yes``: epoch seconds with a fraction) when the message has one, else the
batch's receive time.

A batch sent again (the consumer retries a batch whose write failed) is fed
once: `begin_batch` knows the writer's batch number (see `StateStore.apply`).

Without events, `tick` (on a timer) closes what is due (a caller who left the
queue unanswered, calls too old), on the stream's own clock: the last event's
time plus the time since it was fed, so a consumer behind never closes a call
whose next event is still queued. An Asterisk restart (a FullyBooted whose
boot time moved on) closes the calls it dropped without hangups.

`save_open` / `load_open` carry the open calls over a restart of the service
(`ingest.records.open_state`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from ingest.ami.events import AmiEvent, FullyBooted
from ingest.ami.message import AmiMessage
from ingest.records.buffer import RecordBuffer
from ingest.records.builder import CallRecordBuilder
from ingest.records.model import Record
from ingest.records.open_state import CarriedState, load_open_state, save_open_state

__all__ = ["RecordsTap", "TapCounters", "timestamp_ms"]

BOOT_TOLERANCE_MS = 60_000
"""A FullyBooted whose boot time is later than the last one by more than this is a restart
(Uptime is whole seconds and our clocks differ a little)."""


@dataclass(slots=True)
class TapCounters:
    """What the tap has done so far (this process)."""

    built: int = 0
    """Records completed by the builder."""
    buffered: int = 0
    """Records appended to the buffer."""
    overflowed: int = 0
    """Records the buffer's cap refused."""
    asterisk_restarts: int = 0


class RecordsTap:
    """One builder fed in event order, its records appended to the durable buffer."""

    def __init__(
        self,
        buffer: RecordBuffer,
        builder: CallRecordBuilder | None = None,
        *,
        on_buffered: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.buffer = buffer
        self.builder = builder or CallRecordBuilder()
        self.counters = TapCounters()
        self._on_buffered = on_buffered
        self._monotonic = monotonic
        self._unsent: list[Record] = []
        self._last_writer: tuple[str, int] | None = None
        self._last_event_ms: int | None = None
        self._last_fed = 0.0
        self._booted_at: int | None = None

    # --- the hot path ----------------------------------------------------------------

    def begin_batch(self, writer: tuple[str, int] | None) -> bool:
        """Whether this batch's events are to be fed: False for a batch sent again."""
        if writer is not None and writer == self._last_writer:
            return False
        self._last_writer = writer
        return True

    def feed(self, event: AmiEvent, message: AmiMessage, received_ms: int) -> None:
        """Give one parsed event to the builder, at its own time (see the module's doc)."""
        at = _event_time(message, received_ms)
        self._last_event_ms = at
        self._last_fed = self._monotonic()
        done = self.builder.feed(event, at)
        if isinstance(event, FullyBooted) and event.uptime is not None:
            done = done + self._booted(at - event.uptime * 1000, at)
        if done:
            self._unsent.extend(done)
            self.counters.built += len(done)

    @property
    def unsent(self) -> int:
        """Records completed and not yet in the buffer."""
        return len(self._unsent)

    async def flush(self) -> None:
        """Append the completed records to the buffer (raises RedisError: they are kept)."""
        if not self._unsent:
            return
        sending, self._unsent = self._unsent, []
        try:
            result = await self.buffer.append(sending)
        except BaseException:
            self._unsent[:0] = sending
            raise
        self.counters.buffered += result.added
        self.counters.overflowed += result.overflowed
        if self._on_buffered is not None:
            self._on_buffered()

    # --- the timer -------------------------------------------------------------------

    async def tick(self) -> None:
        """Close what is due without an event, and flush (raises RedisError)."""
        if self._last_event_ms is not None:
            elapsed = int((self._monotonic() - self._last_fed) * 1000)
            done = self.builder.expire(self._last_event_ms + elapsed)
            if done:
                self._unsent.extend(done)
                self.counters.built += len(done)
        await self.flush()

    def _booted(self, booted_at: int, now: int) -> list[Record]:
        previous, self._booted_at = self._booted_at, booted_at
        if previous is None or booted_at <= previous + BOOT_TOLERANCE_MS:
            return []
        self.counters.asterisk_restarts += 1
        return self.builder.close_calls(now)

    # --- carried over a restart of the service ---------------------------------------

    async def save_open(self, redis: Redis, key: str) -> int:
        """Keep the open calls and intervals for the next run; how many calls (RedisError)."""
        snapshot = self.builder.export_open()
        await save_open_state(redis, key, CarriedState(snapshot, self._booted_at))
        return len(snapshot.calls)

    async def load_open(self, redis: Redis, key: str) -> int:
        """Open again what the last run saved; how many calls (RedisError)."""
        carried = await load_open_state(redis, key)
        if carried is None:
            return 0
        self.builder.restore_open(carried.open)
        if self._booted_at is None:
            self._booted_at = carried.asterisk_booted_at
        return len(carried.open.calls)


def timestamp_ms(stamp: str) -> int:
    """An AMI ``Timestamp`` (``<s>.<µs>``) in epoch ms, cut like a timeval, never rounded
    into the next second (the queue_log's whole seconds then agree); read from the text,
    not through a float. ValueError when it is not one."""
    seconds, _, fraction = stamp.strip().partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise ValueError(f"not an AMI timestamp: {stamp!r}")
    return int(seconds) * 1000 + int((fraction + "000")[:3])


def _event_time(message: AmiMessage, received_ms: int) -> int:
    """The ``Timestamp`` header in epoch ms, else `received_ms` (absent or not a number)."""
    stamp = message.get("Timestamp")
    if not isinstance(stamp, str):
        return received_ms
    try:
        return timestamp_ms(stamp)
    except ValueError:
        return received_ms
