"""The reducer of a status set by a person (REST POST / setOperatorStatus)."""

from __future__ import annotations

from ingest.domain import OperatorStatus
from ingest.patches import Patch
from ingest.reducer import reduce
from ingest.reducer.manual import OperatorStatusSet


def _patch(event: OperatorStatusSet) -> Patch:
    (patch,) = reduce(event, 1_700_000_000_000)
    assert isinstance(patch, Patch)
    return patch


def test_status_call_and_primary_queue() -> None:
    patch = _patch(
        OperatorStatusSet(
            member_id="PJSIP/1001",
            status=OperatorStatus.IN_CALL,
            queue_name="sales",
            current_call_id="1234567890.1",
        )
    )
    assert patch.id == "PJSIP/1001"
    assert patch.set["status"] == "in_call"
    assert patch.set["currentCallId"] == "1234567890.1"
    assert patch.set["queueName"] == "sales"
    assert patch.set["queues"] == {"sales": {"queueName": "sales"}}


def test_pause_with_reason_applies_to_the_named_queue_and_stamps_last_pause() -> None:
    patch = _patch(
        OperatorStatusSet(
            member_id="PJSIP/1",
            status=OperatorStatus.IDLE,
            queue_name="sales",
            paused=True,
            paused_reason="lunch",
        )
    )
    assert patch.set["queues"]["sales"] == {
        "queueName": "sales",
        "paused": True,
        "pausedReason": "lunch",
        "lastPause": 1_700_000_000,
    }


def test_unpause_clears_the_reason_in_every_listed_queue() -> None:
    patch = _patch(
        OperatorStatusSet(
            member_id="PJSIP/1",
            status=OperatorStatus.IDLE,
            paused=False,
            paused_reason="back",
            pause_queues=("a", "b"),
        )
    )
    assert patch.set["queues"] == {
        "a": {"queueName": "a", "paused": False, "pausedReason": ""},
        "b": {"queueName": "b", "paused": False, "pausedReason": ""},
    }


def test_leaving_a_call_clears_the_current_call() -> None:
    patch = _patch(OperatorStatusSet(member_id="PJSIP/1", status=OperatorStatus.IDLE))
    assert patch.set == {"status": "idle", "currentCallId": None}


def test_unknown_event_types_change_nothing() -> None:
    assert reduce(object(), 0) == []
