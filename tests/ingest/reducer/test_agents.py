"""The agent reducers: called, connect, complete, ring-no-answer, dump."""

from __future__ import annotations

import pytest

from ingest.ami.events import AgentComplete, AgentDump, AmiEvent
from ingest.patches import EACH, Guard, Patch
from ingest.reducer.agents import CALLS_AFTER_CALL, CALLS_TAKEN
from tests.support.recorded import patches as patches_at
from tests.support.recorded import recorded

NOW = 1_795_696_360_522


def patches(event: object) -> list[Patch]:
    return patches_at(event, NOW)


def by_kind(changes: list[Patch], kind: str) -> list[Patch]:
    return [change for change in changes if change.kind == kind]


DAVE = "Local/1004@agents/n"


def test_called_names_the_members_leg_and_leaves_status_to_the_device() -> None:
    changes = patches(recorded("c_ringnoanswer", 95))  # Dave called for support
    # Ringing is what the QueueMemberStatus that follows reports, not a guess here.
    assert by_kind(changes, "operator") == []
    legs = {c.id: c for c in by_kind(changes, "channel")}
    assert set(legs) == {"Local/support@callers-00000000;2", "Local/1004@agents-00000002;1"}
    member_leg = legs["Local/1004@agents-00000002;1"]
    assert (member_leg.set["memberId"], member_leg.set["queueName"]) == (DAVE, "support")
    assert all(not leg.create for leg in legs.values())


def test_connect_stages_the_counts_and_averages_the_hold_time() -> None:
    changes = patches(recorded("c_ringnoanswer", 122))  # Dave answers after 7 s
    (operator,) = by_kind(changes, "operator")
    # In a call in this queue (app_queue's InCall); the device's state comes in its event.
    assert operator.set == {
        "queues": {"support": {"queueName": "support", "inCall": True}},
        "currentCallId": "1795696347.1",
        "currentChannel": "Local/1004@agents-00000002;1",
    }
    # Every membership: what CallsTaken will be when this call ends (shared_lastcall).
    assert list(operator.copy) == [(CALLS_TAKEN, CALLS_AFTER_CALL, 1)]
    assert CALLS_TAKEN == ("queues", EACH, "callsTaken")
    (queue,) = by_kind(changes, "queue")
    assert list(queue.smooth) == [(("holdTime",), 7, (("completed",), ("abandoned",)))]
    caller_leg = next(c for c in by_kind(changes, "channel") if c.id.startswith("Local/support"))
    assert caller_leg.set["memberId"] == DAVE


@pytest.mark.parametrize(
    ("trace", "index", "interface", "queue", "talk", "channels"),
    [
        ("c_ringnoanswer", 145, DAVE, "support", 5, 2),
        # Bob's AgentComplete carries no channel fields at all.
        ("c_ringnoanswer", 464, "Local/1002@agents/n", "sales", 7, 0),
    ],
)
def test_complete_counts_the_call_everywhere_it_counts(
    trace: str, index: int, interface: str, queue: str, talk: int, channels: int
) -> None:
    changes = patches(recorded(trace, index))
    (counted,) = by_kind(changes, "queue")
    assert counted.id == queue
    assert list(counted.incr) == [(("completed",), 1)]
    assert list(counted.smooth) == [(("talkTime",), talk, (("completed",),))]
    hold = getattr(recorded(trace, index), "hold_time", None)
    assert list(counted.count_within) == [(("completedInServiceLevel",), hold, ("serviceLevel",))]
    # Not counted for a member no longer in any queue.
    assert counted.only_if == Guard("operator", interface, ("queues",))

    call_over, in_call = by_kind(changes, "operator")
    assert call_over.set == {"currentCallId": None, "currentChannel": None}
    assert list(call_over.fold) == [(CALLS_AFTER_CALL, CALLS_TAKEN)]
    assert list(call_over.maximum) == [(("queues", EACH, "lastCall"), NOW // 1000)]
    assert in_call.set == {"queues": {queue: {"inCall": False}}}
    assert in_call.only_if == Guard("operator", interface, ("queues", queue))
    assert all("status" not in p.set for p in (call_over, in_call))
    assert all(not p.create for p in (call_over, in_call))
    assert len(by_kind(changes, "channel")) == channels


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(recorded("c_ringnoanswer", 63), id="ring-no-answer"),
        pytest.param(
            AgentDump(queue="sales", interface="PJSIP/1", member_name="A", caller=None, dest=None),
            id="dump",
        ),
    ],
)
def test_not_answering_changes_nothing_by_itself(event: AmiEvent) -> None:
    # After a ring timeout the device may still ring: the member event that follows says.
    assert patches(event) == []


def test_ring_no_answer_time_is_in_milliseconds() -> None:
    event = recorded("c_ringnoanswer", 63)
    assert getattr(event, "ring_time_ms", None) == 5000


def test_complete_is_reduced_from_the_guaranteed_fields_only() -> None:
    bare = AgentComplete(
        queue="q",
        interface="PJSIP/1",
        member_name="A",
        caller=None,
        dest=None,
        hold_time=3,
        talk_time=40,
        reason="agent",
    )
    kinds = sorted(p.kind for p in patches(bare))
    assert kinds == ["operator", "operator", "queue"]
