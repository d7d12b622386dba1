"""`queue-status import-queue-log FILE`: the rows, idempotence, malformed lines, progress."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from api.cli import main
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.records.model import CallOutcome, IntervalKind, Record
from ingest.records.queue_log import QueueLogReplayer, parse_queue_log
from ingest.records.repository import CALLS, INTERVALS, from_epoch_ms

# Every event kind the replayer reads, one it ignores, a call still open at the end,
# and two malformed lines (4 and 13).
QUEUE_LOG = """\
1000|NONE|sales|Alice|ADDMEMBER|
1000|NONE|sales|Bob|ADDMEMBER|
1001|1001.1|sales|NONE|ENTERQUEUE||5550001|1
this line is not queue_log
1004|1001.1|sales|Bob|RINGNOANSWER|3000
1006|1001.1|sales|Alice|CONNECT|5|1006.7|2
1066|1001.1|sales|Alice|COMPLETEAGENT|5|60|1
1070|1070.1|sales|NONE|ENTERQUEUE||5550002|1
1072|1070.1|sales|Bob|CONNECT|2|1072.3|1
1100|1070.1|sales|Bob|COMPLETECALLER|2|28|1
1110|1110.1|sales|NONE|ENTERQUEUE||5550003|1
1112|1110.1|sales|Alice|CONNECT|2|1112.3|1
1130|1110.1|sales|Alice|BLINDTRANSFER|2000|agents|2|18|1
1131|1131.1|sales|Bob|COMPLETEAGENT|soon|10|1
1140|1140.1|sales|NONE|ENTERQUEUE||5550004|1
1141|1140.1|sales|Bob|CONNECT|1|1141.3|1
1160|1140.1|sales|Bob|ATTENDEDTRANSFER|BRIDGE|1160.9|1|19|1
1200|1200.1|sales|NONE|ENTERQUEUE||5550005|1
1230|1200.1|sales|NONE|ABANDON|1|1|30
1300|1300.1|sales|NONE|ENTERQUEUE||5550006|1
1360|1300.1|sales|NONE|EXITWITHTIMEOUT|1|1|60

1400|1400.1|sales|NONE|ENTERQUEUE||5550007|1
1401|1400.1|sales|NONE|EXITEMPTY|1|1|1
1500|1500.1|sales|NONE|ENTERQUEUE||5550008|1
1505|1500.1|sales|NONE|EXITWITHKEY|5|1|1|5
1600|NONE|sales|Alice|PAUSE|lunch
1700|NONE|sales|Alice|UNPAUSE|
1700|NONE|NONE|NONE|CONFIGRELOAD|
1800|1800.1|sales|NONE|ENTERQUEUE||5550009|1
1900|NONE|sales|Bob|REMOVEMEMBER|
"""
MALFORMED = [
    "line 4 skipped: 1 fields, at least 5 expected",
    "line 14 skipped: COMPLETEAGENT: data1 'soon' is not a number",
]


def _expected() -> list[Record]:
    replayer = QueueLogReplayer()
    records = list(replayer.replay(parse_queue_log(QUEUE_LOG.splitlines())))
    return records + replayer.close_all(1_900_000)


async def _table(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            found = {}
            for table in (CALLS, INTERVALS):
                rows = await connection.execute(select(table).order_by(table.c.record_key))
                found[table.name] = [tuple(row) for row in rows]
            return found
    finally:
        await engine.dispose()


async def _import(*args: str) -> int:
    # main() runs its own event loop: give it a thread of its own.
    return await asyncio.to_thread(main, ["import-queue-log", *args])


@pytest.fixture
async def queue_log(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    await migrate(pg_url)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    path = tmp_path / "queue_log"
    path.write_text(QUEUE_LOG, encoding="utf-8")
    return path


async def test_every_event_kind_becomes_rows(
    queue_log: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _import(str(queue_log), "--batch", "3") == 0

    captured = capsys.readouterr()
    assert captured.err.splitlines() == MALFORMED
    [summary] = captured.out.splitlines()
    expected = _expected()
    assert f": {len(QUEUE_LOG.splitlines())} lines read, {len(expected)} records written" in (
        summary
    )
    assert "2 malformed lines skipped" in summary

    rows = await _table(pg_url)
    calls = {row.uniqueid: row for row in _named(rows, CALLS)}
    assert {uniqueid: row.outcome for uniqueid, row in calls.items()} == {
        "1001.1": CallOutcome.COMPLETED_BY_AGENT,
        "1070.1": CallOutcome.COMPLETED_BY_CALLER,
        "1110.1": CallOutcome.TRANSFERRED,
        "1140.1": CallOutcome.TRANSFERRED,
        "1200.1": CallOutcome.ABANDONED,
        "1300.1": CallOutcome.TIMED_OUT,
        "1400.1": CallOutcome.EXIT_EMPTY,
        "1500.1": CallOutcome.EXIT_WITH_KEY,
        "1800.1": CallOutcome.LEFT,  # still waiting at the end of the file
    }
    first = calls["1001.1"]
    assert (first.answered_by, first.ring_no_answers, first.talk_time) == ("Alice", 1, 60)
    assert first.entered_at == from_epoch_ms(1_001_000)
    assert calls["1110.1"].transfer_target == "2000@agents"
    assert calls["1800.1"].ended_at == from_epoch_ms(1_900_000)
    kinds = {row.kind for row in _named(rows, INTERVALS)}
    assert kinds == {k.value for k in IntervalKind} - {IntervalKind.WRAP_UP.value}
    [pause] = [row for row in _named(rows, INTERVALS) if row.kind == "paused"]
    assert (pause.interface, pause.reason) == ("Alice", "lunch")
    assert {row.pbx for row in _named(rows, CALLS)} == {""}
    assert len(rows["queue_call_records"]) + len(rows["queue_agent_intervals"]) == len(expected)


async def test_member_names_become_the_realtime_interfaces(queue_log: Path, pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO queue_members (queue_name, interface, membername, uniqueid)"
                    " VALUES ('sales', 'PJSIP/1001', 'Alice', 1),"
                    " ('sales', 'PJSIP/1002', 'Bob', 2), ('support', 'PJSIP/1003', 'Bob', 3)"
                )
            )
    finally:
        await engine.dispose()

    assert await _import(str(queue_log)) == 0

    rows = await _table(pg_url)
    answered = {row.uniqueid: row.answered_by for row in _named(rows, CALLS)}
    # Bob is two interfaces: his name stays as queue_log wrote it.
    assert (answered["1001.1"], answered["1070.1"]) == ("PJSIP/1001", "Bob")
    assert {row.interface for row in _named(rows, INTERVALS)} == {"PJSIP/1001", "Bob"}


def _named(rows: dict[str, list[tuple[Any, ...]]], table: Any) -> list[Any]:
    names = [column.name for column in table.columns]

    class Row:
        def __init__(self, values: tuple[Any, ...]) -> None:
            self.__dict__.update(zip(names, values, strict=True))

    return [Row(values) for values in rows[table.name]]


async def test_importing_twice_changes_nothing(
    queue_log: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _import(str(queue_log)) == 0
    before = await _table(pg_url)
    capsys.readouterr()

    assert await _import(str(queue_log), "--batch", "1") == 0

    out = capsys.readouterr().out
    assert " 0 records written (0 calls, 0 intervals;" in out
    assert await _table(pg_url) == before


async def test_a_pbx_keeps_its_own_copy(queue_log: Path, pg_url: str) -> None:
    assert await _import(str(queue_log)) == 0
    assert await _import(str(queue_log), "--pbx", "north") == 0
    engine = make_engine(pg_url)
    try:
        async with engine.connect() as connection:
            counts = await connection.execute(
                select(CALLS.c.pbx, func.count()).group_by(CALLS.c.pbx).order_by(CALLS.c.pbx)
            )
            assert counts.all() == [("", 9), ("north", 9)]
    finally:
        await engine.dispose()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_progress_only_on_a_terminal(
    queue_log: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _import(str(queue_log)) == 0
    assert "lines/s" not in capsys.readouterr().err

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert await _import(str(queue_log)) == 0
    shown = terminal.getvalue()
    assert "lines/s" in shown and "left" in shown
    # Each malformed line still stands on its own line, the progress line erased first.
    assert "\r\033[Kline 4 skipped:" in shown or shown.startswith("line 4 skipped:")
    assert shown.endswith("\r\033[K")


async def test_a_missing_file_is_one_line(
    queue_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _import(str(queue_log.with_name("nope"))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Invalid setting FILE" in err


async def test_an_unmigrated_database_says_to_migrate(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    path = tmp_path / "queue_log"
    path.write_text(QUEUE_LOG, encoding="utf-8")

    assert await _import(str(path)) == 2
    [err] = capsys.readouterr().err.splitlines()
    assert err.startswith("queue-status import-queue-log: cannot import: database unavailable")
    assert err.endswith("(run queue-status migrate first)")
