"""The caller reducers: join, leave, abandon (recorded messages and edge cases)."""

from __future__ import annotations

import pytest

from ingest.ami.events import QueueCallerJoin, QueueCallerLeave
from ingest.patches import Patch
from tests.support.recorded import patches as patches_at
from tests.support.recorded import recorded

NOW = 1_795_696_400_000


def patches(event: object) -> list[Patch]:
    return patches_at(event, NOW)


def test_a_join_places_the_caller_and_moves_the_ones_behind() -> None:
    event = recorded("c_ringnoanswer", 256)  # second sales caller, position 2
    queue, channel = patches(event)
    assert (queue.kind, queue.id) == ("queue", "sales")
    assert queue.set["callers"] == {
        "1795696364.11": {
            "position": 2,
            "channel": "Local/sales@callers-00000005;2",
            "uniqueId": "1795696364.11",
            "callerIdNum": "5550004",
            "callerIdName": "Customer 4",
            "joinedAt": NOW,
        }
    }
    # Everyone at 2 or later moves down one before the newcomer takes 2.
    assert list(queue.shift) == [(("callers",), "position", 2, 1)]
    # The caller's channel learns its queue; it is never created from here.
    assert (channel.kind, channel.id, channel.create) == (
        "channel",
        "Local/sales@callers-00000005;2",
        False,
    )
    assert channel.set["queueName"] == "sales"


@pytest.mark.parametrize(
    ("trace", "index", "queue", "uniqueid", "position"),
    [
        ("c_ringnoanswer", 311, "sales", "1795696363.7", 1),  # answered, one still waiting
        ("d_abandon", 88, "sales", "1795696386.1", 1),  # after the abandon
    ],
)
def test_a_leave_removes_the_caller_and_closes_the_gap(
    trace: str, index: int, queue: str, uniqueid: str, position: int
) -> None:
    (patch,) = patches(recorded(trace, index))
    assert (patch.kind, patch.id) == ("queue", queue)
    assert patch.set == {"callers": {uniqueid: None}}
    assert list(patch.shift) == [(("callers",), "position", position + 1, -1)]


def test_an_abandon_counts_and_leaves_removal_to_the_leave() -> None:
    (patch,) = patches(recorded("d_abandon", 85))
    assert (patch.kind, patch.id, dict(patch.set)) == ("queue", "sales", {})
    assert list(patch.incr) == [(("abandoned",), 1)]
    # Waited 5 s: within the service level if that is 5 s or more.
    assert list(patch.count_within) == [(("abandonedInServiceLevel",), 5, ("serviceLevel",))]


def test_events_without_a_caller_snapshot() -> None:
    assert patches(QueueCallerJoin(queue="q", position=1, count=1, caller=None)) == []
    (leave,) = patches(QueueCallerLeave(queue="q", position=3, count=2, caller=None))
    # Positions still shift: Asterisk renumbered the callers behind.
    assert dict(leave.set) == {}
    assert list(leave.shift) == [(("callers",), "position", 4, -1)]
