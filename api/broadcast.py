"""One Redis pub/sub connection per process, fanned out to bounded per-subscriber queues.

The broadcaster reads the store's changes channel in one task, in order. A
*feed* turns each batch of changes into an event (and reloads its state from
the store when asked); every subscriber gets every event in a bounded queue of
its own. Events are handed over with `put_nowait` only: a subscriber that falls
`buffer_size` events behind is cut off with `SubscriberOverflow`, its buffer is
freed at once, and it never slows the broadcaster or the other subscribers.

Nothing is lost silently. redis-py drops whatever is published while its
pub/sub connection is down or reconnecting, so:

- every (re)subscription reloads the feed from the store and hands every
  subscriber a reset event ("re-send the current state");
- versions are global and contiguous: a batch that does not continue the
  feed's version is a gap → reload;
- after a reload a PING travels the pub/sub stream behind the messages already
  queued: until its PONG, messages the reloaded state already holds are
  dropped; after it, an old version means the counter went back (FLUSHALL) →
  reload;
- while no message comes, the broadcaster reads the store's version, then
  PINGs through the subscription: when the PONG arrives, every batch up to
  that version must have arrived before it, else it reloads (a gap nothing
  else would reveal, e.g. after a blackholed link, when nothing more is
  written); a PONG that does not come within `check_timeout` means a dead
  link: reconnect (and so reload). A store version below the feed's, read
  while idle, means Redis lost writes the feed holds (a failover to a replica
  that missed them): reload, so subscribers get a RESYNC to what Redis holds.

Modelled on encode/broadcaster (`_base.py`): one connection, one queue per
subscriber, subscribers join and leave through an async context manager.
A *listener* (the GraphQL subscription fan-out, `api.graphql.fanout`) gets
every event too, synchronously and in order, and serves its own subscribers
without a queue each.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from ingest.changes_channel import MESSAGES, SUBSCRIBED, ChangesSubscription, open_subscription
from ingest.logs import get_logger
from ingest.store import ChangeRecord, decode_changes
from ingest.tasks import cancel_and_wait

log = get_logger("Broadcaster")

EventT = TypeVar("EventT")
EventT_co = TypeVar("EventT_co", covariant=True)
EventT_contra = TypeVar("EventT_contra", contravariant=True)

# Sent as PING's argument after a reload; its PONG marks the end of the catch-up.
_CATCH_UP_MARKER = b"queue-status-reloaded"
# Sent as PING's argument by the idle check; its PONG comes after every batch published
# before the version the check read.
_CHECK_MARKER = b"queue-status-check"


class Feed(Protocol[EventT_co]):
    """The state a broadcaster keeps current: a version, a reload, and batches applied."""

    @property
    def version(self) -> int:
        """The store version the feed's state is at (0 before the first load)."""
        ...

    async def reload(self, reason: str) -> EventT_co:
        """Read the whole state from the store; the event telling subscribers to re-send it."""
        ...

    def apply(self, changes: Sequence[ChangeRecord]) -> EventT_co | None:
        """Apply a batch that continues `version`; the event for subscribers, if any."""
        ...


class Listener(Protocol[EventT_contra]):
    """Receives every event synchronously, in order (the subscription fan-out)."""

    @property
    def count(self) -> int:
        """The subscriptions it serves."""
        ...

    def offer(self, event: EventT_contra) -> None:
        """One event; must not block."""
        ...

    def start(self) -> None:
        """Begin (with the broadcaster)."""
        ...

    async def stop(self) -> None:
        """End every subscription it serves (with the broadcaster)."""
        ...


class SubscriberOverflow(Exception):
    """A subscriber fell too far behind and was cut off; the message says what to do."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"subscription closed: the client fell more than {limit} updates behind; "
            "resubscribe to get the current state"
        )
        self.limit = limit


class _Signal(enum.Enum):
    OVERFLOW = "overflow"
    CLOSED = "closed"


class Subscriber(Generic[EventT]):
    """One subscriber's bounded queue, read with `async for`.

    Iteration ends when the broadcaster stops, and raises SubscriberOverflow
    when the subscriber was cut off for being too slow.
    """

    def __init__(self, buffer_size: int) -> None:
        self._limit = buffer_size
        # One slot more than the limit, so the final signal always fits.
        self._queue: asyncio.Queue[EventT | _Signal] = asyncio.Queue(maxsize=buffer_size + 1)
        self._ended: _Signal | None = None

    @property
    def pending(self) -> int:
        """Events waiting to be read."""
        return self._queue.qsize()

    def offer(self, event: EventT) -> bool:
        """Queue an event without waiting; False (and the subscriber is ended) when full."""
        if self._ended is not None:
            return False
        if self._queue.qsize() >= self._limit:
            self.end(_Signal.OVERFLOW)
            return False
        self._queue.put_nowait(event)
        return True

    def end(self, signal: _Signal = _Signal.CLOSED) -> None:
        """Drop what is buffered (free it now) and make the reader stop with `signal`."""
        if self._ended is not None:
            return
        self._ended = signal
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(signal)

    def __aiter__(self) -> Subscriber[EventT]:
        return self

    async def __anext__(self) -> EventT:
        item = await self._queue.get()
        if isinstance(item, _Signal):
            self._queue.put_nowait(item)  # a later read ends the same way
            if item is _Signal.OVERFLOW:
                raise SubscriberOverflow(self._limit)
            raise StopAsyncIteration
        return item


class Broadcaster(Generic[EventT]):
    """Reads the changes channel with one pub/sub connection and fans events out."""

    def __init__(
        self,
        redis: Redis,
        channel: str,
        feed: Feed[EventT],
        *,
        buffer_size: int = 500,
        poll_interval: float = 1.0,
        retry_delays: tuple[float, float] = (0.05, 5.0),
        current_version: Callable[[], Awaitable[int]] | None = None,
        check_timeout: float = 3.0,
    ) -> None:
        self._redis = redis
        self._current_version = current_version
        self._check_timeout = check_timeout
        self._check_sent: float | None = None
        self._check_version = 0
        self._channel = channel
        self._feed = feed
        self._buffer_size = buffer_size
        self._poll_interval = poll_interval
        self._retry_min, self._retry_max = retry_delays
        self._retry_delay = self._retry_min
        self._subscribers: set[Subscriber[EventT]] = set()
        self._listeners: list[Listener[EventT]] = []
        self._task: asyncio.Task[None] | None = None
        self._catching_up = False
        self._loads = 0
        self.connected = False
        self.overflows = 0

    @property
    def feed(self) -> Feed[EventT]:
        """The state kept current from the changes channel."""
        return self._feed

    @property
    def subscriber_count(self) -> int:
        """Subscribers currently registered (a listener's subscriptions included)."""
        return len(self._subscribers) + sum(listener.count for listener in self._listeners)

    @property
    def listeners(self) -> tuple[Listener[EventT], ...]:
        """The attached listeners."""
        return tuple(self._listeners)

    def attach(self, listener: Listener[EventT]) -> None:
        """Hand every event to `listener` too (after the queue subscribers get theirs)."""
        self._listeners.append(listener)

    def record_overflow(self) -> None:
        """A listener cut off one of its subscriptions for being too slow."""
        self.overflows += 1

    @property
    def loads(self) -> int:
        """How many times the feed was (re)loaded from the store."""
        return self._loads

    async def start(self) -> None:
        """Start reading in the background (idempotent)."""
        if self._task is None:
            for listener in self._listeners:
                listener.start()
            self._task = asyncio.create_task(self._run(), name="changes-broadcaster")

    async def stop(self) -> None:
        """Stop reading, close the pub/sub connection and end every subscriber."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        self.connected = False
        for subscriber in tuple(self._subscribers):
            subscriber.end()
        self._subscribers.clear()
        for listener in self._listeners:
            await listener.stop()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscriber[EventT]]:
        """Join; leave on exit. Nothing awaits before the yield, so a subscriber can read
        the feed's state right after joining and miss no event that follows it."""
        subscriber: Subscriber[EventT] = Subscriber(self._buffer_size)
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except Exception as exc:  # Redis down or the connection killed: reconnect
                log.warning(
                    "Changes subscription lost (%s); reconnecting in %.2f s",
                    type(exc).__name__,
                    self._retry_delay,
                )
                await asyncio.sleep(self._retry_delay)
                self._retry_delay = min(self._retry_delay * 2, self._retry_max)

    async def _listen(self) -> None:
        # In a Redis Cluster: SSUBSCRIBE on the master of the channel's slot, found again
        # (the slot map reloaded) after a lost subscription (`ingest.changes_channel`).
        subscription = await open_subscription(self._redis, self._channel, refresh=self._loads > 0)
        pubsub = subscription.pubsub
        self._check_sent = None
        try:
            await subscription.subscribe()
            while True:
                # A timeout, not a blocking read: each call also runs redis-py's
                # health check, so a dead connection is noticed while idle.
                message = await pubsub.get_message(timeout=self._poll_interval)
                if message is not None:
                    await self._handle(subscription, message)
                elif self._current_version is not None and self.connected:
                    await self._check(pubsub, self._current_version)
        finally:
            self.connected = False
            await subscription.aclose()

    async def _handle(self, subscription: ChangesSubscription, message: dict[str, Any]) -> None:
        pubsub = subscription.pubsub
        kind = message.get("type")
        subscription.check(kind)  # the slot moved: subscribe again where it went
        if kind in SUBSCRIBED:
            # Also after redis-py reconnected by itself: what was published in
            # between is gone, so reload and re-send.
            reason = "Redis pub/sub reconnected" if self._loads else "initial load"
            await self._reload(pubsub, reason)
            self.connected = True
            self._retry_delay = self._retry_min
        elif kind == "pong":
            if message.get("data") in (_CATCH_UP_MARKER, _CATCH_UP_MARKER.decode()):
                self._catching_up = False
            elif message.get("data") in (_CHECK_MARKER, _CHECK_MARKER.decode()):
                self._check_sent = None
                at = self._feed.version
                if self._check_version > at and not self._catching_up:
                    reason = f"missed versions {at + 1}..{self._check_version}"
                    log.warning("Change stream gap found by the idle check: %s; reloading", reason)
                    await self._reload(pubsub, reason)
        elif kind in MESSAGES:
            await self._on_payload(pubsub, message["data"])

    async def _check(self, pubsub: PubSub, current_version: Callable[[], Awaitable[int]]) -> None:
        """Idle: has every published batch arrived, and does the link still answer?"""
        now = asyncio.get_running_loop().time()
        if self._check_sent is not None:
            if now - self._check_sent > self._check_timeout:
                raise ConnectionError("the changes subscription stopped answering")
            return
        # Read before the store's: the feed only ever holds versions the store published,
        # so a store version below it can only mean the store lost them.
        at = self._feed.version
        self._check_version = await current_version()
        if self._check_version < at and not self._catching_up:
            reason = f"the store's version went back from {at} to {self._check_version}"
            log.warning("Redis lost writes: %s; reloading", reason)
            await self._reload(pubsub, reason)
            return
        self._check_sent = now
        await pubsub.ping(_CHECK_MARKER)

    async def _on_payload(self, pubsub: PubSub, payload: bytes) -> None:
        try:
            changes = decode_changes(payload)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("Undecodable change batch (%s); reloading", type(exc).__name__)
            await self._reload(pubsub, "undecodable change batch")
            return
        if not changes:
            return
        at = self._feed.version
        first, last = changes[0].version, changes[-1].version
        if last <= at and self._catching_up:
            return  # published before the reload read the state: already included
        if first != at + 1:
            if first > at + 1:
                reason = f"missed versions {at + 1}..{first - 1}"
            else:
                reason = f"versions went back to {first} at {at} (counter reset)"
            log.warning("Change stream gap: %s; reloading", reason)
            await self._reload(pubsub, reason)
            return
        event = self._feed.apply(changes)
        if event is not None:
            self._publish(event)

    async def _reload(self, pubsub: PubSub, reason: str) -> None:
        event = await self._feed.reload(reason)
        self._loads += 1
        self._catching_up = True
        await pubsub.ping(_CATCH_UP_MARKER)
        log.info("Live state loaded at version %d (%s)", self._feed.version, reason)
        self._publish(event)

    def _publish(self, event: EventT) -> None:
        for subscriber in tuple(self._subscribers):
            if not subscriber.offer(event):
                self._subscribers.discard(subscriber)
                self.overflows += 1
                log.warning("Subscriber cut off: more than %d updates waiting", self._buffer_size)
        for listener in self._listeners:
            listener.offer(event)
