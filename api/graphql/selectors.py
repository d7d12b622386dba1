"""Selectors: what each subscription sends, as a pure function of (state or batch, arguments).

A selector turns the live mirror (INITIAL, RESYNC) or one broadcast batch
(CHANGES) into one message for given arguments. Its message depends only on
(batch, arguments), never on the subscriber, so subscribers with identical
arguments share one execution (`api.graphql.fanout`); a subscription of its
own runs the same selector in `api.graphql.streams.follow`.

`SELECTORS` maps each Subscription root field to its selector, from the
field's (coerced, GraphQL-named) arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from api.graphql.enums import ChangeOp, EntityKind, UpdateKind
from api.graphql.scalars import Timestamp, Version
from api.graphql.types import Channel, Operator, Queue, Snapshot
from api.graphql.updates import (
    Change,
    ChangeBatch,
    ChannelUpdate,
    OperatorUpdate,
    QueueUpdate,
    Removal,
)
from api.live import EntityChange, LiveBatch, LiveView
from api.views import in_queue
from ingest.clock import now_ms
from ingest.keys import Kind
from ingest.patches import JsonObject

U_co = TypeVar("U_co", covariant=True)


@dataclass(frozen=True, slots=True)
class UpdateHeader:
    """The header fields of one subscription message: its kind, the versions it covers
    and (RESYNC) why. Not the protocol's envelope (`members.Envelope`)."""

    kind: UpdateKind
    from_version: int
    to_version: int
    reason: str | None = None


class Selector(Protocol[U_co]):
    """Turns the mirror or a batch into one message for given arguments."""

    def state(self, live: LiveView, header: UpdateHeader) -> U_co:
        """The whole matching state (INITIAL or RESYNC)."""
        ...

    def delta(self, batch: LiveBatch, header: UpdateHeader) -> U_co | None:
        """What of the batch matches (CHANGES), or None when nothing does."""
        ...

    def touched(self, batch: LiveBatch) -> bool:
        """Whether `delta` of this batch alone is not None (cheap: nothing is built)."""
        ...


def _touched(
    changes: Sequence[EntityChange], kind: Kind, matches: Callable[[JsonObject], bool]
) -> bool:
    """Whether `_select` finds anything in `changes`."""
    before, last = _before_and_last(changes, kind)
    for entity_id, change in last.items():
        if change.data is not None and matches(change.data):
            return True
        previous = before[entity_id]
        if previous is not None and matches(previous):
            return True
    return False


def _before_and_last(
    changes: Sequence[EntityChange], kind: Kind
) -> tuple[dict[str, JsonObject | None], dict[str, EntityChange]]:
    """Per entity of `kind`: its state before the batch, and its last change in it."""
    before: dict[str, JsonObject | None] = {}
    last: dict[str, EntityChange] = {}
    for change in changes:
        if change.kind == kind:
            before.setdefault(change.id, change.previous)
            last[change.id] = change
    return before, last


def _select(
    changes: Sequence[EntityChange], kind: Kind, matches: Callable[[JsonObject], bool]
) -> tuple[list[JsonObject], list[Removal]]:
    """Upserts that match now, and removals of what matched before the batch but not after."""
    before, last = _before_and_last(changes, kind)
    upserts: list[JsonObject] = []
    removed: list[Removal] = []
    for entity_id, change in last.items():
        if change.data is not None and matches(change.data):
            upserts.append(change.data)
        else:
            previous = before[entity_id]
            if previous is not None and matches(previous):
                removed.append(Removal(id=entity_id, version=Version(change.version)))
    return upserts, removed


@dataclass(frozen=True, slots=True)
class OperatorSelector:
    """operatorUpdated(memberId, queue)."""

    member_id: str | None = None
    queue: str | None = None

    def matches(self, operator: JsonObject) -> bool:
        """Whether an operator is one the subscription asked for."""
        return (self.member_id is None or operator.get("memberId") == self.member_id) and (
            self.queue is None or in_queue(operator, self.queue)
        )

    def state(self, live: LiveView, header: UpdateHeader) -> OperatorUpdate:
        """Every matching operator."""
        if self.member_id is not None:
            found = live.operator(self.member_id)
            candidates = [] if found is None else [found]
        else:
            candidates = live.operators()
        operators = [op for op in candidates if self.matches(op)]
        return OperatorUpdate(
            kind=header.kind,
            from_version=Version(header.from_version),
            to_version=Version(header.to_version),
            reason=header.reason,
            operators=Operator.many(operators),
            removed=[],
        )

    def touched(self, batch: LiveBatch) -> bool:
        """Whether the batch changes a matching operator."""
        return _touched(batch.changes, "operator", self.matches)

    def delta(self, batch: LiveBatch, header: UpdateHeader) -> OperatorUpdate | None:
        """The batch's matching operator changes."""
        upserts, removed = _select(batch.changes, "operator", self.matches)
        if not upserts and not removed:
            return None
        return OperatorUpdate(
            kind=header.kind,
            from_version=Version(header.from_version),
            to_version=Version(header.to_version),
            reason=None,
            operators=Operator.many(upserts),
            removed=removed,
        )


@dataclass(frozen=True, slots=True)
class QueueSelector:
    """queueUpdated(name)."""

    name: str | None = None

    def state(self, live: LiveView, header: UpdateHeader) -> QueueUpdate:
        """Every matching queue, with fresh wait times and member counts."""
        if self.name is not None:
            found = live.queue_view(self.name)
            views = [] if found is None else [found]
        else:
            views = live.queue_views()
        return QueueUpdate(
            kind=header.kind,
            from_version=Version(header.from_version),
            to_version=Version(header.to_version),
            reason=header.reason,
            queues=Queue.many(views),
            removed=[],
        )

    def touched(self, batch: LiveBatch) -> bool:
        """Whether the batch changes a matching queue."""
        return any(self.name is None or change.id == self.name for change in batch.queues)

    def delta(self, batch: LiveBatch, header: UpdateHeader) -> QueueUpdate | None:
        """Matching queues that changed, directly or through their members' states."""
        queues: list[JsonObject] = []
        removed: list[Removal] = []
        for change in batch.queues:
            if self.name is not None and change.id != self.name:
                continue
            if change.data is None:
                removed.append(Removal(id=change.id, version=Version(change.version)))
            else:
                queues.append(change.data)
        if not queues and not removed:
            return None
        return QueueUpdate(
            kind=header.kind,
            from_version=Version(header.from_version),
            to_version=Version(header.to_version),
            reason=None,
            queues=Queue.many(queues),
            removed=removed,
        )


@dataclass(frozen=True, slots=True)
class ChannelSelector:
    """channelUpdated(queue)."""

    queue: str | None = None

    def matches(self, channel: JsonObject) -> bool:
        """Whether a channel is one the subscription asked for."""
        return self.queue is None or channel.get("queueName") == self.queue

    def state(self, live: LiveView, header: UpdateHeader) -> ChannelUpdate:
        """Every matching channel."""
        return ChannelUpdate(
            kind=header.kind,
            from_version=Version(header.from_version),
            to_version=Version(header.to_version),
            reason=header.reason,
            channels=Channel.many([c for c in live.channels() if self.matches(c)]),
            removed=[],
        )

    def touched(self, batch: LiveBatch) -> bool:
        """Whether the batch changes a matching channel."""
        return _touched(batch.changes, "channel", self.matches)

    def delta(self, batch: LiveBatch, header: UpdateHeader) -> ChannelUpdate | None:
        """The batch's matching channel changes."""
        upserts, removed = _select(batch.changes, "channel", self.matches)
        if not upserts and not removed:
            return None
        return ChannelUpdate(
            kind=header.kind,
            from_version=Version(header.from_version),
            to_version=Version(header.to_version),
            reason=None,
            channels=Channel.many(upserts),
            removed=removed,
        )


_ENTITY_KINDS: dict[Kind, EntityKind] = {
    "operator": EntityKind.OPERATOR,
    "queue": EntityKind.QUEUE,
    "channel": EntityKind.CHANNEL,
}


def _change(change: EntityChange) -> Change:
    data = change.data
    return Change(
        version=Version(change.version),
        kind=_ENTITY_KINDS[change.kind],
        op=ChangeOp.DELETE if data is None else ChangeOp.UPSERT,
        id=change.id,
        operator=Operator.from_json(data)
        if data is not None and change.kind == "operator"
        else None,
        queue=Queue.from_view(data) if data is not None and change.kind == "queue" else None,
        channel=Channel.from_json(data) if data is not None and change.kind == "channel" else None,
    )


@dataclass(frozen=True, slots=True)
class ChangesSelector:
    """changes: every change of every kind."""

    def state(self, live: LiveView, header: UpdateHeader) -> ChangeBatch:
        """The whole state as a snapshot."""
        now = now_ms()
        snapshot = Snapshot(
            operators=Operator.many(live.operators()),
            queues=Queue.many(live.queue_views(now)),
            channels=Channel.many(live.channels()),
            version=Version(header.to_version),
            generated_at=Timestamp(now),
        )
        return ChangeBatch(
            kind=header.kind,
            from_version=Version(header.from_version),
            to_version=Version(header.to_version),
            reason=header.reason,
            snapshot=snapshot,
            changes=[],
        )

    def touched(self, batch: LiveBatch) -> bool:
        """Always: every batch is a message."""
        return True

    def delta(self, batch: LiveBatch, header: UpdateHeader) -> ChangeBatch:
        """Every change of the batch, in order."""
        return ChangeBatch(
            kind=header.kind,
            from_version=Version(header.from_version),
            to_version=Version(header.to_version),
            reason=None,
            snapshot=None,
            changes=[_change(change) for change in batch.changes],
        )


SelectorFactory = Callable[[dict[str, Any]], tuple[Selector[Any], bool]]

SELECTORS: dict[str, SelectorFactory] = {
    "operatorUpdated": lambda args: (
        OperatorSelector(args.get("memberId"), args.get("queue")),
        args.get("initial", True),
    ),
    "queueUpdated": lambda args: (QueueSelector(args.get("name")), args.get("initial", True)),
    "channelUpdated": lambda args: (ChannelSelector(args.get("queue")), args.get("initial", True)),
    "changes": lambda args: (ChangesSelector(), args.get("initial", True)),
}
"""Each Subscription root field's selector and `initial` from its (coerced, GraphQL-named)
arguments: what the resolvers of `api.graphql.subscriptions` build, for the fan-out that
serves identical subscriptions as one group (`api.graphql.fanout`)."""
