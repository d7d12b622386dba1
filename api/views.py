"""Read views: how clients see the stored entities. Pure functions, no I/O.

The domain service (`api.service`), the live mirror (`api.live`) and the
GraphQL loaders and selectors shape and filter with these, so a filter or a
queue view means the same thing on every path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from api.errors import BadInput
from ingest.db.repository import DbConfig
from ingest.domain import OperatorStatus
from ingest.keys import Kind
from ingest.patches import JsonObject

MEMBER_STATE_COUNTS = ("total", "available", "inCall", "ringing", "paused", "unavailable")


def parse_status(value: str) -> OperatorStatus:
    """An OperatorStatus from its name, or BadInput listing the allowed names."""
    try:
        return OperatorStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in OperatorStatus)
        raise BadInput(f"unknown status {value!r}; expected one of: {allowed}") from None


def in_queue(operator: JsonObject, queue: str) -> bool:
    """Whether an operator belongs to `queue`: a member of it, or it is its primary queue."""
    return queue in (operator.get("queues") or {}) or operator.get("queueName") == queue


def select_operators(
    operators: Iterable[JsonObject],
    *,
    queue: str | None = None,
    status: OperatorStatus | None = None,
    paused: bool | None = None,
) -> list[JsonObject]:
    """The operators of a queue, in a status, paused or not (None: any)."""
    return [
        op
        for op in operators
        if (queue is None or in_queue(op, queue))
        and (status is None or op.get("status") == status)
        and (paused is None or bool(op.get("paused")) is paused)
    ]


def select_channels(
    channels: Iterable[JsonObject], *, queue: str | None = None
) -> list[JsonObject]:
    """The channels of a queue (None: all)."""
    return [c for c in channels if queue is None or c.get("queueName") == queue]


def member_counts(queue_name: str, operators: Iterable[JsonObject]) -> dict[str, int]:
    """How many members of a queue are in each state (derived, never stored)."""
    counts = dict.fromkeys(MEMBER_STATE_COUNTS, 0)
    for op in operators:
        membership = (op.get("queues") or {}).get(queue_name)
        if membership is not None:
            _count_member(counts, op.get("status"), membership)
    return counts


def member_counts_by_queue(operators: Iterable[JsonObject]) -> dict[str, dict[str, int]]:
    """`member_counts` of every queue at once, in one pass over the memberships."""
    counts: dict[str, dict[str, int]] = {}
    for op in operators:
        status = op.get("status")
        for queue_name, membership in (op.get("queues") or {}).items():
            if membership is None:
                continue
            queue_counts = counts.get(queue_name)
            if queue_counts is None:
                queue_counts = counts[queue_name] = dict.fromkeys(MEMBER_STATE_COUNTS, 0)
            _count_member(queue_counts, status, membership)
    return counts


def _count_member(counts: dict[str, int], status: object, membership: JsonObject) -> None:
    """Add one member of a queue, in its device status and membership, to `counts`."""
    counts["total"] += 1
    if membership.get("paused"):
        counts["paused"] += 1
    elif status == OperatorStatus.IDLE:
        counts["available"] += 1
    if status in (OperatorStatus.IN_CALL, OperatorStatus.BUSY, OperatorStatus.ON_HOLD):
        counts["inCall"] += 1
    elif status == OperatorStatus.RINGING:
        counts["ringing"] += 1
    elif status in (OperatorStatus.UNAVAILABLE, OperatorStatus.INVALID):
        counts["unavailable"] += 1


def queue_views(
    queues: Iterable[JsonObject], operators: Iterable[JsonObject], now: int
) -> list[JsonObject]:
    """`queue_view` of each queue, the member counts taken in one pass."""
    counts = member_counts_by_queue(operators)
    return [
        queue_view(
            queue,
            (),
            now,
            counts=counts.get(str(queue.get("name"))) or dict.fromkeys(MEMBER_STATE_COUNTS, 0),
        )
        for queue in queues
    ]


def queue_view(
    queue: JsonObject,
    operators: Iterable[JsonObject],
    now: int,
    *,
    counts: dict[str, int] | None = None,
) -> JsonObject:
    """A queue as clients see it: callers as an ordered list with wait times, member counts.

    The counts come from `operators`, unless given (see `queue_views`).
    """
    view = dict(queue)
    callers = sorted(
        (
            dict(caller, uniqueId=caller.get("uniqueId", uid))
            for uid, caller in (queue.get("callers") or {}).items()
        ),
        key=lambda c: (c.get("position", 0), c.get("joinedAt", 0)),
    )
    for position, caller in enumerate(callers, start=1):
        caller["position"] = position
        joined = caller.get("joinedAt")
        caller["waitSeconds"] = max(0, (now - int(joined)) // 1000) if joined else 0
    view["callers"] = callers
    view["callsWaiting"] = len(callers)
    view["longestWaitSeconds"] = max((c["waitSeconds"] for c in callers), default=0)
    view["members"] = (
        counts if counts is not None else member_counts(str(queue.get("name")), operators)
    )
    return view


def snapshot_view(
    operators: list[JsonObject],
    queues: list[JsonObject],
    channels: list[JsonObject],
    version: int,
    now: int,
) -> JsonObject:
    """Everything at one version, as `snapshot` answers it (`queues` are queue views)."""
    return {
        "operators": operators,
        "queues": queues,
        "channels": channels,
        "version": version,
        "generatedAt": now,
    }


def removed_counts(removed: Mapping[Kind, int]) -> JsonObject:
    """What `clear` removed, per kind, as clients see it."""
    return {
        "operators": removed["operator"],
        "queues": removed["queue"],
        "channels": removed["channel"],
    }


def sync_differences(
    config: DbConfig, operator_ids: set[str], queue_ids: set[str]
) -> dict[str, list[str]]:
    """What differs between the database's configuration and the ids Redis holds."""
    db_interfaces = {m.interface for m in config.members}
    db_queues = {q.name for q in config.queues} | {m.queue_name for m in config.members}
    return {
        "operatorsMissingInRedis": sorted(db_interfaces - operator_ids),
        "operatorsNotInDb": sorted(operator_ids - db_interfaces),
        "queuesMissingInRedis": sorted(db_queues - queue_ids),
        "queuesNotInDb": sorted(queue_ids - db_queues),
    }
