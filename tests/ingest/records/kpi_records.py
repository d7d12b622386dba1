"""Hand-built call records and intervals for the KPI tests (times as local wall clock)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ingest.records.model import AgentInterval, CallOutcome, CallRecord, IntervalKind

PARIS = ZoneInfo("Europe/Paris")


def ms(text: str, zone: ZoneInfo = PARIS) -> int:
    """Epoch ms of a local ``YYYY-MM-DD HH:MM:SS`` in ``zone``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp() * 1000)


def call(
    uniqueid: str,
    entered: str,
    *,
    queue: str = "sales",
    outcome: CallOutcome = CallOutcome.COMPLETED_BY_AGENT,
    hold: int | None = 10,
    talk: int | None = 60,
    member: str | None = "PJSIP/1001",
    answered: bool | None = None,
    **extra: Any,
) -> CallRecord:
    """A call entering at ``entered`` (local); answered when its outcome says so, unless
    ``answered`` says otherwise."""
    start = ms(entered)
    if answered is None:
        answered = outcome in (
            CallOutcome.COMPLETED_BY_AGENT,
            CallOutcome.COMPLETED_BY_CALLER,
            CallOutcome.TRANSFERRED,
        )
    wait_ms = (hold or 0) * 1000
    fields: dict[str, Any] = {
        "queue": queue,
        "uniqueid": uniqueid,
        "linkedid": uniqueid,
        "caller_num": f"06{uniqueid[-4:]:0>4}",
        "caller_name": f"Caller {uniqueid}",
        "entered_at": start,
        "position": 1,
        "original_position": 1,
        "answered_at": start + wait_ms if answered else None,
        "answered_by": member if answered else None,
        "member_name": "Alice" if answered else None,
        "ring_attempts": 1 if answered else 0,
        "ring_no_answers": 0,
        "hold_time": hold,
        "ring_time": 2 if answered else None,
        "talk_time": talk if answered else None,
        "ended_at": start + wait_ms + ((talk or 0) * 1000 if answered else 0),
        "outcome": outcome,
        "abandon_position": None if answered else 1,
        "timed_out": True if outcome is CallOutcome.TIMED_OUT else None,
        "source": "ami",
    }
    fields.update(extra)
    return CallRecord(**fields)


def interval(
    kind: IntervalKind,
    start: str,
    end: str,
    *,
    member: str = "PJSIP/1001",
    queue: str = "sales",
    **extra: Any,
) -> AgentInterval:
    """A closed interval between two local times."""
    return AgentInterval(
        interface=member,
        queue=queue,
        kind=kind,
        started_at=ms(start),
        ended_at=ms(end),
        member_name="Alice",
        **extra,
    )
