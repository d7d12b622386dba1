"""Every value an action sends is checked: Asterisk's forms pass, header injection never does."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.actions import values
from ingest.actions.values import MAX_PENALTY, InvalidValue

BREAKERS = ("\r", "\n", "\x00", "\r\n")


@pytest.mark.parametrize(
    "value",
    [
        "PJSIP/1001",
        "Local/1001@agents/n",
        "SIP/alice",
        "IAX2/trunk-1",
        "PJSIP/alice.smith+1",
        "DAHDI/g1/5551234",
    ],
)
def test_interface_accepts_asterisk_member_interfaces(value: str) -> None:
    assert values.interface(value) == value
    assert values.interface(f"  {value} ") == value  # surrounding blanks are trimmed


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1001",  # no technology
        "Custom:1001",  # a state interface, not something to ring
        "PJSIP/",
        "/1001",
        "PJSIP/10 01",
        "PJSIP/1001,2",
        "PJSIP/1001|x",
        "PJSIP/1001\r\nAction: Originate",
        "PJSIP/1001\n",
        "PJSIP/1001\x00",
        "1PJSIP/1001",
        "PJSIP/" + "1" * 80,
    ],
)
def test_interface_refuses_other_forms(value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        values.interface(value)
    assert raised.value.field == "interface"
    assert str(raised.value).startswith("interface: ")


@pytest.mark.parametrize(
    "value", ["PJSIP/1001", "Custom:1001", "hint:1001@ext-local", "Local/1001@agents/n"]
)
def test_state_interface_accepts_device_state_forms(value: str) -> None:
    assert values.state_interface(value) == value


@pytest.mark.parametrize(
    "value", ["", "1001", "Custom:", "Custom 1001", "Custom:1001,x", "Custom:1001\n", "hint:a|b"]
)
def test_state_interface_refuses_other_forms(value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        values.state_interface(value)
    assert raised.value.field == "stateInterface"


@pytest.mark.parametrize(
    "value", ["sales", "rt-q_1", "billing", "q.2", "support@eu", "a", "9queue", "x" * 80]
)
def test_queue_name_accepts_queue_names(value: str) -> None:
    assert values.queue_name(value) == value


@pytest.mark.parametrize(
    "value",
    ["", " ", "my queue", "sales,support", "sales|x", "-sales", "x" * 81, "sales\r\n", "s\x00"],
)
def test_queue_name_refuses_spaces_separators_and_breaks(value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        values.queue_name(value)
    assert raised.value.field == "queue"


def test_field_names_are_the_callers() -> None:
    with pytest.raises(InvalidValue) as raised:
        values.queue_name("a b", field="input.queue")
    assert raised.value.field == "input.queue"
    assert str(raised.value).startswith("input.queue: ")


@pytest.mark.parametrize("value", [0, 1, 5, MAX_PENALTY])
def test_penalty_accepts_the_c_int_range(value: int) -> None:
    assert values.penalty(value) == value


@pytest.mark.parametrize("value", [-1, MAX_PENALTY + 1, 2**63, True, False, 1.0, "3", None])
def test_penalty_refuses_out_of_range_bools_and_non_integers(value: object) -> None:
    with pytest.raises(InvalidValue) as raised:
        values.penalty(value)  # type: ignore[arg-type]
    assert raised.value.field == "penalty"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("lunch", "lunch"),
        ("  coffee break ", "coffee break"),
        ("", ""),
        (None, ""),
        ("x" * 80,) * 2,
    ],
)
def test_pause_reason_accepts_short_printable_text(value: str | None, expected: str) -> None:
    assert values.pause_reason(value) == expected


@pytest.mark.parametrize(
    "value", ["x" * 81, "lunch|break", "tab\there", "bell\x07", "lunch\r\nAction: Logoff", "a\x00"]
)
def test_pause_reason_refuses_long_piped_or_unprintable_text(value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        values.pause_reason(value)
    assert raised.value.field == "reason"


def test_pause_reason_must_be_one_of_the_allowed_when_a_list_is_set() -> None:
    allowed = ("lunch", "training")
    assert values.pause_reason("training", allowed) == "training"
    assert values.pause_reason("", allowed) == ""  # no reason is always allowed
    with pytest.raises(InvalidValue, match="must be one of: lunch, training"):
        values.pause_reason("coffee", allowed)
    with pytest.raises(InvalidValue):
        values.pause_reason("Lunch", allowed)  # exact, not case-folded


@pytest.mark.parametrize("value", ["Frank", "Alice RT", "Zoë O'Neil", "x" * 80])
def test_member_name_accepts_one_printable_line(value: str) -> None:
    assert values.member_name(value) == value


@pytest.mark.parametrize("value", ["", "   ", "x" * 81, "a\tb", "Frank\nAction: Logoff"])
def test_member_name_refuses_blank_long_or_unprintable(value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        values.member_name(value)
    assert raised.value.field == "memberName"


@pytest.mark.parametrize(
    "value",
    [
        "PJSIP/1001-0000001a",
        "Local/1001@agents-0000000c;1",
        "SIP/alice-00000003",
    ],
)
def test_channel_accepts_channel_names(value: str) -> None:
    assert values.channel(value) == value


@pytest.mark.parametrize("value", ["", "1001", "PJSIP/a b", "PJSIP/a,b", "PJSIP/a\r\n"])
def test_channel_refuses_other_forms(value: str) -> None:
    with pytest.raises(InvalidValue):
        values.channel(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1009", "PJSIP/1009"),
        (" 1009 ", "PJSIP/1009"),
        ("alice", "PJSIP/alice"),
        ("PJSIP/1009", "PJSIP/1009"),
        ("Local/1009@from-internal", "Local/1009@from-internal"),
    ],
)
def test_extension_dials_a_bare_extension_over_pjsip(value: str, expected: str) -> None:
    assert values.extension(value) == expected


@pytest.mark.parametrize("value", ["", "10 09", "1009,1", "PJSIP/10 09", "1009\r\n", "-1009"])
def test_extension_refuses_other_forms(value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        values.extension(value)
    assert raised.value.field == "extension"


TEXT_CHECKERS: list[Callable[[str], str]] = [
    values.queue_name,
    values.interface,
    values.state_interface,
    values.member_name,
    values.pause_reason,
    values.channel,
    values.extension,
]


@pytest.mark.parametrize("checker", TEXT_CHECKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("breaker", BREAKERS, ids=repr)
def test_a_line_break_or_nul_is_refused_wherever_it_is(
    checker: Callable[[str], str], breaker: str
) -> None:
    good = {
        "queue_name": "sales",
        "interface": "PJSIP/1001",
        "state_interface": "Custom:1001",
        "member_name": "Frank",
        "pause_reason": "lunch",
        "channel": "PJSIP/1001-0000001a",
        "extension": "1009",
    }[checker.__name__]
    for bad in (breaker + good, good[:2] + breaker + good[2:], good + breaker):
        with pytest.raises(InvalidValue, match="CR, LF or NUL"):
            checker(bad)


# Text built from the characters that matter: what the checkers accept and what breaks AMI.
_ALPHABET = st.sampled_from(
    [*"aZ09/:@._+-#*=;|, \t", "\r", "\n", "\x00", "\x0b", "\x85", "\u2028", "é"]
)
_TEXT = st.text(_ALPHABET, max_size=30)


def _accepted(checker: Callable[[str], str], value: str) -> str | None:
    try:
        return checker(value)
    except InvalidValue:
        return None


@pytest.mark.parametrize("checker", TEXT_CHECKERS, ids=lambda c: c.__name__)
@given(prefix=st.sampled_from(["", "PJSIP/", "Custom:", "sales"]), text=_TEXT)
def test_no_accepted_value_can_break_an_ami_line(
    checker: Callable[[str], str], prefix: str, text: str
) -> None:
    value = prefix + text
    accepted = _accepted(checker, value)
    if accepted is None:
        return
    assert not any(ch in accepted for ch in "\r\n\x00")
    assert not any(ch in value for ch in "\r\n\x00"), "a value with a break was accepted"
    assert accepted == accepted.strip()
    # Accepted once, accepted again unchanged: the checked value is a fixed point.
    assert checker(accepted) == accepted


@given(value=st.integers())
def test_penalty_accepts_exactly_the_non_negative_c_ints(value: int) -> None:
    if 0 <= value <= MAX_PENALTY:
        assert values.penalty(value) == value
    else:
        with pytest.raises(InvalidValue):
            values.penalty(value)


@given(value=st.text(max_size=100))
def test_an_accepted_reason_is_one_short_line_without_controls_or_pipes(value: str) -> None:
    accepted = _accepted(values.pause_reason, value)
    if accepted is not None:
        assert len(accepted) <= 80
        assert not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in accepted)
        assert "|" not in accepted
        assert not any(ch in value for ch in "\r\n\x00")
