"""The simulator's queue_log lines and Timestamp headers (no sockets; the day over TCP is
test_simulator_day_records)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from simulator.centre import CallCentre
from simulator.config import CentreConfig
from simulator.queue_log import QueueLogWriter, format_line
from simulator.server import AmiSimulator

START = 1795696000.0
BOB = "Local/1002@agents/n"
ZED = "Local/1009@agents/n"


def _lines(path: Path) -> list[list[str]]:
    return [line.split("|") for line in path.read_text(encoding="utf-8").splitlines()]


def test_an_answered_call_is_logged_with_app_queues_data_fields(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    model = CallCentre(CentreConfig.lab(), clock=lambda: START, queue_log=log)
    model.originate("sales", caller_num="5550001", patience=60, talk=6)
    model.run_for(30)
    events = model.drain()
    connect = next(e for e in events if e["Event"] == "AgentConnect")
    complete = next(e for e in events if e["Event"] == "AgentComplete")
    assert "Timestamp" not in connect  # off by default, as in the recordings
    model.flush_queue_log()
    uid, start = connect["Uniqueid"], int(START)
    assert _lines(log) == [
        [str(start), "NONE", "NONE", "NONE", "QUEUESTART", ""],
        [str(start), uid, "sales", "NONE", "ENTERQUEUE", "", "5550001", "1"],
        # holdtime | the member channel's uniqueid | ringtime: as AgentConnect says.
        [str(start + 2), uid, "sales", "Alice", "CONNECT", "2", connect["DestUniqueid"], "2"],
        # holdtime | talktime | original position
        [str(start + 8), uid, "sales", "Alice", "COMPLETEAGENT", "2", complete["TalkTime"], "1"],
    ]


def test_member_administration_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    model = CallCentre(CentreConfig.lab(), clock=lambda: START, queue_log=log)
    model.queue_add("sales", ZED, name="Zed", paused=True, reason="lunch")
    model.queue_pause(BOB, True, reason="break")  # every queue: PAUSEALL first
    model.run_for(5)
    model.queue_pause(BOB, False, queue="sales")
    model.queue_remove("sales", ZED)
    model.flush_queue_log()
    now = str(int(START))
    assert [line[1:] for line in _lines(log)[1:]] == [
        ["MANAGER", "sales", ZED, "ADDMEMBER", "PAUSED"],
        ["NONE", "NONE", "Bob", "PAUSEALL", "break"],
        ["NONE", "support", "Bob", "PAUSE", "break"],
        ["NONE", "sales", "Bob", "PAUSE", "break"],
        ["NONE", "sales", "Bob", "UNPAUSE", ""],
        ["MANAGER", "sales", ZED, "REMOVEMEMBER", ""],
    ]
    assert [line[0] for line in _lines(log)][:4] == [now] * 4


def test_timestamps_follow_privilege_in_model_time(tmp_path: Path) -> None:
    model = CallCentre(CentreConfig.lab(), clock=lambda: START + 0.25, timestamps=True)
    model.queue_pause(BOB, True, queue="sales", reason="break")
    model.run_for(1.5)
    model.originate("billing", patience=10)
    events = model.drain()
    assert events and all(list(e)[:3] == ["Event", "Privilege", "Timestamp"] for e in events)
    assert events[0]["Timestamp"] == f"{START:.0f}.250000"
    assert events[-1]["Timestamp"] == f"{int(START) + 1}.750000"


def test_values_cannot_break_the_line_format() -> None:
    line = format_line(START + 0.9, "NONE", "sales", "Bob", "PAUSE", "a|b\nc")
    assert line == f"{int(START)}|NONE|sales|Bob|PAUSE|a_b_c\n"


def test_an_unwritable_file_loses_lines_visibly_and_writing_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "later"
    writer = QueueLogWriter(folder / "queue_log")
    with pytest.raises(OSError):
        writer.check()
    writer.write(START, "NONE", "NONE", "NONE", "QUEUESTART", "")
    writer.write(START, "NONE", "sales", "Bob", "PAUSE", "x")
    with caplog.at_level(logging.WARNING, logger="simulator.queue_log"):
        assert writer.flush() == 0
        assert writer.flush() == 0  # nothing pending: no second warning
    assert (writer.lines_lost, writer.pending) == (2, 0)
    assert len(caplog.records) == 1 and "lines dropped" in caplog.records[0].getMessage()
    folder.mkdir()
    writer.write(START, "NONE", "sales", "Bob", "UNPAUSE", "")
    assert writer.flush() == 1
    assert (folder / "queue_log").read_text() == f"{int(START)}|NONE|sales|Bob|UNPAUSE|\n"


async def test_the_server_flushes_the_queue_log(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    model = CallCentre(CentreConfig.lab(), clock=lambda: START, queue_log=log)
    async with AmiSimulator(secret="s", model=model, realtime=False) as sim:
        model.originate("sales", patience=60, talk=6)
        sim.advance(30)
        assert await sim.flush_queue_log() == 4  # QUEUESTART, ENTERQUEUE, CONNECT, COMPLETEAGENT
        model.queue_pause(BOB, True, queue="sales", reason="break")
    # stop() flushed what was left.
    assert [line[4] for line in _lines(log)][-1] == "PAUSE"
