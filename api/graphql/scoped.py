"""Subscriptions of a token scoped to some queues: the same selectors over a scoped view.

A selector (`api.graphql.selectors`) turns the live mirror or a batch into a
message. For a scoped token, `ScopedSelector` hands it the part of the
mirror the token sees (`ScopedLive`) and each batch with what the token does
not see taken out (`scope_batch`), by the rules of `api.scope`:

- an operator change carries the operator with its memberships in scope; one
  that left the scope (its last membership in scope removed) comes as a
  deletion, one that entered it as new; a change the token never sees is
  dropped;
- queue changes (and member counts) of queues outside the scope are dropped;
- a channel is seen while its queue is in scope or its operator is seen (the
  operator as the mirror holds it when the message is made).

Versions are never renumbered: a scoped `changes` subscription lists the
changes it sees with their own versions, so between two of its changes there
may be versions it does not see. Continuity is still told by every message:
its `fromVersion` is the `toVersion` of the subscription's previous message
(a batch with nothing in scope makes no message). The streams and the
fan-out track the mirror's versions, not the message's content, so holes
never cause a RESYNC.

Unscoped subscriptions never come here: no extra work for them.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from api.graphql.selectors import Selector, UpdateHeader
from api.live import EntityChange, LiveBatch, LiveView
from api.scope import (
    Queues,
    channel_in_scope,
    operator_in_scope,
    scope_channels,
    scope_operator,
    scope_operators,
    scope_queues,
)
from ingest.patches import JsonObject

U = TypeVar("U")


class ScopedLive:
    """The live state as a token scoped to `queues` sees it (a `LiveView`)."""

    def __init__(self, live: LiveView, queues: Queues) -> None:
        self._live = live
        self._queues = queues

    @property
    def version(self) -> int:
        """The mirror's version (versions are never renumbered)."""
        return self._live.version

    def operators(self) -> list[JsonObject]:
        """The operators seen, by memberId, with their memberships in scope."""
        return scope_operators(self._live.operators(), self._queues)

    def operator(self, member_id: str) -> JsonObject | None:
        """One operator as seen, or None."""
        found = self._live.operator(member_id)
        return None if found is None else scope_operator(found, self._queues)

    def channels(self) -> list[JsonObject]:
        """The channels seen, by name."""
        return scope_channels(self._live.channels(), self._queues, self._live.operators())

    def queue_views(self, now: int | None = None) -> list[JsonObject]:
        """The queues in scope, by name."""
        return scope_queues(self._live.queue_views(now), self._queues)

    def queue_view(self, name: str, now: int | None = None) -> JsonObject | None:
        """One queue in scope, or None."""
        return self._live.queue_view(name, now) if name in self._queues else None


def scope_batch(batch: LiveBatch, queues: Queues, live: LiveView) -> LiveBatch:
    """The batch as a token scoped to `queues` sees it (same versions, fewer changes)."""

    def sees_operator(member_id: str) -> bool:
        operator = live.operator(member_id)
        return operator is not None and operator_in_scope(operator, queues)

    changes: list[EntityChange] = []
    for change in batch.changes:
        if change.kind == "queue":
            if change.id in queues:
                changes.append(change)
            continue
        if change.kind == "operator":
            data = None if change.data is None else scope_operator(change.data, queues)
            previous = None if change.previous is None else scope_operator(change.previous, queues)
        else:
            data = change.data
            if data is not None and not channel_in_scope(data, queues, sees_operator):
                data = None
            previous = change.previous
            if previous is not None and not channel_in_scope(previous, queues, sees_operator):
                previous = None
        if data is None and previous is None:
            continue  # never seen by this token
        if data is change.data and previous is change.previous:
            changes.append(change)
        else:
            changes.append(EntityChange(change.version, change.kind, change.id, data, previous))
    return LiveBatch(
        batch.from_version,
        batch.to_version,
        tuple(changes),
        tuple(queue for queue in batch.queues if queue.id in queues),
    )


class ScopedSelector(Generic[U]):
    """A selector as a token scoped to `queues` sees it: over `ScopedLive` and scoped
    batches. `live` is the mirror whose operators tell which channels are seen."""

    def __init__(self, inner: Selector[U], queues: Queues, live: LiveView) -> None:
        self.inner = inner
        self.queues = queues
        self._live = live

    def state(self, live: LiveView, header: UpdateHeader) -> U:
        """The inner selector's whole state, of what the token sees."""
        return self.inner.state(ScopedLive(live, self.queues), header)

    def touched(self, batch: LiveBatch) -> bool:
        """Whether the batch changes anything the token sees that the inner selector sends."""
        scoped = scope_batch(batch, self.queues, self._live)
        return bool(scoped.changes or scoped.queues) and self.inner.touched(scoped)

    def delta(self, batch: LiveBatch, header: UpdateHeader) -> U | None:
        """The inner selector's message of the scoped batch; None when nothing is seen."""
        scoped = scope_batch(batch, self.queues, self._live)
        if not (scoped.changes or scoped.queues) or not self.inner.touched(scoped):
            return None
        return self.inner.delta(scoped, header)


def scoped(selector: Selector[U], queues: Queues | None, live: LiveView) -> Selector[U]:
    """`selector` for a grant whose scope is `queues`: itself when unscoped (None)."""
    return selector if queues is None else ScopedSelector(selector, queues, live)
