"""The channel reducers, on recorded channel events."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.ami.events import AmiEvent
from ingest.patches import Patch
from ingest.reducer import reduce
from tests.support.recorded import recorded as recorded_event

NOW = 1_795_696_328_500


def recorded(index: int) -> AmiEvent:
    event = recorded_event("b_single_call", index)
    assert event is not None
    return event


def test_newchannel_creates_the_channel() -> None:
    (patch,) = reduce(recorded(6), NOW)
    assert isinstance(patch, Patch)
    assert (patch.kind, patch.id, patch.create) == (
        "channel",
        "Local/sales@callers-00000000;2",
        True,
    )
    assert patch.set == {
        "uniqueId": "1795696328.1",
        "linkedId": "1795696328.0",
        "state": "ring",
        # "<unknown>" caller ids are not stored.
        "callerIdNum": None,
        "callerIdName": None,
        "connectedLineNum": None,
        "connectedLineName": None,
        "context": "callers",
        "exten": "sales",
        "createdAt": NOW,
    }


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (9, {"callerIdNum": "5550001", "callerIdName": "Customer One"}),  # NewCallerid
        (10, {"connectedLineNum": "5550001"}),  # NewConnectedLine
        (56, {"state": "ringing"}),  # Newstate: ringing, not answered yet
        (18, {"state": "up", "answeredAt": NOW}),  # Newstate: answered
    ],
)
def test_updates_never_create(index: int, expected: dict[str, Any]) -> None:
    (patch,) = reduce(recorded(index), NOW)
    assert isinstance(patch, Patch)
    assert patch.create is False
    assert {key: patch.set[key] for key in expected} == expected
    assert ("answeredAt" in patch.set) is (expected.get("state") == "up")


def test_hangup_deletes() -> None:
    (patch,) = reduce(recorded(98), NOW)
    assert isinstance(patch, Patch)
    assert (patch.id, patch.delete) == ("Local/1001@agents-00000001;2", True)
