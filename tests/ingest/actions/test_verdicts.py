"""Asterisk's answers sorted: the recorded refusals map to the API's kinds."""

from __future__ import annotations

import pytest
from panoramisk.message import Message

from ingest import traces
from ingest.actions.verdicts import AsteriskRefused, RefusalKind, refusal_kind, response_of


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(traces.TRACES_ENV, raising=False)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Unable to add interface: Already there", RefusalKind.CONFLICT),
        ("Member not dynamic", RefusalKind.CONFLICT),
        ("Unable to remove interface: Not there", RefusalKind.NOT_FOUND),
        ("Interface not found", RefusalKind.NOT_FOUND),
        ("Unable to add interface to queue: No such queue", RefusalKind.NOT_FOUND),
        ("Unable to remove interface from queue: No such queue", RefusalKind.NOT_FOUND),
        ("Permission denied", RefusalKind.PERMISSION),
        ("Invalid interface, queuename or penalty", RefusalKind.BAD_INPUT),
        ("Need 'Interface' and 'Paused' parameters.", RefusalKind.BAD_INPUT),
        ("Something Asterisk never said", RefusalKind.BAD_INPUT),
        ("", RefusalKind.BAD_INPUT),
        ("PERMISSION DENIED", RefusalKind.PERMISSION),
    ],
)
def test_asterisks_messages_map_to_kinds(message: str, kind: RefusalKind) -> None:
    assert refusal_kind(message) is kind


def test_every_recorded_error_answer_has_a_kind_that_is_not_a_guess() -> None:
    """The refusals of the member-admin session are each sorted, none left as bad input."""
    errors = {
        str(m["Message"])
        for _, m in traces.load_jsonl("e_member_admin")
        if m.get("Response") == "Error"
    }
    assert errors == {
        "Unable to add interface: Already there",
        "Unable to remove interface: Not there",
        "Member not dynamic",
        "Interface not found",
    }
    assert {refusal_kind(e) for e in errors} == {RefusalKind.CONFLICT, RefusalKind.NOT_FOUND}


def test_asterisk_refused_keeps_the_message_word_for_word() -> None:
    refused = AsteriskRefused("QueueRemove", "Member not dynamic")
    assert refused.action == "QueueRemove"
    assert refused.asterisk_message == "Member not dynamic"
    assert refused.kind is RefusalKind.CONFLICT
    assert str(refused) == "Asterisk refused QueueRemove: Member not dynamic"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"Response": "Success", "ActionID": "a1", "Message": "Interface paused successfully"},
            (True, "Interface paused successfully"),
        ),
        (
            {"Response": "Error", "ActionID": "a1", "Message": "Interface not found"},
            (False, "Interface not found"),
        ),
        ({"Response": "Follows", "ActionID": "a1"}, (True, "")),
        (
            {"Response": "Goodbye", "Message": "Thanks for all the fish."},
            (True, "Thanks for all the fish."),
        ),
        (
            {"response": "success", "message": "Added interface to queue"},
            (True, "Added interface to queue"),
        ),
        ({"Event": "QueueMemberPause"}, (False, "")),
    ],
)
def test_response_of_a_panoramisk_message(
    headers: dict[str, str], expected: tuple[bool, str]
) -> None:
    assert response_of(Message(headers)) == expected


def test_response_of_an_event_list_is_its_first_message() -> None:
    answer = [
        Message(
            {"Response": "Success", "EventList": "start", "Message": "Queue status will follow"}
        ),
        Message({"Event": "QueueParams", "Queue": "sales"}),
        Message({"Event": "QueueStatusComplete", "EventList": "Complete"}),
    ]
    assert response_of(answer) == (True, "Queue status will follow")


@pytest.mark.parametrize("answer", [None, [], "Success", 42])
def test_response_of_no_answer_is_a_failure(answer: object) -> None:
    assert response_of(answer) == (False, "no answer")
