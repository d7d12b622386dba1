"""The one loader of recorded sessions: packaged recordings, the override, the test fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest import traces
from simulator.replay import Replay, Trace
from tests.support.traces import FIXTURES_DIR, fixture_path, load_expected, load_raw

LAB = [
    "a_startup",
    "b_single_call",
    "c_ringnoanswer",
    "d_abandon",
    "e_member_admin",
    "h_realtime",
]


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a fresh install sees, whatever the developer's environment sets."""
    monkeypatch.delenv(traces.TRACES_ENV, raising=False)


def _write_jsonl(path: Path, *messages: dict[str, str]) -> None:
    path.write_text("".join(json.dumps([1.0, m]) + "\n" for m in messages), encoding="utf-8")


def test_the_lab_recordings_ship_with_the_package() -> None:
    assert traces.trace_names() == LAB
    for name in LAB:
        recording = traces.find(name)
        assert recording.parent == traces.PACKAGED_DIR
        assert traces.sent_path(recording).is_file()
        assert traces.load_jsonl(name)[0][1] == {"Banner": "Asterisk Call Manager/11.0.0"}
        assert traces.load_sent(name)[0][1]["Action"] == "Login"


def test_the_override_directory_is_looked_in_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    banner = {"Banner": "Asterisk Call Manager/11.0.0"}
    _write_jsonl(tmp_path / "mine.jsonl", banner, {"Event": "FullyBooted"})
    _write_jsonl(tmp_path / "mine.sent.jsonl", {"Action": "Login"})
    _write_jsonl(tmp_path / "b_single_call.jsonl", banner)
    monkeypatch.setenv(traces.TRACES_ENV, str(tmp_path))

    assert traces.trace_names() == sorted([*LAB, "mine"])
    assert traces.load_jsonl("mine") == [(1.0, banner), (1.0, {"Event": "FullyBooted"})]
    assert traces.load_sent("mine") == [(1.0, {"Action": "Login"})]
    assert traces.load_jsonl("b_single_call") == [(1.0, banner)]  # the override wins
    assert traces.find("a_startup").parent == traces.PACKAGED_DIR  # the rest still found


def test_a_missing_trace_says_where_it_looked() -> None:
    with pytest.raises(FileNotFoundError) as raised:
        traces.find("z_nowhere")
    message = str(raised.value)
    assert "z_nowhere.jsonl" in message
    assert str(traces.PACKAGED_DIR) in message and traces.TRACES_ENV in message


def test_a_name_is_accepted_with_any_suffix() -> None:
    assert traces.find("d_abandon.jsonl") == traces.find("d_abandon")
    assert traces.find("d_abandon.sent.jsonl", ".sent.jsonl").name == "d_abandon.sent.jsonl"
    assert traces.resolve("d_abandon") == traces.find("d_abandon")
    assert traces.resolve(Path("/x/y.jsonl")) == Path("/x/y.jsonl")  # a path is not looked up


def test_a_recording_of_your_own_replays_with_the_packaged_startup(tmp_path: Path) -> None:
    # A .jsonl elsewhere without a_startup beside it: the snapshots it lacks come from
    # the packaged a_startup, as they do for the packaged traces.
    for suffix in (".jsonl", ".sent.jsonl"):
        shutil.copy(traces.find("b_single_call", suffix), tmp_path / f"mine{suffix}")
    replay = Replay(Trace.load(tmp_path / "mine.jsonl"))
    assert replay.trace.name == "mine" and len(replay.trace.events) > 100
    startup = Trace.load("a_startup")
    for action in ("CoreShowChannels", "DeviceStateList"):
        assert replay.snapshot(action, final=False) == startup.startup_list(action)


def test_the_test_only_companions_come_from_the_fixtures() -> None:
    for name in LAB:
        for suffix in (".ami", ".expected.json", ".notes.json"):
            assert fixture_path(name, suffix).parent == FIXTURES_DIR
            assert not (traces.PACKAGED_DIR / f"{name}{suffix}").exists()
        assert load_raw(name).startswith(b"Asterisk Call Manager/11.0.0\r\n")
        assert set(load_expected(name)) >= {"queues", "members", "source"}
