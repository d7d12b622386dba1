"""Patches: the only way live state changes.

Every writer (AMI events, the database sync, the setOperatorStatus mutation)
turns what happened into patches; the store applies a list of them atomically.

`set` is a JSON merge patch (RFC 7396): objects merge recursively, `None`
removes a key, anything else replaces. Entities hold no JSON arrays (Redis'
cjson cannot tell `[]` from `{}`): collections are objects keyed by id, and
an empty one is stored as `{}` on Redis and on the demo's fakeredis alike.
An operator's `callsAfterCall` is bookkeeping: the script keeps it apart
from the operator's JSON (`ingest.keys.KeySchema.staged`).

Besides `set`, a patch carries small operations on numbers at nested paths,
for changes that depend on the stored state and must still be one atomic
step (one EVALSHA per batch, no read from Python). In their paths the step
`EACH` (``"*"``) stands for every key present at that point — "in every
queue of this operator" — and never creates anything. The script applies
them in this order: `only_if`, `shift`, `set`, `smooth`, `count_within`,
`incr`, `maximum`, `copy`, `fold`, then the per-kind normalization.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.keys import Kind

Path = tuple[str, ...]
JsonObject = dict[str, Any]

EACH = "*"
"""A path step standing for every key present at that point (operations only, not `set`)."""


@dataclass(frozen=True, slots=True)
class Guard:
    """A condition on stored state, checked by the script when the patch is applied.

    Without `equals` it holds when the value at `path` of entity (`kind`, `id`)
    is present: not missing, not null and not an empty object. With `equals`
    it holds when the value is equal to it. `negate` inverts the result. A
    missing entity has no values. Used where the right change depends on state
    Python cannot see without a read: "count the call only if the member is
    still in a queue", "drop the operator once it has no queue left".
    """

    kind: Kind
    id: str
    path: Path
    equals: str | float | bool | None = None
    negate: bool = False

    def to_wire(self) -> JsonObject:
        """The compact form the Lua script reads."""
        wire: JsonObject = {"k": self.kind, "i": self.id, "p": list(self.path)}
        if self.equals is not None:
            wire["eq"] = self.equals
        if self.negate:
            wire["not"] = True
        return wire


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
    - `only_if`: the whole patch (a delete too) applies only when the guard
      holds.
    - `shift`: ``(collection, field, at_least, amount)`` adds `amount` to
      `field` of every child object of `collection` whose `field` is at least
      `at_least`. Applied *before* `set`, so a set can put a new child at the
      place it freed (a caller joining at position 2 moves 2, 3, … down one).
    - `smooth`: ``(path, sample, counters)`` app_queue's exponential average:
      the value becomes `sample` when every number at `counters` is 0 (or
      missing), else ``(3 * value + sample) // 4`` — Asterisk's integer
      ``((old << 2) - old + new) >> 2`` for queue hold and talk time.
    - `copy`: ``(source, target, add)`` sets `target` to the number at
      `source` plus `add`, or removes `target` when `source` holds no number.
      With `EACH` the wildcards of `target` take the keys `source` matched.
    - `fold`: ``(source, target)`` raises `target` to the number at `source`
      (like `maximum`) and removes `source`: settles a value staged earlier.
      A target whose object is gone is not created again.
    - `count_within`: ``(counter, sample, limit)`` adds 1 to `counter` when
      `sample` is at most the number at `limit` (0 when missing): calls
      answered or abandoned within the queue's service level.
    """

    kind: Kind
    id: str
    set: Mapping[str, Any] = field(default_factory=dict)
    incr: Sequence[tuple[Path, float]] = ()
    maximum: Sequence[tuple[Path, float]] = ()
    replace: bool = False
    delete: bool = False
    create: bool = True
    only_if: Guard | None = None
    shift: Sequence[tuple[Path, str, float, float]] = ()
    smooth: Sequence[tuple[Path, float, Sequence[Path]]] = ()
    copy: Sequence[tuple[Path, Path, float]] = ()
    fold: Sequence[tuple[Path, Path]] = ()
    count_within: Sequence[tuple[Path, float, Path]] = ()

    def to_wire(self) -> JsonObject:
        """The compact form the Lua script reads."""
        wire: JsonObject = {"k": self.kind, "i": self.id}
        if self.only_if is not None:
            wire["if"] = self.only_if.to_wire()
        if self.delete:
            wire["del"] = True
            return wire
        wire["s"] = dict(self.set)
        if self.shift:
            wire["sh"] = [[list(path), name, at, by] for path, name, at, by in self.shift]
        if self.smooth:
            wire["sm"] = [
                [list(path), sample, [list(counter) for counter in counters]]
                for path, sample, counters in self.smooth
            ]
        if self.count_within:
            wire["cw"] = [
                [list(counter), sample, list(limit)] for counter, sample, limit in self.count_within
            ]
        if self.incr:
            wire["inc"] = [[list(path), amount] for path, amount in self.incr]
        if self.maximum:
            wire["max"] = [[list(path), value] for path, value in self.maximum]
        if self.copy:
            wire["cp"] = [[list(source), list(target), add] for source, target, add in self.copy]
        if self.fold:
            wire["fd"] = [[list(source), list(target)] for source, target in self.fold]
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


def merge(target: Any, patch: Any) -> Any:
    """RFC 7396 merge of `patch` into `target`, in Python (the script does the same).

    Returns the merged value; `target` is not modified. Used by planners to
    leave out patches that would change nothing.
    """
    if not isinstance(patch, Mapping):
        return patch
    merged: JsonObject = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge(merged.get(key), value)
    return merged
