"""The indexes of `CallTable` / `IntervalTable` answer as the scans they replaced did."""

from __future__ import annotations

from ingest.records.model import IntervalKind
from ingest.records.state import CallTable, IntervalTable


def test_find_answered_is_the_newest_opened_and_forgets_closed_calls() -> None:
    calls = CallTable(source="ami", max_open=10, max_age_ms=10_000)
    older, _ = calls.open("u1", "sales", 0)
    newer, _ = calls.open("u2", "sales", 1)
    calls.answer(newer, "PJSIP/a")  # answered first, opened later
    calls.answer(older, "PJSIP/a")
    assert calls.find_answered("PJSIP/a", "sales") is newer
    assert calls.find_answered("PJSIP/a", "support") is None
    calls.pop("u2", "sales")
    assert calls.find_answered("PJSIP/a", "sales") is older
    calls.pop("u1", "sales")
    assert calls.find_answered("PJSIP/a", "sales") is None


def test_left_calls_by_caller_survive_a_snapshot_and_close() -> None:
    calls = CallTable(source="ami", max_open=10, max_age_ms=10_000)
    for queue, at in (("sales", 5), ("support", 3)):
        call, _ = calls.open("u1", queue, 0)
        calls.mark_left(call, at)
    restored = CallTable(source="ami", max_open=10, max_age_ms=10_000)
    restored.restore(calls.snapshot())
    assert [c.queue for c in restored.left_unanswered("u1")] == ["support", "sales"]
    closed = restored.sweep(4 + 2, leave_grace_ms=2)
    assert [c.queue for c in closed] == ["support"]
    assert [c.queue for c in restored.left_unanswered("u1")] == ["sales"]
    assert restored.left_unanswered("u2") == []


def test_close_where_one_call_closes_only_its_intervals_oldest_first() -> None:
    table = IntervalTable(source="ami", max_open=3)
    table.open(("PJSIP/a", "sales", IntervalKind.RINGING, "u1"), 1)
    table.open(("PJSIP/b", "sales", IntervalKind.RINGING, "u2"), 2)
    table.open(("PJSIP/b", "sales", IntervalKind.RINGING, "u1"), 3)
    table.open(("PJSIP/c", "sales", IntervalKind.RINGING, "u1"), 4)  # drops the oldest
    closed = table.close_where(9, queue="sales", kind=IntervalKind.RINGING, uniqueid="u1")
    assert [(i.interface, i.started_at) for i in closed] == [("PJSIP/b", 3), ("PJSIP/c", 4)]
    assert table.close_where(9, queue="sales", uniqueid="u1") == []
    assert [i.uniqueid for i in table.close_all(9)] == ["u2"]
