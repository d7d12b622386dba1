"""Every recorded Asterisk 22 trace over a real socket into the ingest, its records into
PostgreSQL through the Redis buffer and the drainer.

Per queue, the records must give what the raw trace says: offered = its
QueueCallerJoin events, answered = AgentConnect, completed = AgentComplete,
abandoned = QueueCallerAbandon (counted here from the trace's own messages).
Asterisk's own final Completed / Abandoned (the trace's ``expected.json``) are
printed beside them: its Completed may be lower (a call whose member was
removed while it talked is not counted) and it resets on a reload.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import Row, select

from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.pipeline import EventPipeline
from ingest.records.buffer import RecordBuffer
from ingest.records.drainer import RecordDrainer
from ingest.records.lease import RedisLease
from ingest.records.model import ABANDON_OUTCOMES
from ingest.records.repository import CALLS
from ingest.records.tap import RecordsTap
from ingest.store import StateStore
from ingest.traces import trace_names
from simulator import AmiSimulator, Replay, ReplayOptions, Trace
from tests.support.ami import SECRET, running_ingest, sent_to_ingest, until
from tests.support.traces import load_expected

STARTUP_ACTIONS = ("QueueStatus", "CoreShowChannels", "DeviceStateList")
KPIS = ("offered", "answered", "completed", "abandoned")
_COUNTED = {
    "QueueCallerJoin": "offered",
    "AgentConnect": "answered",
    "AgentComplete": "completed",
    "QueueCallerAbandon": "abandoned",
}


def counted_from_trace(trace: Trace) -> dict[str, Counter[str]]:
    """Per queue, the events each KPI counts, straight from the trace's messages."""
    counts: dict[str, Counter[str]] = {}
    for message in trace.events:
        kpi = _COUNTED.get(str(message.get("Event", "")))
        if kpi is not None:
            counts.setdefault(str(message["Queue"]), Counter())[kpi] += 1
    return counts


def counted_from_records(rows: Sequence[Row[Any]]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        queue = counts.setdefault(row.queue, Counter())
        queue["offered"] += row.entered_at is not None
        queue["answered"] += row.answered_at is not None
        queue["completed"] += row.talk_time is not None
        queue["abandoned"] += row.outcome in {o.value for o in ABANDON_OUTCOMES}
    return counts


@asynccontextmanager
async def draining(
    store: StateStore, pg_url: str
) -> AsyncIterator[tuple[RecordsTap, RecordDrainer]]:
    """A tap over the store's prefix and a drainer into a migrated `pg_url`."""
    await migrate(pg_url)
    engine = make_engine(pg_url)
    buffer = RecordBuffer(store.redis, store.keys)
    drainer = RecordDrainer(
        buffer, engine, RedisLease(store.redis, store.keys.records("lease")), idle_wait=0.05
    )
    tap = RecordsTap(buffer, on_buffered=drainer.wake)
    drainer.start()
    try:
        yield tap, drainer
    finally:
        await drainer.stop()
        await engine.dispose()


@pytest.mark.parametrize("name", trace_names())
async def test_records_count_what_the_trace_says(
    name: str, store: StateStore, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = Trace.load(name)
    replay = Replay(trace, ReplayOptions(await_snapshots=STARTUP_ACTIONS))
    async with draining(store, pg_url) as (tap, drainer):
        async with (
            AmiSimulator(secret=SECRET, replay=replay) as sim,
            running_ingest(store, sim.port, pipeline=EventPipeline(store, records=tap)) as live,
        ):
            await live.settled(events=sum(map(sent_to_ingest, trace.events)))
        # Every call of the trace ended: nothing is left open to close later.
        assert tap.builder.open_calls() == []
        await until(lambda: tap.unsent == 0, what="the records buffered")
        await until(lambda: drainer.written == tap.counters.buffered, what="the buffer drained")
        async with drainer.engine.connect() as connection:
            rows = list(await connection.execute(select(CALLS)))

    expected = counted_from_trace(trace)
    got = counted_from_records(rows)
    queues = sorted(set(expected) | set(got))
    asterisk = load_expected(name)["queues"]
    with capsys.disabled():
        for queue in queues:
            own = asterisk.get(queue, {})
            print(
                f"\n{name} {queue}: records "
                + " ".join(f"{k}={got.get(queue, Counter())[k]}" for k in KPIS)
                + f" | Asterisk Completed={own.get('completed')} Abandoned={own.get('abandoned')}",
                end="",
            )
    assert {q: {k: got.get(q, Counter())[k] for k in KPIS} for q in queues} == {
        q: {k: expected.get(q, Counter())[k] for k in KPIS} for q in queues
    }
    # One row per call: the join count is the row count.
    assert len(rows) == sum(counts["offered"] for counts in expected.values())
