"""Patches: the only way live state changes.

Every writer (AMI events, the database sync, the setOperatorStatus mutation)
turns what happened into patches; the store applies a list of them atomically.

`set` is a JSON merge patch (RFC 7396): objects merge recursively, `None`
removes a key, anything else replaces. Entities hold no JSON arrays (Redis'
cjson cannot tell `[]` from `{}`): collections are objects keyed by id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.keys import Kind

Path = tuple[str, ...]
JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Patch:
    """A change to one entity.

    - `set`: merge patch applied first.
    - `incr`: numbers to add at nested paths (counters such as `completed`).
    - `maximum`: numbers that may only grow (e.g. per-queue `callsTaken`,
      which Asterisk reports out of order around the end of a call).
    - `replace`: `set` is the whole new entity (reconciliation, sync).
    - `delete`: remove the entity.
    - `create`: when False, a patch for a missing entity is dropped, so an
      event about a channel we never saw does not invent half a channel.
    """

    kind: Kind
    id: str
    set: Mapping[str, Any] = field(default_factory=dict)
    incr: Sequence[tuple[Path, float]] = ()
    maximum: Sequence[tuple[Path, float]] = ()
    replace: bool = False
    delete: bool = False
    create: bool = True

    def to_wire(self) -> JsonObject:
        """The compact form the Lua script reads."""
        wire: JsonObject = {"k": self.kind, "i": self.id}
        if self.delete:
            wire["del"] = True
            return wire
        wire["s"] = dict(self.set)
        if self.incr:
            wire["inc"] = [[list(path), amount] for path, amount in self.incr]
        if self.maximum:
            wire["max"] = [[list(path), value] for path, value in self.maximum]
        if self.replace:
            wire["rep"] = True
        if not self.create:
            wire["new"] = False
        return wire


@dataclass(frozen=True, slots=True)
class Retain:
    """Remove every entity of `kind` whose id is not in `keep` (reconciliation)."""

    kind: Kind
    keep: frozenset[str]

    def to_wire(self) -> JsonObject:
        """The compact form the Lua script reads."""
        return {"retain": self.kind, "keep": sorted(self.keep)}


Change = Patch | Retain


def delete(kind: Kind, entity_id: str) -> Patch:
    """A patch that removes one entity."""
    return Patch(kind=kind, id=entity_id, delete=True)
