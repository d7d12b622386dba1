"""The member reducers, on messages recorded from Asterisk 22 (ingest/traces, tests/fixtures/ami-traces)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.ami.events import DeviceStateChange
from ingest.patches import Guard, Patch
from tests.support.recorded import patches as patches_at
from tests.support.recorded import recorded

NOW = 1_795_696_400_000


def patches(event: object) -> list[Patch]:
    return patches_at(event, NOW)


# --- QueueMemberStatus / QueueMemberAdded: the device state and the membership ------


@pytest.mark.parametrize(
    ("trace", "index", "status", "queue", "expected"),
    [
        # Eve rung for a support caller.
        (
            "c_ringnoanswer",
            57,
            "ringing",
            "support",
            {"memberName": "Eve", "paused": False, "pausedReason": "", "membership": "static"},
        ),
        # Still auto-paused when her phone stops ringing.
        (
            "c_ringnoanswer",
            76,
            "idle",
            "support",
            {"paused": True, "pausedReason": "Auto-Pause", "inCall": False},
        ),
        # Dave answered: in a call in support.
        ("c_ringnoanswer", 131, "in_call", "support", {"inCall": True, "penalty": 0}),
        # Bob's other queue sees the device in use, not the call.
        ("c_ringnoanswer", 382, "in_call", "support", {"inCall": False, "penalty": 1}),
        # Grace added while her phone is unavailable.
        (
            "e_member_admin",
            10,
            "unavailable",
            "billing",
            {"membership": "dynamic", "penalty": 1, "ringinuse": False, "wrapupTime": 0},
        ),
        # Frank added to support already paused.
        (
            "e_member_admin",
            13,
            "idle",
            "support",
            {"paused": True, "pausedReason": "onboarding", "lastPause": 1795696405},
        ),
        # A realtime member says so in its events.
        ("h_realtime", 70, "ringing", "rtq", {"membership": "realtime", "memberName": "Alice RT"}),
    ],
)
def test_status_events_set_status_and_membership(
    trace: str, index: int, status: str, queue: str, expected: dict[str, Any]
) -> None:
    (patch,) = patches(recorded(trace, index))
    assert patch.kind == "operator"
    assert patch.set["status"] == status
    assert patch.set["stateInterface"].startswith("Custom:")
    membership = patch.set["queues"][queue]
    assert membership["queueName"] == queue
    assert {key: membership[key] for key in expected} == expected
    # Counts only grow: reported before or after Asterisk's own update.
    assert {path[-1] for path, _ in patch.maximum} == {"callsTaken", "lastCall"}
    assert all(path[:2] == ("queues", queue) for path, _ in patch.maximum)


def test_the_count_after_a_call_is_a_maximum_not_a_replacement() -> None:
    (patch,) = patches(recorded("c_ringnoanswer", 144))  # Dave idle again, CallsTaken 1
    assert dict(patch.maximum) == {
        ("queues", "support", "callsTaken"): 1,
        ("queues", "support", "lastCall"): 1795696360,
    }
    assert "callsTaken" not in patch.set["queues"]["support"]


# --- pause, penalty, ringinuse -------------------------------------------------------


@pytest.mark.parametrize(
    ("trace", "index", "status", "queue", "expected"),
    [
        # Auto-pause after RingNoAnswer: the device still rings, and the event says so.
        (
            "c_ringnoanswer",
            65,
            "ringing",
            "support",
            {"paused": True, "pausedReason": "Auto-Pause"},
        ),
        # Unpaused with a reason: the event repeats it, the member's reason is cleared.
        ("d_abandon", 204, "idle", "sales", {"paused": False, "pausedReason": ""}),
        # QueuePause without Queue: one event per queue.
        ("e_member_admin", 159, "idle", "billing", {"paused": True, "pausedReason": "break"}),
        ("e_member_admin", 160, "idle", "support", {"paused": True, "pausedReason": "break"}),
        ("e_member_admin", 167, "idle", "support", {"penalty": 2}),
        ("e_member_admin", 170, "idle", "billing", {"ringinuse": True}),
    ],
)
def test_member_updates_carry_the_members_status(
    trace: str, index: int, status: str, queue: str, expected: dict[str, Any]
) -> None:
    (patch,) = patches(recorded(trace, index))
    membership = patch.set["queues"][queue]
    assert {key: membership[key] for key in expected} == expected
    # The Status app_queue holds for the member, as its QueueStatus would report it.
    assert patch.set["status"] == status


def test_removing_the_last_membership_removes_the_operator() -> None:
    removal, drop = patches(recorded("e_member_admin", 174))  # Grace out of billing
    assert removal.id == drop.id == "Local/1007@agents/n"
    assert removal.set == {"queues": {"billing": None}}
    assert removal.create is False
    assert drop.delete is True
    assert drop.only_if == Guard("operator", "Local/1007@agents/n", ("queues",), negate=True)


# --- the realtime pause device -------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "state", "expected"),
    [
        ("Queue:rtq_pause_Local/1001@agents/n", "INUSE", ("Local/1001@agents/n", "rtq", True)),
        (
            "Queue:rtq_pause_Local/1004@agents/n",
            "NOT_INUSE",
            ("Local/1004@agents/n", "rtq", False),
        ),
        ("Queue:my_queue_pause_PJSIP/1001", "INUSE", ("PJSIP/1001", "my_queue", True)),
        ("Queue:sales_pause_Local/1001@agents/n", "UNKNOWN", None),
        ("Queue:sales_avail", "INUSE", None),
        ("Queue:sales", "NOT_INUSE", None),
        ("Custom:1001", "INUSE", None),
    ],
)
def test_pause_device_states(
    device: str, state: str, expected: tuple[str, str, bool] | None
) -> None:
    changes = patches(DeviceStateChange(device=device, state=state))
    if expected is None:
        assert changes == []
        return
    interface, queue, paused = expected
    (patch,) = changes
    assert patch.id == interface
    assert patch.set["queues"][queue]["paused"] is paused
    assert ("pausedReason" in patch.set["queues"][queue]) is (not paused)
    # Only for a membership we know: the device exists for every member of every queue.
    assert patch.create is False
    assert patch.only_if == Guard("operator", interface, ("queues", queue))
