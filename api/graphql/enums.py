"""GraphQL enums. The state enums mirror `ingest.domain` value for value (a test checks).

They are declared here, not by decorating the domain enums, so each value gets
a description for GraphiQL and `ingest` stays free of GraphQL.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

import strawberry

E = TypeVar("E", bound=Enum)


def parse_enum(enum: type[E], value: Any, default: E) -> E:
    """The member whose value is `value`, else `default` (stored data may hold anything)."""
    try:
        return enum(value)
    except ValueError:
        return default


@strawberry.enum(description="What an operator's device is doing (from Asterisk's device state).")
class OperatorStatus(Enum):
    """`ingest.domain.OperatorStatus`, for GraphQL."""

    UNKNOWN = strawberry.enum_value("unknown", description="Asterisk does not know the state.")
    IDLE = strawberry.enum_value("idle", description="Free: can take a call (unless paused).")
    IN_CALL = strawberry.enum_value("in_call", description="On a call.")
    BUSY = strawberry.enum_value(
        "busy", description="Busy (e.g. do-not-disturb or all lines used)."
    )
    INVALID = strawberry.enum_value("invalid", description="The interface does not exist.")
    UNAVAILABLE = strawberry.enum_value(
        "unavailable", description="Not reachable (e.g. the phone is not registered)."
    )
    RINGING = strawberry.enum_value(
        "ringing", description="Ringing (also while already on a call, ring-in-use)."
    )
    ON_HOLD = strawberry.enum_value("on_hold", description="On a call that is on hold.")


@strawberry.enum(description="The state of a channel (call leg), from AMI's ChannelState.")
class ChannelState(Enum):
    """`ingest.domain.ChannelState`, for GraphQL."""

    DOWN = strawberry.enum_value("down", description="0: down and available.")
    RESERVED = strawberry.enum_value("reserved", description="1: down, but reserved.")
    OFF_HOOK = strawberry.enum_value("off_hook", description="2: off hook.")
    DIALING = strawberry.enum_value("dialing", description="3: digits (or equivalent) dialed.")
    RING = strawberry.enum_value("ring", description="4: the line is ringing (outgoing leg).")
    RINGING = strawberry.enum_value("ringing", description="5: the remote end is ringing.")
    UP = strawberry.enum_value("up", description="6: answered, the call is up.")
    BUSY = strawberry.enum_value("busy", description="7: the line is busy.")
    DIALING_OFFHOOK = strawberry.enum_value(
        "dialing_offhook", description="8: digits dialed while off hook."
    )
    PRE_RING = strawberry.enum_value("pre_ring", description="9: the channel is about to ring.")
    UNKNOWN = strawberry.enum_value("unknown", description="A state code Asterisk added later.")


@strawberry.enum(description="How an operator became a member of a queue.")
class MembershipType(Enum):
    """Asterisk's QueueMember `Membership` field."""

    STATIC = strawberry.enum_value("static", description="Configured in queues.conf.")
    DYNAMIC = strawberry.enum_value(
        "dynamic", description="Added at run time (QueueAdd, AddQueueMember)."
    )
    REALTIME = strawberry.enum_value(
        "realtime", description="Loaded from the queue_members table (realtime)."
    )


@strawberry.enum(description="What a subscription message carries.")
class UpdateKind(Enum):
    """The three kinds of subscription messages."""

    INITIAL = strawberry.enum_value(
        "initial",
        description="The current state, the first message (unless `initial: false`).",
    )
    CHANGES = strawberry.enum_value(
        "changes", description="Changes since `fromVersion`: apply them to what you hold."
    )
    RESYNC = strawberry.enum_value(
        "resync",
        description=(
            "The current state again, replacing what you hold: sent after the server "
            "lost changes (Redis pub/sub reconnect, a version gap) or the state was cleared."
        ),
    )


@strawberry.enum(description="The kind of entity a change is about.")
class EntityKind(Enum):
    """The store's entity kinds."""

    OPERATOR = strawberry.enum_value("operator", description="An operator (queue member).")
    QUEUE = strawberry.enum_value("queue", description="A queue.")
    CHANNEL = strawberry.enum_value("channel", description="A channel (call leg).")


@strawberry.enum(description="What a change did to its entity.")
class ChangeOp(Enum):
    """Upsert or delete."""

    UPSERT = strawberry.enum_value(
        "upsert", description="Created or changed: the entity field holds its new state."
    )
    DELETE = strawberry.enum_value("delete", description="Removed: the entity field is null.")
