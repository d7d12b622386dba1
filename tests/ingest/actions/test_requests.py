"""Each request's AMI headers are what a real client sent, and its `expected()` events
are the ones the real Asterisk answered with (the recorded lab sessions)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest import traces
from ingest.actions.requests import (
    AddMember,
    Expected,
    Listen,
    ListenMode,
    PauseMember,
    RemoveMember,
    SetPenalty,
)

FRANK = "Local/1006@agents/n"
GRACE = "Local/1007@agents/n"


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """The packaged recordings, whatever the developer's environment sets."""
    monkeypatch.delenv(traces.TRACES_ENV, raising=False)


def _sent(trace: str, action_id: str) -> dict[str, Any]:
    """The action the recording client sent with `action_id`, without its ActionID."""
    (action,) = [m for _, m in traces.load_sent(trace) if m.get("ActionID") == action_id]
    return {k: v for k, v in action.items() if k != "ActionID"}


def _answered(trace: str, action_id: str) -> list[dict[str, Any]]:
    """The events Asterisk sent right after its Response to `action_id` (up to the next
    Response), in order."""
    received = [m for _, m in traces.load_jsonl(trace)]
    (start,) = [
        i for i, m in enumerate(received) if "Response" in m and m.get("ActionID") == action_id
    ]
    events: list[dict[str, Any]] = []
    for message in received[start + 1 :]:
        if "Response" in message and "Event" not in message:
            break
        events.append(message)
    return events


def _recorded_events(trace: str, event: str) -> list[dict[str, Any]]:
    return [m for _, m in traces.load_jsonl(trace) if m.get("Event") == event]


def _confirms(expected: list[Expected], events: list[dict[str, Any]]) -> bool:
    """Every expected event is among `events`."""
    return all(any(e.matches(m) for m in events) for e in expected)


# --- the headers, as a real client sent them -----------------------------------------


@pytest.mark.parametrize(
    ("request_", "trace", "action_id"),
    [
        (PauseMember(FRANK, ("billing",), True, "coffee"), "e_member_admin", "drv-7"),
        (PauseMember(FRANK, ("billing",), False), "e_member_admin", "drv-11"),
        (
            PauseMember(FRANK, ("billing", "support"), True, "break", all_queues=True),
            "e_member_admin",
            "drv-13",
        ),
        (
            PauseMember(FRANK, ("billing", "support"), False, all_queues=True),
            "e_member_admin",
            "drv-14",
        ),
        (
            PauseMember("Local/1001@agents/n", ("rtq",), True, "rt-lunch"),
            "h_realtime",
            "drv-5",
        ),
        (PauseMember("Local/1004@agents/n", ("rtq",), False), "h_realtime", "drv-6"),
        (
            AddMember("billing", FRANK, member_name="Frank", state_interface="Custom:1006"),
            "e_member_admin",
            "drv-2",
        ),
        (
            AddMember(
                "billing", GRACE, member_name="Grace", state_interface="Custom:1007", penalty=1
            ),
            "e_member_admin",
            "drv-3",
        ),
        (
            AddMember(
                "support",
                FRANK,
                member_name="Frank",
                state_interface="Custom:1006",
                penalty=2,
                paused=True,
                reason="onboarding",
            ),
            "e_member_admin",
            "drv-4",
        ),
        (SetPenalty("billing", FRANK, 3), "e_member_admin", "drv-6"),
        (RemoveMember("support", FRANK), "e_member_admin", "drv-17"),
        (RemoveMember("billing", GRACE), "e_member_admin", "drv-18"),
    ],
    ids=lambda p: p if isinstance(p, str) else type(p).__name__,
)
def test_headers_equal_what_a_real_client_sent(request_: Any, trace: str, action_id: str) -> None:
    assert request_.ami() == _sent(trace, action_id)


def test_action_comes_first_on_the_wire() -> None:
    for request_ in (
        PauseMember(FRANK, ("billing",), True, "x"),
        AddMember("billing", FRANK),
        RemoveMember("billing", FRANK),
        SetPenalty("billing", FRANK, 1),
        Listen("PJSIP/1009", "PJSIP/1001-00000001", ListenMode.LISTEN),
    ):
        assert next(iter(request_.ami())) == "Action"


def test_an_unpaused_member_added_carries_no_reason() -> None:
    action = AddMember("billing", FRANK, reason="ignored").ami()
    assert "Reason" not in action
    assert action["Paused"] == "false"


def test_an_all_queues_pause_names_no_queue() -> None:
    action = PauseMember(FRANK, ("billing", "support"), True, all_queues=True).ami()
    assert "Queue" not in action
    assert "Reason" not in action


@pytest.mark.parametrize(
    ("mode", "data"),
    [
        (ListenMode.LISTEN, "PJSIP/1001-0000001a,q"),
        (ListenMode.WHISPER, "PJSIP/1001-0000001a,qw"),
        (ListenMode.BARGE, "PJSIP/1001-0000001a,qB"),
    ],
)
def test_listen_originates_chanspy_on_the_operators_channel(mode: ListenMode, data: str) -> None:
    listen = Listen("PJSIP/1009", "PJSIP/1001-0000001a", mode)
    assert listen.ami() == {
        "Action": "Originate",
        "Channel": "PJSIP/1009",
        "Application": "ChanSpy",
        "Data": data,
        "CallerID": '"Queue Status" <>',
        "Async": "true",
    }
    (expected,) = listen.expected()
    assert expected.matches(
        {
            "Event": "ChanSpyStart",
            "SpyerChannel": "PJSIP/1009-00000020",
            "SpyeeChannel": "PJSIP/1001-0000001a",
        }
    )
    assert not expected.matches({"Event": "ChanSpyStart", "SpyeeChannel": "PJSIP/1002-0000001b"})


# --- expected(): the events that confirm each, as Asterisk sent them ------------------


def test_pause_of_frank_in_billing_matches_the_recorded_queue_member_pause() -> None:
    pause = PauseMember(FRANK, ("billing",), True, "coffee")
    answered = _answered("e_member_admin", "drv-7")
    (expected,) = pause.expected()
    members = [m for m in answered if str(m["Event"]).startswith("QueueMember")]
    assert [m["Event"] for m in members] == ["QueueMemberPause"]
    assert [m for m in answered if expected.matches(m)] == members
    assert members[0]["PausedReason"] == "coffee"


def test_unpause_matches_only_the_unpause_events() -> None:
    unpause = PauseMember(FRANK, ("billing",), False)
    (expected,) = unpause.expected()
    pauses = [m for m in _recorded_events("e_member_admin", "QueueMemberPause")]
    matched = [m for m in pauses if expected.matches(m)]
    assert matched == [m for m in pauses if m["Queue"] == "billing" and m["Paused"] == "0"]
    assert len(matched) == 2  # drv-11 and drv-14
    assert _confirms(unpause.expected(), _answered("e_member_admin", "drv-11"))
    # The pause that came before it does not confirm an unpause.
    assert not _confirms(unpause.expected(), _answered("e_member_admin", "drv-7"))


def test_pause_in_every_queue_is_confirmed_by_one_event_per_queue() -> None:
    pause = PauseMember(FRANK, ("billing", "support"), True, "break", all_queues=True)
    answered = _answered("e_member_admin", "drv-13")
    assert [(e.event, dict(e.headers)["Queue"]) for e in pause.expected()] == [
        ("QueueMemberPause", "billing"),
        ("QueueMemberPause", "support"),
    ]
    assert _confirms(pause.expected(), answered)
    # One of the two is not enough.
    assert not _confirms(pause.expected(), answered[:1])


def test_realtime_pause_matches_the_recorded_realtime_member_event() -> None:
    pause = PauseMember("Local/1001@agents/n", ("rtq",), True, "rt-lunch")
    (event,) = [
        m
        for m in _recorded_events("h_realtime", "QueueMemberPause")
        if m["Interface"] == "Local/1001@agents/n"
    ]
    assert event["Membership"] == "realtime"
    assert pause.expected()[0].matches(event)


@pytest.mark.parametrize(
    ("request_", "action_id"),
    [
        (AddMember("billing", FRANK, member_name="Frank"), "drv-2"),
        (AddMember("billing", GRACE, penalty=1), "drv-3"),
        (AddMember("support", FRANK, penalty=2, paused=True, reason="onboarding"), "drv-4"),
        (SetPenalty("billing", FRANK, 3), "drv-6"),
        (RemoveMember("support", FRANK), "drv-17"),
        (RemoveMember("billing", GRACE), "drv-18"),
    ],
    ids=lambda p: p if isinstance(p, str) else type(p).__name__,
)
def test_expected_matches_what_asterisk_answered(request_: Any, action_id: str) -> None:
    answered = _answered("e_member_admin", action_id)
    assert answered, "Asterisk sent an event for it"
    assert _confirms(request_.expected(), answered)


@pytest.mark.parametrize(
    ("request_", "action_id"),
    [
        (AddMember("billing", FRANK), "drv-3"),  # Grace's add
        (AddMember("support", FRANK), "drv-2"),  # the billing add
        (SetPenalty("billing", FRANK, 4), "drv-6"),  # penalty 3 was set
        (SetPenalty("support", FRANK, 3), "drv-6"),
        (RemoveMember("billing", FRANK), "drv-17"),  # removed from support
        (PauseMember(GRACE, ("billing",), True, "coffee"), "drv-7"),
    ],
    ids=lambda p: p if isinstance(p, str) else type(p).__name__,
)
def test_expected_does_not_match_someone_elses_events(request_: Any, action_id: str) -> None:
    assert not _confirms(request_.expected(), _answered("e_member_admin", action_id))


def test_refused_actions_were_answered_without_events() -> None:
    # drv-5 (Already there) … drv-21 (Interface not found): Response: Error, nothing else.
    for action_id in ("drv-5", "drv-19", "drv-20", "drv-21"):
        assert _answered("e_member_admin", action_id) == []


def test_penalty_in_every_queue_was_one_event_per_queue() -> None:
    # QueuePenalty without Queue (drv-15): Asterisk reports each queue of the member.
    answered = _answered("e_member_admin", "drv-15")
    support, sales = (
        SetPenalty("support", "Local/1002@agents/n", 2),
        SetPenalty("sales", "Local/1002@agents/n", 2),
    )
    assert _confirms(support.expected(), answered)
    assert _confirms(sales.expected(), answered)


def test_expected_matches_header_names_in_any_letter_case() -> None:
    expected = RemoveMember("billing", FRANK).expected()[0]
    assert expected.matches({"event": "queuememberremoved", "QUEUE": "billing", "interface": FRANK})
    assert not expected.matches({"Event": "QueueMemberRemoved", "Queue": "billing"})
    assert not expected.matches({"Queue": "billing", "Interface": FRANK})
    # Values are compared exactly.
    assert not expected.matches(
        {"Event": "QueueMemberRemoved", "Queue": "Billing", "Interface": FRANK}
    )
