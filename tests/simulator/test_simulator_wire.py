"""AMI framing: serialize, parse, incremental parsing."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.replay import load_trace
from simulator.wire import (
    MessageParser,
    WireError,
    header,
    parse,
    read_message,
    serialize,
    serialize_many,
)
from tests.support.traces import load_raw


def test_serialize_keeps_order_and_repeats_list_values() -> None:
    data = serialize({"Action": "Originate", "Variable": ["A=1", "B=2"], "Data": ""})
    assert data == b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\nData: \r\n\r\n"
    assert parse(data) == {"Action": "Originate", "Variable": ["A=1", "B=2"], "Data": ""}


@pytest.mark.parametrize(
    "message",
    [
        {"Action": "Ping\r\nAction: Logoff"},
        {"Action": "Ping", "Reason": "a\nb"},
        {"Action": "Ping", "Variable": ["ok", "bad\r"]},
        {"Bad:Key": "x"},
        {"Bad\nKey": "x"},
        {"": "x"},
    ],
)
def test_serialize_rejects_line_breaks_and_bad_names(message: dict[str, str | list[str]]) -> None:
    with pytest.raises(WireError):
        serialize(message)


def test_parser_accepts_lf_only_and_ignores_junk_lines() -> None:
    parser = MessageParser()
    assert parser.feed(b"\r\n\nAction: Ping\nActionID:  7\ngarbage\n\n") == [
        {"Action": "Ping", "ActionID": "7"}
    ]


def test_parser_bounds_a_message_without_end() -> None:
    parser = MessageParser(max_message=100)
    with pytest.raises(WireError):
        parser.feed(b"Action: Ping\r\n" + b"X: " + b"y" * 200)


def test_header_is_case_insensitive() -> None:
    message: dict[str, str | list[str]] = {
        "action": "queuestatus",
        "QUEUE": "sales",
        "Variable": ["a", "b"],
    }
    assert header(message, "Action") == "queuestatus"
    assert header(message, "Queue") == "sales"
    assert header(message, "Variable") == "a"
    assert header(message, "Member") == ""


def test_recorded_bytes_parse_to_the_recorded_messages() -> None:
    trace = load_trace("b_single_call")
    raw = load_raw("b_single_call")
    parser = MessageParser()
    # The banner line has no colon and no blank line after it: it is skipped.
    assert parser.feed(raw) == list(trace.messages[1:])
    assert serialize_many(trace.messages[1:]) == raw.split(b"\r\n", 1)[1]


_text = st.text(
    alphabet=st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=20
)
_keys = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,11}", fullmatch=True)
_messages = st.lists(
    st.dictionaries(_keys, _text.map(str.strip), min_size=1, max_size=6), min_size=1, max_size=5
)


@given(messages=_messages, cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_any_chunking_gives_the_same_messages(
    messages: list[dict[str, str]], cuts: list[int]
) -> None:
    data = serialize_many(messages)
    points = sorted({c % (len(data) + 1) for c in cuts})
    parser = MessageParser()
    got = []
    for start, end in zip([0, *points], [*points, len(data)], strict=True):
        got.extend(parser.feed(data[start:end]))
    expected = [{k: v for k, v in m.items()} for m in messages]
    assert got == expected


async def test_read_message_from_a_stream() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(serialize({"Response": "Success", "Ping": "Pong"}) + b"Event: X\r\n")
    assert await read_message(reader) == {"Response": "Success", "Ping": "Pong"}
