"""Operator status set by a person (REST POST /operators, setOperatorStatus).

The documented "imitate an AMI event" body goes through the reducer like any
AMI event, so the same invariants hold; the server stamps its own time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.domain import OperatorStatus
from ingest.patches import Change, Patch
from ingest.reducer.dispatch import register


@dataclass(frozen=True, slots=True)
class OperatorStatusSet:
    """A supervisor (or test) states what an operator is doing.

    `queue_name` is the queue the statement is about (it becomes the
    operator's primary queue); `paused` applies to `pause_queues` — the
    caller resolves "all of the operator's queues" when no queue was named.
    """

    member_id: str
    status: OperatorStatus
    queue_name: str | None = None
    member_name: str | None = None
    paused: bool | None = None
    paused_reason: str | None = None
    current_call_id: str | None = None
    pause_queues: tuple[str, ...] = ()


@register(OperatorStatusSet)
def reduce_operator_status_set(event: OperatorStatusSet, now: int) -> list[Change]:
    """Status, call and (per queue) pause as stated."""
    data: dict[str, Any] = {"status": event.status.value, "currentCallId": event.current_call_id}
    if event.member_name:
        data["memberName"] = event.member_name
    queues: dict[str, dict[str, Any]] = {}
    if event.queue_name:
        data["queueName"] = event.queue_name
        queues[event.queue_name] = {"queueName": event.queue_name}
    if event.paused is not None:
        reason = (event.paused_reason or "") if event.paused else ""
        for name in event.pause_queues or ((event.queue_name,) if event.queue_name else ()):
            membership = queues.setdefault(name, {"queueName": name})
            membership["paused"] = event.paused
            membership["pausedReason"] = reason
            if event.paused:
                membership["lastPause"] = now // 1000
        if not queues:
            # An operator in no queue at all: the top-level flag is all there is.
            data["paused"] = event.paused
            data["pausedReason"] = reason
    if queues:
        data["queues"] = queues
    return [Patch(kind="operator", id=event.member_id, set=data)]
