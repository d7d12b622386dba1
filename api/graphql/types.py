"""Entity types: operators, queues, channels, and a snapshot of them all.

Each type is built once from the stored camelCase JSON (`from_json`) into plain
attributes, so graphql-core's default resolver reads them without a Python
call per field; only nested lookups (queue → operators, operator → channel,
channel → operator) have resolvers, and they go through the DataLoaders.
Fields the stored data may lack are nullable. How each field is read from the
stored JSON is `api.graphql.stored`'s table, which the compiled queries read too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from strawberry.schema.name_converter import NameConverter
from strawberry.types.base import get_object_definition

from api.graphql import fields as resolver
from api.graphql.context import Info
from api.graphql.enums import ChannelState, MembershipType, OperatorStatus
from api.graphql.scalars import Timestamp, Version
from api.graphql.stored import STORED, Nested, Source
from ingest.patches import JsonObject


@strawberry.type(description="An operator's membership of one queue, with its per-queue state.")
class QueueMembership:
    """One entry of an operator's `queues`."""

    queue_name: str = strawberry.field(description="The queue.")
    penalty: int | None = strawberry.field(
        description="Member penalty: lower penalties are offered calls first."
    )
    paused: bool = strawberry.field(description="Paused in this queue.")
    paused_reason: str | None = strawberry.field(
        description="Why it is paused in this queue (empty when not paused)."
    )
    calls_taken: int | None = strawberry.field(
        description="Calls answered from this queue since the member was added."
    )
    last_call: Timestamp | None = strawberry.field(
        description="When its last call from this queue ended; null when never."
    )
    last_pause: Timestamp | None = strawberry.field(
        description="When it was last paused in this queue; null when never."
    )
    login_time: Timestamp | None = strawberry.field(
        description="When it joined this queue (dynamic members); null when unknown."
    )
    wrapup_time: int | None = strawberry.field(
        description="Seconds of wrap-up after each call (the member's, else the queue's)."
    )
    wrapup_until: Timestamp | None = strawberry.field(
        description=(
            "End of the current wrap-up (last call + wrap-up time); in wrap-up while this "
            "is in the future. Asterisk has no wrap-up event, so this is derived."
        )
    )
    membership: MembershipType | None = strawberry.field(
        description="How it became a member: static, dynamic or realtime."
    )
    in_call: bool | None = strawberry.field(
        description="On a call that came from this queue, as Asterisk reports it."
    )
    ringinuse: bool | None = strawberry.field(
        description="Whether this queue may ring the member while it is on another call."
    )

    @classmethod
    def from_json(cls, name: str, data: JsonObject) -> QueueMembership:
        """Build from one value (`data`, under key `name`) of an operator's `queues` object."""
        built: QueueMembership = _BUILD["QueueMembership"](name, data)
        return built


@strawberry.type(
    description=(
        "An operator (queue member): one device interface, e.g. `PJSIP/1001`, across all "
        "of its queues. The same data as REST `GET /api/queue-status/operators/{memberId}`."
    )
)
class Operator:
    """An operator, from its stored JSON."""

    member_id: str = strawberry.field(description="The member's interface, e.g. `PJSIP/1001`.")
    member_name: str = strawberry.field(
        description="Display name (the interface when none is configured)."
    )
    state_interface: str | None = strawberry.field(
        description="The interface whose device state Asterisk watches for this member."
    )
    status: OperatorStatus = strawberry.field(description="What the device is doing now.")
    paused: bool = strawberry.field(
        description="True when paused in all of its queues (per-queue pause is in `queues`)."
    )
    paused_reason: str | None = strawberry.field(
        description="Why it is paused (when paused in all queues), else empty."
    )
    queue_name: str | None = strawberry.field(
        description="Its primary queue (the documented REST field), null when in no queue."
    )
    queues: list[QueueMembership] = strawberry.field(
        description="Its memberships, one per queue, sorted by queue name."
    )
    current_call_id: str | None = strawberry.field(
        description="Unique id of the call it is on, null when none."
    )
    current_channel: str | None = strawberry.field(
        description="Name of the channel of its current call (see `channel`), null when none."
    )
    status_since: Timestamp | None = strawberry.field(description="When `status` last changed.")
    updated_at: Timestamp | None = strawberry.field(description="When anything last changed.")
    version: Version | None = strawberry.field(description="The store version of its last change.")

    @resolver.field(
        "The channel of its current call, looked up live (null when none or gone). "
        "Batched: one Redis round trip for all operators of a list."
    )
    async def channel(self, info: Info) -> Channel | None:
        """The current channel through the channel loader."""
        if not self.current_channel:
            return None
        found = await info.context.nested(info).loaders.channel.load(self.current_channel)
        return None if found is None else Channel.from_json(found)

    @classmethod
    def from_json(cls, data: JsonObject) -> Operator:
        """Build from the stored JSON."""
        built: Operator = _BUILD["Operator"](data)
        return built

    @classmethod
    def many(cls, items: list[JsonObject]) -> list[Operator]:
        """Build a list."""
        return [cls.from_json(item) for item in items]


@strawberry.type(description="A caller waiting in a queue.")
class Caller:
    """One waiting caller of a queue view."""

    position: int = strawberry.field(description="Place in the queue, 1 is next.")
    unique_id: str = strawberry.field(description="Unique id of the caller's channel.")
    channel: str | None = strawberry.field(description="The caller's channel name.")
    caller_id_num: str | None = strawberry.field(description="Caller ID number.")
    caller_id_name: str | None = strawberry.field(description="Caller ID name.")
    joined_at: Timestamp | None = strawberry.field(description="When it joined the queue.")
    wait_seconds: int = strawberry.field(
        description="Seconds waited when this answer was made (use `joinedAt` for a live clock)."
    )

    @classmethod
    def from_json(cls, data: JsonObject) -> Caller:
        """Build from one caller of `views.queue_view`."""
        built: Caller = _BUILD["Caller"](data)
        return built


@strawberry.type(description="How many members of a queue are in each state (derived live).")
class MemberCounts:
    """`views.member_counts`."""

    total: int = strawberry.field(description="Members of the queue.")
    available: int = strawberry.field(description="Idle and not paused in this queue.")
    in_call: int = strawberry.field(description="On a call (in a call, busy or on hold).")
    ringing: int = strawberry.field(description="Ringing.")
    paused: int = strawberry.field(description="Paused in this queue.")
    unavailable: int = strawberry.field(description="Unavailable or invalid.")

    @classmethod
    def from_json(cls, data: JsonObject) -> MemberCounts:
        """Build from the `members` object of a queue view."""
        built: MemberCounts = _BUILD["MemberCounts"](data)
        return built


@strawberry.type(
    description=(
        "A queue: waiting callers, statistics, member counts. The same data as REST "
        "`GET /api/queue-status/queues/{name}`."
    )
)
class Queue:
    """A queue, from `views.queue_view`."""

    name: str = strawberry.field(description="The queue name (the id).")
    strategy: str | None = strawberry.field(
        description="Ring strategy, e.g. ringall, leastrecent, rrmemory."
    )
    calls_waiting: int = strawberry.field(description="Callers waiting now.")
    callers: list[Caller] = strawberry.field(description="The waiting callers, next first.")
    longest_wait_seconds: int = strawberry.field(
        description="The longest wait among the waiting callers, in seconds (0 when none)."
    )
    hold_time: int | None = strawberry.field(
        description="Average seconds callers waited before being answered (Asterisk's)."
    )
    talk_time: int | None = strawberry.field(description="Average talk time in seconds.")
    completed: int = strawberry.field(description="Calls answered and completed.")
    abandoned: int = strawberry.field(description="Callers who hung up while waiting.")
    service_level: int | None = strawberry.field(
        description="Seconds within which a call should be answered (servicelevel)."
    )
    service_level_perf: float | None = strawberry.field(
        description="Percentage of calls answered within the service level (Asterisk's)."
    )
    wrapup_time: int | None = strawberry.field(
        description="Seconds of wrap-up after each call, for members without their own."
    )
    timeout: int | None = strawberry.field(description="Seconds a member's phone rings.")
    max_len: int | None = strawberry.field(description="Most callers allowed (0: no limit).")
    weight: int | None = strawberry.field(description="Priority against other queues.")
    members: MemberCounts = strawberry.field(
        description="How many members are in each state (derived from the operators)."
    )
    updated_at: Timestamp | None = strawberry.field(description="When the queue last changed.")
    version: Version | None = strawberry.field(
        description="The store version of the queue's last change (member counts excluded)."
    )

    @resolver.field(
        "Its members, looked up live and sorted by memberId. Batched: one Redis round "
        "trip for all queues of a list."
    )
    async def operators(
        self,
        info: Info,
        status: Annotated[
            OperatorStatus | None, strawberry.argument(description="Only members in this state.")
        ] = None,
        paused: Annotated[
            bool | None,
            strawberry.argument(description="Only members paused (true) or not (false) here."),
        ] = None,
    ) -> list[Operator]:
        """Members through the operators-of-queue loader."""
        found = await info.context.nested(info).loaders.operators_of_queue.load(self.name)
        return [
            Operator.from_json(op)
            for op in found
            if (status is None or op.get("status") == status.value)
            and (paused is None or _paused_in(op, self.name) is paused)
        ]

    @resolver.field("Active channels of this queue, looked up live. Batched like `operators`.")
    async def channels(self, info: Info) -> list[Channel]:
        """Channels through the channels-of-queue loader."""
        found = await info.context.nested(info).loaders.channels_of_queue.load(self.name)
        return [Channel.from_json(c) for c in found]

    @classmethod
    def from_view(cls, view: JsonObject) -> Queue:
        """Build from `views.queue_view` (callers listed with wait times, member counts)."""
        built: Queue = _BUILD["Queue"](view)
        return built

    @classmethod
    def many(cls, views: list[JsonObject]) -> list[Queue]:
        """Build a list."""
        return [cls.from_view(view) for view in views]


def _paused_in(operator: JsonObject, queue: str) -> bool:
    membership = (operator.get("queues") or {}).get(queue)
    if isinstance(membership, dict):
        return bool(membership.get("paused"))
    return bool(operator.get("paused"))


@strawberry.type(
    description=(
        "An active channel (one leg of a call); gone when it hangs up. The same data as "
        "REST `GET /api/queue-status/channels`."
    )
)
class Channel:
    """A channel, from its stored JSON."""

    name: str = strawberry.field(description="Channel name, e.g. `PJSIP/1001-00000001` (the id).")
    unique_id: str | None = strawberry.field(description="Asterisk's unique id of the channel.")
    linked_id: str | None = strawberry.field(
        description="Unique id of the call's first channel: equal on every leg of one call."
    )
    state: ChannelState | None = strawberry.field(description="The channel state.")
    caller_id_num: str | None = strawberry.field(description="Caller ID number.")
    caller_id_name: str | None = strawberry.field(description="Caller ID name.")
    connected_line_num: str | None = strawberry.field(
        description="Number of the party at the other end."
    )
    connected_line_name: str | None = strawberry.field(
        description="Name of the party at the other end."
    )
    context: str | None = strawberry.field(description="Dialplan context.")
    exten: str | None = strawberry.field(description="Dialplan extension.")
    queue_name: str | None = strawberry.field(description="The queue the call came through.")
    member_id: str | None = strawberry.field(description="The operator on this call, if any.")
    created_at: Timestamp | None = strawberry.field(description="When the channel was created.")
    answered_at: Timestamp | None = strawberry.field(
        description="When it was answered; null while not answered."
    )
    updated_at: Timestamp | None = strawberry.field(description="When it last changed.")
    version: Version | None = strawberry.field(description="The store version of its last change.")

    @resolver.field("The operator on this call, looked up live (null when none). Batched.")
    async def operator(self, info: Info) -> Operator | None:
        """The operator through the operator loader."""
        if not self.member_id:
            return None
        found = await info.context.nested(info).loaders.operator.load(self.member_id)
        return None if found is None else Operator.from_json(found)

    @classmethod
    def from_json(cls, data: JsonObject) -> Channel:
        """Build from the stored JSON."""
        built: Channel = _BUILD["Channel"](data)
        return built

    @classmethod
    def many(cls, items: list[JsonObject]) -> list[Channel]:
        """Build a list."""
        return [cls.from_json(item) for item in items]


@strawberry.type(
    description=(
        "Everything at one store version. The same data as REST `GET /api/queue-status/snapshot`."
    )
)
class Snapshot:
    """Operators, queues and channels consistent at `version`."""

    operators: list[Operator] = strawberry.field(description="Every operator, by memberId.")
    queues: list[Queue] = strawberry.field(description="Every queue, by name.")
    channels: list[Channel] = strawberry.field(description="Every active channel, by name.")
    version: Version = strawberry.field(description="The store version everything is at.")
    generated_at: Timestamp = strawberry.field(description="When the snapshot was taken.")

    @classmethod
    def from_json(cls, data: JsonObject) -> Snapshot:
        """Build from `service.snapshot()`."""
        built: Snapshot = _BUILD["Snapshot"](data)
        return built


def _builders(types: tuple[type, ...]) -> dict[str, Callable[..., Any]]:
    """The `from_json` of each type, generated from `api.graphql.stored.STORED`: one
    keyword per stored field. Raises TypeError when the table and a type disagree on
    which fields are stored (every field without a resolver is)."""
    names = NameConverter()
    source = Source()
    functions: list[str] = []
    built: list[str] = []
    for cls in types:
        definition = get_object_definition(cls, strict=True)
        built.append(definition.name)
        stored = STORED[definition.name]
        attributes = {
            names.from_field(f): f.python_name for f in definition.fields if f.base_resolver is None
        }
        if attributes.keys() != stored.fields.keys():
            raise TypeError(f"{definition.name}: its stored fields and STORED's differ")
        values = []
        for name, found in stored.fields.items():
            make = f"_build_{found.of}" if isinstance(found, Nested) else None
            values.append(f"{attributes[name]}={source.value(stored, name, make)}")
        functions.append(
            f"def _build_{definition.name}({stored.arguments}):\n"
            f"    return {source.bind(cls, '_type')}({', '.join(values)})\n"
        )
    namespace = source.namespace
    exec(compile("\n".join(functions), "<stored types>", "exec"), namespace)  # noqa: S102  # our own generated code (names only)
    return {name: namespace[f"_build_{name}"] for name in built}


_BUILD = _builders((QueueMembership, Operator, Caller, MemberCounts, Queue, Channel, Snapshot))
"""`from_json` of the entity types, by name."""
