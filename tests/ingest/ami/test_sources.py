"""Which list actions a snapshot asks, and how a refusal is read and reported."""

from __future__ import annotations

import logging

import pytest
from panoramisk.message import Message

from ingest.ami.sources import (
    CORE_SHOW_CHANNELS,
    DEVICE_STATE_LIST,
    LIST_ACTIONS,
    NOT_ASKED,
    NOT_AVAILABLE,
    PERMISSION_DENIED,
    QUEUE_STATUS,
    TIMED_OUT,
    Refusal,
    SnapshotSources,
)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def error(text: str) -> Message:
    return Message({"Response": "Error", "ActionID": "x", "Message": text})


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("Permission denied", PERMISSION_DENIED),
        (
            "Invalid/unknown command: DeviceStateList. "
            "Use Action: ListCommands to show available commands.",
            NOT_AVAILABLE,
        ),
        ("Asterisk is shutting down", "error: Asterisk is shutting down"),
        ("", "error"),
    ],
)
def test_an_error_answer_is_read_as_asterisk_words_it(text: str, outcome: str) -> None:
    assert Refusal.of_answer(error(text)).outcome == outcome


def test_a_refused_list_is_skipped_until_the_interval_passed() -> None:
    clock = Clock()
    sources = SnapshotSources(retry_after=60, clock=clock)
    assert sources.due() == list(LIST_ACTIONS)
    assert sources.as_json() == dict.fromkeys(
        ("queueStatus", "coreShowChannels", "deviceStateList"), NOT_ASKED
    )
    sources.answered(QUEUE_STATUS)
    sources.refused(CORE_SHOW_CHANNELS, Refusal(PERMISSION_DENIED))
    sources.refused(DEVICE_STATE_LIST, Refusal(TIMED_OUT))
    clock.now += 59
    assert sources.due() == [QUEUE_STATUS]
    clock.now += 1
    assert sources.due() == list(LIST_ACTIONS)
    sources.answered(DEVICE_STATE_LIST)
    assert sources.as_json() == {
        "queueStatus": "ok",
        "coreShowChannels": PERMISSION_DENIED,
        "deviceStateList": "ok",
    }


def test_queue_status_is_always_asked_even_after_a_failure() -> None:
    sources = SnapshotSources(retry_after=60, clock=Clock())
    sources.refused(QUEUE_STATUS, Refusal(TIMED_OUT))
    assert sources.due()[0] is QUEUE_STATUS
    assert sources.as_json()["queueStatus"] == TIMED_OUT


def test_a_refusal_is_logged_once_with_the_class_it_needs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    sources = SnapshotSources(retry_after=60, clock=clock)
    for _ in range(3):
        sources.refused(CORE_SHOW_CHANNELS, Refusal(PERMISSION_DENIED))
        clock.now += 60
    sources.refused(DEVICE_STATE_LIST, Refusal(NOT_AVAILABLE))
    sources.answered(CORE_SHOW_CHANNELS)
    assert caplog.messages == [
        "CoreShowChannels refused by Asterisk (Permission denied); the manager user needs "
        "write = system or reporting. Snapshots go on without it (channels come from events "
        "only); asked again every 60 s",
        "DeviceStateList unknown to Asterisk (Invalid/unknown command); it needs "
        "res_manager_devicestate loaded. Snapshots go on without it (a member Asterisk "
        "reports as UNKNOWN stays unknown); asked again every 60 s",
        "CoreShowChannels answered again: reconciled with the snapshots",
    ]
