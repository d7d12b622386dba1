"""queue_call_records / queue_agent_intervals: the migration, the model, save_records, purge_before."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.ami.parser import EventParser
from ingest.db.engine import make_engine
from ingest.db.migrate import alembic_config, migrate
from ingest.db.models import ProductBase
from ingest.records.builder import CallRecordBuilder
from ingest.records.model import (
    AgentInterval,
    CallOutcome,
    CallRecord,
    IntervalKind,
    Record,
)
from ingest.records.repository import (
    CALLS,
    INTERVALS,
    from_epoch_ms,
    purge_before,
    save_records,
    to_epoch_ms,
)
from ingest.traces import load_jsonl

INDEXES = {
    "queue_call_records": {
        "ix_queue_call_records_pbx_queue_entered_at": ["pbx", "queue", "entered_at"],
        "ix_queue_call_records_pbx_answered_by_entered_at": ["pbx", "answered_by", "entered_at"],
        "ix_queue_call_records_ended_at": ["ended_at"],
        "ix_queue_call_records_pbx_entered_at": ["pbx", "entered_at"],
    },
    "queue_agent_intervals": {
        "ix_queue_agent_intervals_pbx_interface_started_at": ["pbx", "interface", "started_at"],
        "ix_queue_agent_intervals_pbx_queue_started_at": ["pbx", "queue", "started_at"],
        "ix_queue_agent_intervals_ended_at": ["ended_at"],
    },
}
T0 = 1_795_696_329_150
ALICE = "Local/1001@agents/n"


def _partial_call(**changes: Any) -> CallRecord:
    call = CallRecord(
        queue="sales",
        uniqueid="1795696328.1",
        linkedid="1795696328.0",
        caller_num="5550001",
        caller_name="Customer One",
        entered_at=T0,
        position=1,
        original_position=None,
        answered_at=T0 + 2_005,
        answered_by=ALICE,
        member_name="Alice",
        ring_attempts=1,
        ring_no_answers=0,
        hold_time=2,
        ring_time=2,
        talk_time=None,
        ended_at=T0 + 3_000,
        outcome=CallOutcome.LEFT,
        abandon_position=None,
        timed_out=None,
        source="queue_log",
    )
    return dataclasses.replace(call, **changes)


def _complete_call() -> CallRecord:
    return _partial_call(
        talk_time=6, ended_at=T0 + 8_516, outcome=CallOutcome.COMPLETED_BY_AGENT, timed_out=False
    )


def _pause(started_at: int = T0, **changes: Any) -> AgentInterval:
    interval = AgentInterval(
        interface=ALICE,
        queue="sales",
        kind=IntervalKind.PAUSED,
        started_at=started_at,
        ended_at=started_at + 60_000,
        member_name="Alice",
        reason="lunch",
        source="queue_log",
    )
    return dataclasses.replace(interval, **changes)


def _structure(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    found: dict[str, Any] = {}
    for table in INDEXES:
        found[table] = {
            str(i["name"]): [str(c) for c in i["column_names"]]
            for i in inspector.get_indexes(table)
            # PostgreSQL lists the index behind the UNIQUE constraint too.
            if "duplicates_constraint" not in i
        }
        found[f"{table} unique"] = [
            list(u["column_names"]) for u in inspector.get_unique_constraints(table)
        ]
    return found


async def _rows(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as connection:
        result = {}
        for table in (CALLS, INTERVALS):
            rows = await connection.execute(select(table).order_by(table.c.record_key))
            result[table.name] = [tuple(row) for row in rows]
        return result


def _read_back(row: Any, kind: type[Record]) -> Record:
    values = {}
    for field in dataclasses.fields(kind):
        value = getattr(row, field.name)
        if field.name.endswith("_at"):
            value = to_epoch_ms(value)
        elif field.name == "outcome":
            value = CallOutcome(value)
        elif field.name == "kind":
            value = IntervalKind(value)
        values[field.name] = value
    return kind(**values)


async def _records(engine: AsyncEngine) -> list[Record]:
    async with engine.connect() as connection:
        calls = await connection.execute(select(CALLS).order_by(CALLS.c.record_key))
        intervals = await connection.execute(select(INTERVALS).order_by(INTERVALS.c.record_key))
        return [_read_back(row, CallRecord) for row in calls] + [
            _read_back(row, AgentInterval) for row in intervals
        ]


def _trace_records(name: str) -> list[Record]:
    quiet = logging.getLogger("test.records")
    quiet.setLevel(logging.ERROR)
    parser = EventParser(quiet)
    builder = CallRecordBuilder(queue_wrapup_s={"sales": 2})
    records: list[Record] = []
    last = 0
    for stamp, message in load_jsonl(name):
        event = parser.parse(message)
        last = int(stamp * 1000)
        if event is not None:
            records.extend(builder.feed(event, last))
    return records + builder.close_all(last)


def test_epoch_milliseconds_round_trip_exactly() -> None:
    moment = from_epoch_ms(T0)
    assert moment == datetime(2026, 11, 26, 12, 32, 9, 150_000, tzinfo=UTC)
    assert to_epoch_ms(moment) == T0
    assert to_epoch_ms(moment.replace(tzinfo=None) if moment else None) == T0
    assert from_epoch_ms(None) is None and to_epoch_ms(None) is None


async def test_migration_creates_the_tables_and_indexes(migrated_engine: AsyncEngine) -> None:
    async with migrated_engine.connect() as connection:
        found = await connection.run_sync(_structure)

    for table, indexes in INDEXES.items():
        assert found[table] == indexes
        assert found[f"{table} unique"] == [["pbx", "record_key"]]


async def test_the_models_describe_the_migrated_tables(pg_url: str) -> None:
    await migrate(pg_url)
    columns = """
        SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
        FROM information_schema.columns
        WHERE table_schema = :schema AND table_name IN ('queue_call_records',
                                                        'queue_agent_intervals')
        ORDER BY table_name, ordinal_position
    """
    engine = make_engine(pg_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE SCHEMA model"))
            mapped = await connection.execution_options(schema_translate_map={None: "model"})
            await mapped.run_sync(ProductBase.metadata.create_all)
        async with engine.connect() as connection:
            public = (await connection.execute(text(columns), {"schema": "public"})).all()
            model = (await connection.execute(text(columns), {"schema": "model"})).all()
            model_indexes = await connection.run_sync(
                lambda sync: {t: inspect(sync).get_indexes(t, schema="model") for t in INDEXES}
            )
    finally:
        await engine.dispose()
    assert len(public) == 26 + 12
    assert public == model
    for table, indexes in INDEXES.items():
        named = {str(i["name"]): i["column_names"] for i in model_indexes[table]}
        assert {name: named[name] for name in indexes} == indexes


async def test_saving_twice_changes_nothing(migrated_engine: AsyncEngine) -> None:
    records: list[Record] = [_complete_call(), _pause(), _pause(T0 + 120_000, reason=None)]

    assert await save_records(migrated_engine, records) == 3
    first = await _rows(migrated_engine)
    assert await save_records(migrated_engine, records) == 0
    assert await save_records(migrated_engine, list(reversed(records))) == 0

    assert await _rows(migrated_engine) == first
    assert len(first["queue_call_records"]) == 1
    assert len(first["queue_agent_intervals"]) == 2
    assert await _records(migrated_engine) == [
        _complete_call(),
        _pause(),
        _pause(T0 + 120_000, reason=None),
    ]


async def test_a_more_complete_record_replaces_the_partial_one(
    migrated_engine: AsyncEngine,
) -> None:
    assert await save_records(migrated_engine, [_partial_call()]) == 1
    [(row_id, *_)] = (await _rows(migrated_engine))["queue_call_records"]

    assert await save_records(migrated_engine, [_complete_call()]) == 1
    assert await _records(migrated_engine) == [_complete_call()]
    # The partial version replayed later (an older file imported again) does not undo it.
    assert await save_records(migrated_engine, [_partial_call()]) == 0
    assert await _records(migrated_engine) == [_complete_call()]
    [(same_id, *_)] = (await _rows(migrated_engine))["queue_call_records"]
    assert same_id == row_id


async def test_a_newer_version_without_the_wrap_up_time_keeps_the_known_one(
    migrated_engine: AsyncEngine,
) -> None:
    live = dataclasses.replace(_complete_call(), source="ami", wrap_up_time=15)
    assert await save_records(migrated_engine, [live]) == 1
    # the same call from a queue_log (no wrap-up there), ending no earlier: it replaces
    # the row, but leaves the wrap-up the live ingest knew
    imported = dataclasses.replace(_complete_call(), ended_at=live.ended_at + 1)
    assert await save_records(migrated_engine, [imported]) == 1
    assert await _records(migrated_engine) == [dataclasses.replace(imported, wrap_up_time=15)]
    assert await save_records(migrated_engine, [imported]) == 0
    # a known, different wrap-up does replace it
    corrected = dataclasses.replace(imported, wrap_up_time=20)
    assert await save_records(migrated_engine, [corrected]) == 1
    assert await _records(migrated_engine) == [corrected]


async def test_one_batch_with_two_versions_keeps_the_one_ending_last(
    migrated_engine: AsyncEngine,
) -> None:
    assert await save_records(migrated_engine, [_partial_call(), _complete_call()]) == 1
    assert await _records(migrated_engine) == [_complete_call()]
    assert await save_records(migrated_engine, [_complete_call(), _partial_call()]) == 0
    assert await _records(migrated_engine) == [_complete_call()]


async def test_pbxes_keep_their_own_records(migrated_engine: AsyncEngine) -> None:
    assert await save_records(migrated_engine, [_complete_call()], pbx="north") == 1
    assert await save_records(migrated_engine, [_complete_call()], pbx="south") == 1
    assert await save_records(migrated_engine, [_complete_call()]) == 1
    async with migrated_engine.connect() as connection:
        pbxes = (await connection.execute(select(CALLS.c.pbx).order_by(CALLS.c.pbx))).scalars()
        assert list(pbxes) == ["", "north", "south"]


async def test_nothing_to_save_touches_nothing(migrated_engine: AsyncEngine) -> None:
    assert await save_records(migrated_engine, []) == 0


async def test_purge_deletes_what_ended_before_the_cutoff(migrated_engine: AsyncEngine) -> None:
    old, new = _pause(T0), _pause(T0 + 3_600_000)
    await save_records(migrated_engine, [_complete_call(), old, new])
    await save_records(migrated_engine, [old], pbx="other")
    cutoff = from_epoch_ms(T0 + 3_600_000)
    assert cutoff is not None

    assert await purge_before(migrated_engine, cutoff, pbx="other") == (0, 1)
    assert await purge_before(migrated_engine, cutoff) == (1, 1)
    assert await _records(migrated_engine) == [new]
    assert await purge_before(migrated_engine, cutoff.replace(tzinfo=None)) == (0, 0)


async def test_records_built_from_a_recorded_trace_round_trip(
    migrated_engine: AsyncEngine,
) -> None:
    records = _trace_records("c_ringnoanswer") + _trace_records("d_abandon")
    keys = {(type(r).__name__, r.record_key()) for r in records}
    calls = [r for r in records if isinstance(r, CallRecord)]
    assert len(calls) >= 4

    written = await save_records(migrated_engine, records)
    assert written == len(keys)
    assert await save_records(migrated_engine, records) == 0

    stored = await _records(migrated_engine)
    latest = {(type(r).__name__, r.record_key()): r for r in records}
    assert sorted(stored, key=lambda r: (type(r).__name__, r.record_key())) == [
        latest[key] for key in sorted(latest)
    ]


async def test_the_wrap_up_revision_fills_calls_recorded_before_it(db_url: str) -> None:
    """0005 gives each call already stored the wrap-up of its WRAP_UP interval (the one
    the builder opened on the member, in the queue, for the caller, when the call ended)."""
    engine = make_engine(db_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0004"))
            await connection.execute(insert(CALLS), [_old_call("c1"), _old_call("c2")])
            await connection.execute(
                insert(INTERVALS),
                [
                    _old_wrap_up("c1", ALICE, "sales"),
                    _old_wrap_up("c2", ALICE, "support"),  # another queue: not c2's
                ],
            )
        await migrate(db_url)
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(CALLS.c.uniqueid, CALLS.c.wrap_up_time).order_by(CALLS.c.uniqueid)
            )
            assert rows.all() == [("c1", 30), ("c2", None)]
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0004"))
            columns = await connection.run_sync(
                lambda sync: [c["name"] for c in inspect(sync).get_columns(CALLS.name)]
            )
            assert "wrap_up_time" not in columns and "transfer_target" in columns
    finally:
        await engine.dispose()


def _old_call(uniqueid: str) -> dict[str, Any]:
    """A completed call as revision 0004 stored it (no wrap_up_time)."""
    return {
        "pbx": "",
        "record_key": f"{uniqueid}|sales",
        "queue": "sales",
        "uniqueid": uniqueid,
        "answered_at": from_epoch_ms(T0),
        "answered_by": ALICE,
        "ring_attempts": 1,
        "ring_no_answers": 0,
        "talk_time": 60,
        "ended_at": from_epoch_ms(T0 + 60_000),
        "outcome": CallOutcome.COMPLETED_BY_AGENT.value,
        "source": "ami",
    }


def _old_wrap_up(uniqueid: str, interface: str, queue: str) -> dict[str, Any]:
    return {
        "pbx": "",
        "record_key": f"{interface}|{queue}|wrap_up|{uniqueid}",
        "interface": interface,
        "queue": queue,
        "kind": IntervalKind.WRAP_UP.value,
        "started_at": from_epoch_ms(T0 + 60_000),
        "ended_at": from_epoch_ms(T0 + 90_000),
        "uniqueid": uniqueid,
        "source": "ami",
    }
