"""Subscription message types: what each subscription sends, with the versions it covers.

Every message carries `fromVersion` and `toVersion`. A client keeps the
`toVersion` of the last message; the next message's `fromVersion` must equal it,
otherwise a message was missed and the client should resubscribe. Messages of
kind INITIAL and RESYNC replace the client's state; CHANGES messages are applied
to it. Each entity also carries the store `version` of its own last change.

Changes come in batches: the store batches (PUBLISHes) of a short window
(`api.graphql.fanout.window_for`: 40 ms for a thousand subscribers on a
server, at most 150 ms; the first change after a quiet spell goes out at once) are coalesced into one message, every change keeping its version.
That keeps frames few when many entities change at once, and lets one execution
be shared by every subscriber with the same subscription document and variables.

A token scoped to some queues gets what it sees only (`api.graphql.scoped`):
versions keep their numbers, so its `changes` have holes where changes it
does not see were; `fromVersion` = the previous message's `toVersion` still
holds for every subscription, and is what tells a missed message.
"""

from __future__ import annotations

import strawberry

from api.graphql.enums import ChangeOp, EntityKind, UpdateKind
from api.graphql.scalars import Version
from api.graphql.types import Channel, Operator, Queue, Snapshot

_KIND = "INITIAL or RESYNC: the current state, replace yours. CHANGES: apply to yours."
_FROM = (
    "The `toVersion` of this subscription's previous message (0 for the first). If it "
    "is not the `toVersion` you hold, a message was missed: resubscribe."
)
_TO = (
    "The store version your state is at once this message is applied: every change "
    "up to it that matches the subscription's arguments is included."
)
_REASON = "Why the state was re-sent (RESYNC), e.g. `Redis pub/sub reconnected`; null otherwise."
_REMOVED = (
    "CHANGES: entities deleted, or that stopped matching the subscription's arguments "
    "(drop them). Empty for INITIAL and RESYNC."
)


@strawberry.type(description="An entity to drop: deleted, or no longer matching the arguments.")
class Removal:
    """One removed id."""

    id: str = strawberry.field(description="Its id: memberId, queue name or channel name.")
    version: Version = strawberry.field(description="The store version of the removing change.")


@strawberry.type(description="One message of `operatorUpdated`.")
class OperatorUpdate:
    """Operators, filtered by the subscription's arguments."""

    kind: UpdateKind = strawberry.field(description=_KIND)
    from_version: Version = strawberry.field(description=_FROM)
    to_version: Version = strawberry.field(description=_TO)
    reason: str | None = strawberry.field(description=_REASON)
    operators: list[Operator] = strawberry.field(
        description=(
            "INITIAL/RESYNC: every matching operator. CHANGES: the matching operators "
            "created or changed, in their new state."
        )
    )
    removed: list[Removal] = strawberry.field(description=_REMOVED)


@strawberry.type(description="One message of `queueUpdated`.")
class QueueUpdate:
    """Queues, filtered by the subscription's arguments."""

    kind: UpdateKind = strawberry.field(description=_KIND)
    from_version: Version = strawberry.field(description=_FROM)
    to_version: Version = strawberry.field(description=_TO)
    reason: str | None = strawberry.field(description=_REASON)
    queues: list[Queue] = strawberry.field(
        description=(
            "INITIAL/RESYNC: every matching queue. CHANGES: matching queues that changed, "
            "including those whose member counts changed because an operator did."
        )
    )
    removed: list[Removal] = strawberry.field(description=_REMOVED)


@strawberry.type(description="One message of `channelUpdated`.")
class ChannelUpdate:
    """Channels, filtered by the subscription's arguments."""

    kind: UpdateKind = strawberry.field(description=_KIND)
    from_version: Version = strawberry.field(description=_FROM)
    to_version: Version = strawberry.field(description=_TO)
    reason: str | None = strawberry.field(description=_REASON)
    channels: list[Channel] = strawberry.field(
        description=(
            "INITIAL/RESYNC: every matching channel. CHANGES: matching channels created or changed."
        )
    )
    removed: list[Removal] = strawberry.field(
        description="CHANGES: channels hung up, or that left the queue filtered on."
    )


@strawberry.type(description="One change of the store, as published.")
class Change:
    """One entity change with its version."""

    version: Version = strawberry.field(
        description=(
            "The store version this change took (contiguous across a batch; with holes "
            "for a token scoped to some queues, where changes it does not see were)."
        )
    )
    kind: EntityKind = strawberry.field(description="The kind of entity.")
    op: ChangeOp = strawberry.field(description="Upsert or delete.")
    id: str = strawberry.field(description="The entity's id.")
    operator: Operator | None = strawberry.field(
        description="The operator's new state (kind OPERATOR, op UPSERT), else null."
    )
    queue: Queue | None = strawberry.field(
        description="The queue's new state (kind QUEUE, op UPSERT), else null."
    )
    channel: Channel | None = strawberry.field(
        description="The channel's new state (kind CHANNEL, op UPSERT), else null."
    )


@strawberry.type(
    description=(
        "One message of `changes`: the whole state, or a batch of store changes — those "
        "published within a short window (40 ms for a thousand subscribers on a server, at "
        "most 150 ms) coalesced into one message. "
        "For CHANGES, `changes` holds every version from `fromVersion + 1` to `toVersion`, "
        "in order and without holes: a client can check that it missed nothing. For a "
        "token scoped to some queues (API_TOKENS), only the changes it sees, in order, "
        "with their own versions: the holes between them are changes outside its scope. "
        "Such a client tells a missed message by `fromVersion` instead: above the version "
        "its state is at (the last `toVersion` it applied, or its snapshot's `version`), "
        "something was missed. An operator that left its queues comes as a DELETE."
    )
)
class ChangeBatch:
    """Every change of every kind, batched as the store published them."""

    kind: UpdateKind = strawberry.field(description=_KIND)
    from_version: Version = strawberry.field(
        description="The version before the first change of this message (see `toVersion`)."
    )
    to_version: Version = strawberry.field(
        description="The version of the last change (or of the snapshot)."
    )
    reason: str | None = strawberry.field(description=_REASON)
    snapshot: Snapshot | None = strawberry.field(
        description="INITIAL/RESYNC: the whole state at `toVersion`. Null for CHANGES."
    )
    changes: list[Change] = strawberry.field(
        description="CHANGES: the changes, in version order. Empty for INITIAL/RESYNC."
    )
