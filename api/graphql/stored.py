"""The one table of field conversions: how each GraphQL type reads the stored JSON.

`STORED` says, for every field of the entity types that holds data (not the
nested lookups, which have resolvers), how its value comes out of the stored
camelCase JSON: which key, converted how, with which default. Both readers of
stored JSON are generated from it, so they cannot drift apart:

- the types (`api.graphql.types`): `from_json` builds each object from it;
- the compiled queries (`api.graphql.compiled`): each projection calls the
  same readers for the fields it selects, then serializes the value as
  graphql-core would (its Int range, finite Floats, enum names).

The readers never raise on odd data (a converter that cannot read a value
gives null, or the field's default), except where the table says so: `check`
reads what building an object reads whatever the selection (an operator's
memberships), so a compiled query meets the same failure the executor would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from api.graphql.enums import ChannelState, MembershipType, OperatorStatus, parse_enum
from api.graphql.scalars import (
    Timestamp,
    Version,
    as_int,
    as_timestamp,
    as_timestamp_from_seconds,
    as_version,
)
from ingest.patches import JsonObject

E = TypeVar("E", bound=Enum)

# --- converters of one stored value ----------------------------------------------------


def as_str(value: Any) -> str | None:
    """A string, or None for an absent value."""
    return None if value is None else str(value)


def as_bool(value: Any) -> bool | None:
    """A boolean (truthiness), or None for an absent value."""
    return None if value is None else bool(value)


def as_float(value: Any) -> float | None:
    """A float from a number or a numeric string; None otherwise (booleans too)."""
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def as_strings(value: Any) -> list[str]:
    """A list of strings from a stored list; empty otherwise."""
    return [str(item) for item in value] if isinstance(value, list) else []


# --- readers: one field of a stored entity ---------------------------------------------

Read = Callable[[JsonObject], Any]


def string(key: str) -> Read:
    """A non-null String: the value as text, empty when absent."""
    return lambda d: str(d.get(key, ""))


def nullable_string(key: str) -> Read:
    """A String, null when absent."""
    return lambda d: as_str(d.get(key))


def nonempty_string(key: str) -> Read:
    """A String, null when absent or empty."""
    return lambda d: as_str(d.get(key) or None)


def boolean(key: str) -> Read:
    """A non-null Boolean: false when absent."""
    return lambda d: bool(d.get(key))


def nullable_boolean(key: str) -> Read:
    """A Boolean, null when absent."""
    return lambda d: as_bool(d.get(key))


def nullable_int(key: str) -> Read:
    """An Int, null when absent or not a number."""
    return lambda d: as_int(d.get(key))


def count(key: str) -> Read:
    """A non-null Int: 0 when absent or not a number."""
    return lambda d: as_int(d.get(key)) or 0


def nullable_float(key: str) -> Read:
    """A Float, null when absent or not a number."""
    return lambda d: as_float(d.get(key))


def timestamp(key: str) -> Read:
    """A Timestamp stored in ms, null when absent."""
    return lambda d: as_timestamp(d.get(key))


def timestamp_from_seconds(key: str) -> Read:
    """A Timestamp stored in Asterisk's epoch seconds, null when absent or 0 ("never")."""
    return lambda d: as_timestamp_from_seconds(d.get(key))


def version(key: str = "version") -> Read:
    """A Version, null when absent."""
    return lambda d: as_version(d.get(key))


def enum(key: str, kind: type[E], default: E) -> Read:
    """A non-null enum: the member whose value is stored, else `default`."""
    return lambda d: parse_enum(kind, d.get(key), default)


def nullable_enum(key: str, kind: type[E], default: E) -> Read:
    """An enum, null when absent; `default` for a value no member has."""

    def read(d: JsonObject) -> E | None:
        value = d.get(key)
        return None if value is None else parse_enum(kind, value, default)

    return read


# --- the table -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keyed:
    """A field read from the entity and its key in its parent's object: `read(key, d)`."""

    read: Callable[[str, JsonObject], Any]


@dataclass(frozen=True, slots=True)
class Nested:
    """A field holding entities of another type: `build(d, make)` makes them with `make`,
    which builds (or projects) one entity of type `of` from its stored JSON."""

    of: str
    build: Callable[[JsonObject, Callable[..., Any]], Any]


Field = Read | Keyed | Nested


@dataclass(frozen=True, slots=True)
class StoredType:
    """How one GraphQL type is read from stored JSON."""

    fields: dict[str, Field]
    """By GraphQL field name, in the type's order."""
    keyed: bool = False
    """Built from (its key in the parent's object, its JSON): a membership."""
    check: Read | None = None
    """What building it reads whatever the selection: raises where that would."""

    @property
    def arguments(self) -> str:
        """The arguments of a function building it, in generated source."""
        return "key, d" if self.keyed else "d"


def _memberships(d: JsonObject, make: Callable[[str, JsonObject], Any]) -> list[Any]:
    memberships = d.get("queues") or {}
    return [
        make(name, memberships[name])
        for name in sorted(memberships)
        if isinstance(memberships[name], dict)
    ]


def _check_operator(d: JsonObject) -> None:
    # Building an operator reads its memberships whatever the selection: only an object
    # (or nothing) surely reads without an error.
    if not isinstance(d.get("queues") or {}, dict):
        raise TypeError("an operator's queues must be an object")


def _check_snapshot(d: JsonObject) -> None:
    # Building a snapshot builds every operator, whatever the selection.
    for operator in d.get("operators") or []:
        _check_operator(operator)


def _each(key: str, default: Any) -> Callable[[JsonObject, Callable[..., Any]], list[Any]]:
    return lambda d, make: [make(item) for item in d.get(key) or default]


STORED: dict[str, StoredType] = {
    "QueueMembership": StoredType(
        {
            "queueName": Keyed(lambda key, d: str(d.get("queueName") or key)),
            "penalty": nullable_int("penalty"),
            "paused": boolean("paused"),
            "pausedReason": nullable_string("pausedReason"),
            "callsTaken": nullable_int("callsTaken"),
            "lastCall": timestamp_from_seconds("lastCall"),
            "lastPause": timestamp_from_seconds("lastPause"),
            "loginTime": timestamp_from_seconds("loginTime"),
            "wrapupTime": nullable_int("wrapupTime"),
            "wrapupUntil": timestamp_from_seconds("wrapupUntil"),
            "membership": nullable_enum("membership", MembershipType, MembershipType.STATIC),
            "inCall": nullable_boolean("inCall"),
            "ringinuse": nullable_boolean("ringinuse"),
        },
        keyed=True,
    ),
    "Operator": StoredType(
        {
            "memberId": string("memberId"),
            "memberName": lambda d: str(d.get("memberName") or d.get("memberId", "")),
            "stateInterface": nullable_string("stateInterface"),
            "status": enum("status", OperatorStatus, OperatorStatus.UNKNOWN),
            "paused": boolean("paused"),
            "pausedReason": nullable_string("pausedReason"),
            # Stored empty when in no queue (the REST shape); null here, as documented.
            "queueName": nonempty_string("queueName"),
            "queues": Nested("QueueMembership", _memberships),
            "currentCallId": nullable_string("currentCallId"),
            "currentChannel": nullable_string("currentChannel"),
            "statusSince": timestamp("statusSince"),
            "updatedAt": timestamp("updatedAt"),
            "version": version(),
        },
        check=_check_operator,
    ),
    "Caller": StoredType(
        {
            "position": count("position"),
            "uniqueId": string("uniqueId"),
            "channel": nullable_string("channel"),
            "callerIdNum": nullable_string("callerIdNum"),
            "callerIdName": nullable_string("callerIdName"),
            "joinedAt": timestamp("joinedAt"),
            "waitSeconds": count("waitSeconds"),
        }
    ),
    "MemberCounts": StoredType(
        {
            name: count(name)
            for name in ("total", "available", "inCall", "ringing", "paused", "unavailable")
        }
    ),
    "Queue": StoredType(
        {
            "name": string("name"),
            "strategy": nullable_string("strategy"),
            "callsWaiting": count("callsWaiting"),
            "callers": Nested("Caller", _each("callers", ())),
            "longestWaitSeconds": count("longestWaitSeconds"),
            "holdTime": nullable_int("holdTime"),
            "talkTime": nullable_int("talkTime"),
            "completed": count("completed"),
            "abandoned": count("abandoned"),
            "serviceLevel": nullable_int("serviceLevel"),
            "serviceLevelPerf": nullable_float("serviceLevelPerf"),
            "wrapupTime": nullable_int("wrapupTime"),
            "timeout": nullable_int("timeout"),
            "maxLen": nullable_int("maxLen"),
            "weight": nullable_int("weight"),
            "members": Nested("MemberCounts", lambda d, make: make(d.get("members") or {})),
            "updatedAt": timestamp("updatedAt"),
            "version": version(),
        }
    ),
    "Channel": StoredType(
        {
            "name": string("name"),
            "uniqueId": nullable_string("uniqueId"),
            "linkedId": nullable_string("linkedId"),
            "state": nullable_enum("state", ChannelState, ChannelState.UNKNOWN),
            "callerIdNum": nullable_string("callerIdNum"),
            "callerIdName": nullable_string("callerIdName"),
            "connectedLineNum": nullable_string("connectedLineNum"),
            "connectedLineName": nullable_string("connectedLineName"),
            "context": nullable_string("context"),
            "exten": nullable_string("exten"),
            "queueName": nullable_string("queueName"),
            "memberId": nullable_string("memberId"),
            "createdAt": timestamp("createdAt"),
            "answeredAt": timestamp("answeredAt"),
            "updatedAt": timestamp("updatedAt"),
            "version": version(),
        }
    ),
    "Snapshot": StoredType(
        {
            "operators": Nested("Operator", _each("operators", [])),
            "queues": Nested("Queue", _each("queues", [])),
            "channels": Nested("Channel", _each("channels", [])),
            "version": lambda d: as_version(d.get("version")) or Version(0),
            "generatedAt": lambda d: as_timestamp(d.get("generatedAt")) or Timestamp(0),
        },
        check=_check_snapshot,
    ),
}
"""Every entity type's stored fields, by GraphQL type name."""


# --- generated source over the table ---------------------------------------------------


class Source:
    """Python source that reads stored JSON through the table: the names it calls the
    readers by (`namespace`), and the expression of each field."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self._names: dict[int, str] = {}

    def bind(self, value: Any, prefix: str = "_r") -> str:
        """The name `value` has in `namespace` (given on first use)."""
        name = self._names.get(id(value))
        if name is None:
            name = self._names[id(value)] = f"{prefix}{len(self._names)}"
            self.namespace[name] = value
        return name

    def check(self, stored: StoredType) -> str:
        """A statement running the type's check, or nothing."""
        return "" if stored.check is None else f"{self.bind(stored.check)}(d)"

    def value(self, stored: StoredType, name: str, make: str | None = None) -> str:
        """The expression of field `name` over the arguments `stored.arguments`; a nested
        field makes its entities with the function named `make`."""
        found = stored.fields[name]
        if isinstance(found, Nested):
            if make is None:
                raise ValueError(f"{name} holds {found.of} entities: name their builder")
            return f"{self.bind(found.build)}(d, {make})"
        if isinstance(found, Keyed):
            return f"{self.bind(found.read)}(key, d)"
        return f"{self.bind(found)}(d)"
