"""The live mirror: the whole state in memory, kept current from the change stream.

It is the broadcaster's feed: the broadcaster hands it every change batch in
version order and reloads it from the store after a gap or a pub/sub
reconnect. Subscriptions take their first state from it (no Redis read per
subscriber) and receive every batch as a `LiveBatch` that carries each changed
entity together with its previous value, so what a subscription sends is a pure
function of (batch, arguments): the same for every subscriber with the same
arguments.

Entity dicts are never mutated once held: a change replaces the reference. A
list handed to a subscription therefore stays a consistent picture while the
mirror moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

import orjson

from api.broadcast import Broadcaster
from api.views import member_counts, queue_view
from ingest.clock import now_ms
from ingest.keys import Kind
from ingest.patches import JsonObject
from ingest.store import ChangeRecord, Snapshot, StateStore


@dataclass(frozen=True, slots=True)
class EntityChange:
    """One entity after a change: `data` None means deleted, `previous` None means new.

    Queues carry their client view (`api.views.queue_view`) as `data`.
    """

    version: int
    kind: Kind
    id: str
    data: JsonObject | None
    previous: JsonObject | None


@dataclass(frozen=True, slots=True)
class LiveBatch:
    """One published batch, applied: the state went from `from_version` to `to_version`."""

    from_version: int
    to_version: int
    changes: tuple[EntityChange, ...]
    # The final view of every queue the batch touched: its own change, or new
    # member counts because one of its operators changed.
    queues: tuple[EntityChange, ...]


@dataclass(frozen=True, slots=True)
class LiveReset:
    """The state was (re)loaded or replaced: subscribers re-send it."""

    version: int
    reason: str


LiveEvent = LiveBatch | LiveReset
LiveBroadcaster: TypeAlias = Broadcaster[LiveEvent]
"""The broadcaster whose feed is the live mirror."""


class LiveView(Protocol):
    """What subscriptions read of the live state for a whole-state message (INITIAL,
    RESYNC): the mirror itself, or the part of it a scoped token sees
    (`api.graphql.scoped.ScopedLive`)."""

    @property
    def version(self) -> int:
        """The store version the state is at."""
        ...

    def operators(self) -> list[JsonObject]:
        """Every operator, sorted by memberId."""
        ...

    def operator(self, member_id: str) -> JsonObject | None:
        """One operator, or None."""
        ...

    def channels(self) -> list[JsonObject]:
        """Every channel, sorted by name."""
        ...

    def queue_views(self, now: int | None = None) -> list[JsonObject]:
        """Every queue as clients see it, by name."""
        ...

    def queue_view(self, name: str, now: int | None = None) -> JsonObject | None:
        """One queue as clients see it, or None."""
        ...


def merge_batches(batches: Sequence[LiveBatch]) -> LiveBatch:
    """Consecutive batches as one (coalescing): every change, in version order, and
    each touched queue's last view."""
    if len(batches) == 1:
        return batches[0]
    queues: dict[str, EntityChange] = {}
    for batch in batches:
        for queue in batch.queues:
            queues[queue.id] = queue
    return LiveBatch(
        batches[0].from_version,
        batches[-1].to_version,
        tuple(change for batch in batches for change in batch.changes),
        tuple(queues[name] for name in sorted(queues)),
    )


def _memberships(operator: JsonObject | None) -> set[str]:
    return set((operator or {}).get("queues") or {})


class LiveState:
    """Operators, queues and channels at one version, with a queue → members index."""

    def __init__(self, store: StateStore, *, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._clock = clock
        self._version = 0
        self.loaded = False
        self.loads = 0
        """How many times the mirror was (re)loaded: a reload may reach a version number
        seen before with other data (Redis lost its state), which version alone would hide."""
        self._operators: dict[str, JsonObject] = {}
        self._queues: dict[str, JsonObject] = {}
        self._channels: dict[str, JsonObject] = {}
        self._members: dict[str, set[str]] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._encoded: dict[str, tuple[int, int, bytes]] = {}

    @property
    def version(self) -> int:
        """The store version the mirror is at."""
        return self._version

    async def reload(self, reason: str) -> LiveReset:
        """Read everything from the store (one round trip) and start over from it."""
        self.load(await self._store.snapshot())
        return LiveReset(self._version, reason)

    def load(self, snapshot: Snapshot) -> None:
        """Replace the mirror with a snapshot."""
        self._operators = {str(op.get("memberId")): op for op in snapshot.operators}
        self._queues = {str(q.get("name")): q for q in snapshot.queues}
        self._channels = {str(c.get("name")): c for c in snapshot.channels}
        self._members = {}
        for member_id, operator in self._operators.items():
            for queue in _memberships(operator):
                self._members.setdefault(queue, set()).add(member_id)
        self._counts = {name: self._member_counts(name) for name in self._queues}
        self._version = snapshot.version
        self._encoded = {}  # a reload may keep the version with other entities
        self.loaded = True
        self.loads += 1

    def operators(self) -> list[JsonObject]:
        """Every operator, sorted by memberId."""
        return [self._operators[key] for key in sorted(self._operators)]

    def operator(self, member_id: str) -> JsonObject | None:
        """One operator, or None."""
        return self._operators.get(member_id)

    def channels(self) -> list[JsonObject]:
        """Every channel, sorted by name."""
        return [self._channels[key] for key in sorted(self._channels)]

    def operators_json(self) -> tuple[int, bytes]:
        """(count, every operator as one JSON array by memberId), encoded once per version.

        The entities are the published ones, parsed: the same bytes as the stored
        collection read from Redis (`RawCollection.json`)."""
        return self._encode("operators", self.operators)

    def channels_json(self) -> tuple[int, bytes]:
        """(count, every channel as one JSON array by name), encoded once per version."""
        return self._encode("channels", self.channels)

    def _encode(self, name: str, read: Callable[[], list[JsonObject]]) -> tuple[int, bytes]:
        cached = self._encoded.get(name)
        if cached is not None and cached[0] == self._version:
            return cached[1], cached[2]
        entities = read()
        encoded = orjson.dumps(entities)
        self._encoded[name] = (self._version, len(entities), encoded)
        return len(entities), encoded

    def queue_views(self, now: int | None = None) -> list[JsonObject]:
        """Every queue as clients see it (callers with wait times, member counts), by name."""
        stamp = self._clock() if now is None else now
        return [self._view(name, stamp) for name in sorted(self._queues)]

    def queue_view(self, name: str, now: int | None = None) -> JsonObject | None:
        """One queue as clients see it, or None."""
        if name not in self._queues:
            return None
        return self._view(name, self._clock() if now is None else now)

    def apply(self, changes: Sequence[ChangeRecord]) -> LiveEvent:
        """Apply a batch that continues `version` (the broadcaster checks that)."""
        from_version = self._version
        now = self._clock()
        applied: list[EntityChange] = []
        direct: set[str] = set()
        indirect: set[str] = set()
        cleared = False
        for change in changes:
            self._version = change.version
            data = change.data if change.op == "upsert" else None
            if change.op == "clear":
                self._clear()
                cleared = True
            elif change.kind == "operator":
                previous = self._put(self._operators, change.id, data)
                self._reindex(change.id, previous, data)
                indirect |= _memberships(previous) | _memberships(data)
                applied.append(EntityChange(change.version, "operator", change.id, data, previous))
            elif change.kind == "queue":
                previous = self._put(self._queues, change.id, data)
                direct.add(change.id)
                view = None if data is None else self._view(change.id, now)
                applied.append(EntityChange(change.version, "queue", change.id, view, previous))
            elif change.kind == "channel":
                previous = self._put(self._channels, change.id, data)
                applied.append(EntityChange(change.version, "channel", change.id, data, previous))
        if cleared:
            # Everything was removed: subscribers re-send what is left (usually nothing).
            return LiveReset(self._version, "live state cleared")
        queues = self._queue_changes(direct, indirect, applied, now)
        return LiveBatch(from_version, self._version, tuple(applied), queues)

    def _queue_changes(
        self, direct: set[str], indirect: set[str], applied: Iterable[EntityChange], now: int
    ) -> tuple[EntityChange, ...]:
        deleted_at = {c.id: c.version for c in applied if c.kind == "queue" and c.data is None}
        out: list[EntityChange] = []
        for name in sorted(direct | indirect):
            raw = self._queues.get(name)
            if raw is None:
                self._counts.pop(name, None)
                if name in deleted_at:
                    out.append(EntityChange(deleted_at[name], "queue", name, None, None))
                continue
            counts = self._member_counts(name)
            if name in direct or counts != self._counts.get(name):
                self._counts[name] = counts
                version = int(raw.get("version") or self._version)
                out.append(EntityChange(version, "queue", name, self._view(name, now), None))
        return tuple(out)

    def _view(self, name: str, now: int) -> JsonObject:
        members = (self._operators[m] for m in self._members.get(name, ()))
        return queue_view(self._queues[name], members, now)

    def _member_counts(self, name: str) -> dict[str, int]:
        members = (self._operators[m] for m in self._members.get(name, ()))
        return member_counts(name, members)

    def _reindex(
        self, member_id: str, previous: JsonObject | None, data: JsonObject | None
    ) -> None:
        before, after = _memberships(previous), _memberships(data)
        for queue in before - after:
            members = self._members.get(queue)
            if members is not None:
                members.discard(member_id)
                if not members:
                    del self._members[queue]
        for queue in after - before:
            self._members.setdefault(queue, set()).add(member_id)

    @staticmethod
    def _put(
        entities: dict[str, JsonObject], entity_id: str, data: JsonObject | None
    ) -> JsonObject | None:
        if data is None:
            return entities.pop(entity_id, None)
        previous = entities.get(entity_id)
        entities[entity_id] = data
        return previous

    def _clear(self) -> None:
        self._operators, self._queues, self._channels = {}, {}, {}
        self._members, self._counts = {}, {}
