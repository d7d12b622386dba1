"""The one allow-list of AMI events, the raw `Event:` pre-filter and the Login event mask."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.actions.requests import (
    AddMember,
    AmiRequest,
    Listen,
    ListenMode,
    PauseMember,
    RemoveMember,
    SetPenalty,
)
from ingest.ami.events import AmiEvent
from ingest.ami.framing import AmiFramer, Frame
from ingest.ami.parser import TRACKED_EVENTS, parse
from ingest.ami.relevance import (
    ASYNC_ANSWERS,
    DEFAULT_EVENT_CLASSES,
    WANTED_EVENTS,
    RawEventFilter,
    manager_conf_filters,
    normalise_event_mask,
)
from ingest.records.builder import _handler_of
from ingest.traces import trace_names
from tests.support.traces import load_raw


def _subclasses(kind: type[AmiEvent]) -> list[type[AmiEvent]]:
    found: list[type[AmiEvent]] = []
    for sub in kind.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_event_kind_the_parser_handles_is_wanted() -> None:
    assert TRACKED_EVENTS <= WANTED_EVENTS


def test_every_event_the_records_builder_reads_is_wanted() -> None:
    read = {
        kind.EVENT for kind in _subclasses(AmiEvent) if kind.EVENT and _handler_of(kind) is not None
    }
    assert read, "the builder reads no event kind: the test lost its subject"
    assert read - {"ListComplete"} <= WANTED_EVENTS


def test_every_event_that_confirms_an_action_is_wanted() -> None:
    requests: list[AmiRequest] = [
        PauseMember("Local/1001@agents/n", ("sales",), True, "lunch"),
        AddMember("sales", "Local/1001@agents/n"),
        RemoveMember("sales", "Local/1001@agents/n"),
        SetPenalty("sales", "Local/1001@agents/n", 2),
        Listen("SIP/900", "Local/1001@agents-00000001;1", ListenMode.LISTEN),
    ]
    expected = {e.event for request in requests for e in request.expected()}
    assert expected == {
        "QueueMemberPause",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPenalty",
        "ChanSpyStart",
    }
    assert expected <= WANTED_EVENTS


def _frames(data: bytes, event_filter: RawEventFilter | None) -> list[Frame]:
    framer = AmiFramer(event_filter=event_filter)
    return framer.feed(data)


_STREAM = (
    b"Asterisk Call Manager/11.0.0\r\n"
    b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
    b"Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: X\r\n\r\n"
    b"Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: A\r\n\r\n"
    b"Event: QueueMemberStatus\r\nPrivilege: agent,all\r\nQueue: q\r\n\r\n"
    b"Event: queuecallerjoin\r\nQueue: q\r\n\r\n"
    b"Event: OriginateResponse\r\nActionID: ours-7\r\nResponse: Success\r\n\r\n"
    b"Event: VarSet\r\nVariable: B\r\n\r\n"
    b"Privilege: dialplan,all\r\nEvent: Newexten\r\n\r\n"
)


def test_the_pre_filter_drops_exactly_the_unwanted_events_and_counts_them() -> None:
    event_filter = RawEventFilter()
    framer = AmiFramer(event_filter=event_filter)
    kept = [dict(f.headers) for f in framer.feed(_STREAM) if not f.banner]
    assert [m.get("Event", m.get("Response")) for m in kept] == [
        "Success",  # a response
        "QueueMemberStatus",
        "queuecallerjoin",  # any letter case of a wanted name
        "OriginateResponse",  # answers an action: the protocol decides whose
        "Newexten",  # not in Asterisk's shape (Event first): left to the parser
    ]
    assert event_filter.dropped_by_kind() == {"VarSet": 2, "Newexten": 1}
    assert (framer.stats.filtered, event_filter.dropped_total) == (3, 3)
    assert framer.stats.messages == len(kept)


@pytest.mark.parametrize("cut", [1, 7, 64, 4096])
def test_the_pre_filter_does_not_depend_on_how_the_stream_is_cut(cut: int) -> None:
    framer = AmiFramer(event_filter=RawEventFilter())
    frames = [f for i in range(0, len(_STREAM), cut) for f in framer.feed(_STREAM[i : i + cut])]
    assert frames == _frames(_STREAM, RawEventFilter())


@pytest.mark.parametrize("name", trace_names())
def test_a_recorded_trace_keeps_every_wanted_message_in_order(name: str) -> None:
    data = load_raw(name)
    everything = [f for f in _frames(data, None) if not f.banner]
    event_filter = RawEventFilter()
    kept = [f for f in _frames(data, event_filter) if not f.banner]

    def wanted(frame: Frame) -> bool:
        event = frame.headers.get("Event")
        if event is None or "ActionID" in frame.headers:
            return True
        return str(event).lower() in {n.lower() for n in WANTED_EVENTS}

    assert kept == [f for f in everything if wanted(f)]
    assert event_filter.dropped_total == len(everything) - len(kept)
    # Nothing the parser turns into an event was dropped.
    assert [parse(f.headers) for f in everything if "Event" in f.headers and wanted(f)] == [
        parse(f.headers) for f in kept if "Event" in f.headers
    ]


def test_the_default_mask_is_the_classes_of_the_events_we_use() -> None:
    assert DEFAULT_EVENT_CLASSES == "system,call,agent"
    assert normalise_event_mask(DEFAULT_EVENT_CLASSES) == DEFAULT_EVENT_CLASSES


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("on", "on"),
        (" ALL ", "on"),
        ("yes", "on"),
        ("off", "off"),
        ("none", "off"),
        ("Agent, call ,agent", "agent,call"),
    ],
)
def test_an_event_mask_setting_is_normalised(value: str, normal: str) -> None:
    assert normalise_event_mask(value) == normal


@pytest.mark.parametrize(
    ("value", "problem"), [("", "empty"), (" , ", "empty"), ("calls", "calls")]
)
def test_a_bad_event_mask_is_refused_naming_the_problem(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        normalise_event_mask(value)


def test_the_readme_shows_the_eventfilter_lines_of_the_allow_list() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    lines = manager_conf_filters()
    assert len(lines) == len(WANTED_EVENTS | ASYNC_ANSWERS)
    missing = [line for line in lines if f"\n{line}\n" not in readme]
    assert missing == [], "README's manager.conf lines differ from the allow-list"


def test_the_compose_asterisk_sends_only_the_events_of_the_allow_list() -> None:
    conf = Path(__file__).resolve().parents[3] / "docker" / "asterisk" / "manager.conf"
    filters = [
        line
        for line in conf.read_text(encoding="utf-8").splitlines()
        if line.startswith("eventfilter")
    ]
    assert filters == manager_conf_filters()
