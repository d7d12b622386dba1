"""Queue scope: what a token limited to some queues sees. Pure functions, no I/O.

A token of `API_TOKENS` may name queues (`role:token:sales+support`); its
`Grant` (`api.auth`) then sees only those queues and what belongs to them.
Every read path (REST, GraphQL queries, nested lookups, subscriptions) filters
with these functions, so "in scope" means the same thing everywhere:

- an operator is seen iff it has a membership of a queue in scope, and then
  with those memberships only; what the store derives from the memberships
  (the primary `queueName`, `paused` in all queues, `pausedReason`, the
  display name taken from the primary membership) is derived again from what
  is left, the way `ingest/lua/apply.lua` derives it;
- a queue (its callers, its member counts) is seen iff it is in scope;
- a channel is seen iff its queue is in scope, or its operator (`memberId`)
  is seen: an operator of `sales` on a `support` call still shows that call.
  Channel data is not rewritten (its `queueName` may name a queue outside
  the scope: it is the call the seen operator is on).

An unscoped grant (`queues` None) never reaches these functions: callers test
`grant.scoped` first, so unscoped reads do no extra work. Entities are never
mutated: a filtered operator is a new dict, one wholly in scope is returned
as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from api.auth import Grant
from ingest.patches import JsonObject

Queues = frozenset[str]
"""The queues of a scoped grant (`Grant.queues` when not None)."""


def operator_in_scope(operator: JsonObject, queues: Queues) -> bool:
    """Whether an operator has a membership of a queue in scope."""
    memberships = operator.get("queues")
    return isinstance(memberships, dict) and any(name in queues for name in memberships)


def scope_operator(operator: JsonObject, queues: Queues) -> JsonObject | None:
    """The operator as a scoped grant sees it (its memberships in scope only), or None
    when it has none in scope."""
    memberships = operator.get("queues")
    if not isinstance(memberships, dict):
        return None
    inside = {name: entry for name, entry in memberships.items() if name in queues}
    if not inside:
        return None
    if len(inside) == len(memberships):
        return operator
    scoped = dict(operator)
    scoped["queues"] = inside
    primary = operator.get("queueName")
    if primary not in inside:
        primary = min(inside)
        scoped["queueName"] = primary
        name = _member_name(inside, primary)
        if name is not None:
            scoped["memberName"] = name
    # As the store derives them: paused when paused in every (seen) queue, with the
    # primary queue's reason.
    all_paused = all(isinstance(entry, dict) and entry.get("paused") for entry in inside.values())
    scoped["paused"] = all_paused
    entry = inside[primary]
    scoped["pausedReason"] = (
        str(entry.get("pausedReason") or "") if all_paused and isinstance(entry, dict) else ""
    )
    return scoped


def _member_name(memberships: dict[str, object], primary: str) -> str | None:
    """The display name the store would take: the primary membership's, else the first
    named one by queue name (Asterisk names a member per queue)."""
    for name in (primary, *sorted(memberships)):
        entry = memberships[name]
        if isinstance(entry, dict):
            found = entry.get("memberName")
            if isinstance(found, str) and found:
                return found
    return None


def scope_operators(operators: Iterable[JsonObject], queues: Queues) -> list[JsonObject]:
    """The operators a scoped grant sees, in the order given, each limited to the scope."""
    seen: list[JsonObject] = []
    for operator in operators:
        scoped = scope_operator(operator, queues)
        if scoped is not None:
            seen.append(scoped)
    return seen


def channel_in_scope(
    channel: JsonObject, queues: Queues, sees_operator: Callable[[str], bool]
) -> bool:
    """Whether a scoped grant sees a channel: its queue is in scope, or its operator is
    seen (`sees_operator(memberId)`)."""
    if channel.get("queueName") in queues:
        return True
    member = channel.get("memberId")
    return isinstance(member, str) and bool(member) and sees_operator(member)


def scope_channels(
    channels: Iterable[JsonObject], queues: Queues, operators: Iterable[JsonObject]
) -> list[JsonObject]:
    """The channels a scoped grant sees, given every operator (unscoped) to tell whose
    channel is seen."""
    seen = {str(op.get("memberId")) for op in operators if operator_in_scope(op, queues)}
    return [c for c in channels if channel_in_scope(c, queues, seen.__contains__)]


def scope_queues(queues_: Iterable[JsonObject], queues: Queues) -> list[JsonObject]:
    """The queues (stored or views) in scope, in the order given."""
    return [queue for queue in queues_ if queue.get("name") in queues]


def operator_for(grant: Grant, operator: JsonObject | None) -> JsonObject | None:
    """An operator as `grant` sees it: itself when unscoped, else `scope_operator`."""
    if operator is None or grant.queues is None:
        return operator
    return scope_operator(operator, grant.queues)
