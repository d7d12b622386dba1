"""The records tap: events to the builder at their own time, once per batch, into the
buffer; open calls carried over a restart of the service; Asterisk restarts."""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis

from ingest.ami.parser import EventParser
from ingest.keys import KeySchema
from ingest.pipeline import EventPipeline
from ingest.records.buffer import RecordBuffer
from ingest.records.model import CallOutcome, CallRecord, Record
from ingest.records.tap import RecordsTap
from ingest.store import StateStore
from ingest.traces import load_jsonl

NOW = 1_900_000_000_000


def messages(name: str) -> list[tuple[int, dict[str, Any]]]:
    return [(int(stamp * 1000), dict(message)) for stamp, message in load_jsonl(name)]


def without_boots(items: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The trace without its own FullyBooted (the test sends its own)."""
    return [(stamp, m) for stamp, m in items if m.get("Event") != "FullyBooted"]


def feed(tap: RecordsTap, items: list[tuple[int, dict[str, Any]]]) -> None:
    quiet = logging.getLogger("test.tap")
    quiet.setLevel(logging.ERROR)
    parser = EventParser(quiet)
    for stamp, message in items:
        event = parser.parse(message)
        if event is not None:
            tap.feed(event, message, stamp)


def calls(records: list[Record]) -> list[CallRecord]:
    return [r for r in records if isinstance(r, CallRecord)]


async def buffered(buffer: RecordBuffer) -> list[Record]:
    return (await buffer.oldest(10_000)).records


async def test_a_call_spanning_a_restart_ends_as_one_complete_record(
    redis_client: Redis, keys: KeySchema
) -> None:
    trace = messages("b_single_call")
    connect = next(i for i, (_, m) in enumerate(trace) if m.get("Event") == "AgentConnect")
    whole = RecordsTap(RecordBuffer(redis_client, KeySchema(keys.prefix + "whole:")))
    feed(whole, trace)
    await whole.flush()
    [reference] = calls(await buffered(whole.buffer))
    assert reference.talk_time is not None and reference.entered_at is not None  # complete

    buffer = RecordBuffer(redis_client, keys)
    before = RecordsTap(buffer)
    feed(before, trace[: connect + 1])
    await before.flush()
    assert await before.save_open(redis_client, keys.records("open")) == 1
    after = RecordsTap(buffer)  # the next run: a new builder
    assert await after.load_open(redis_client, keys.records("open")) == 1
    assert await redis_client.exists(keys.records("open")) == 0  # taken once
    feed(after, trace[connect + 1 :])
    await after.flush()
    assert calls(await buffered(buffer)) == [reference]


async def test_the_timestamp_header_is_the_event_time(redis_client: Redis, keys: KeySchema) -> None:
    trace = messages("d_abandon")
    tap = RecordsTap(RecordBuffer(redis_client, keys))
    stamped = [(NOW, {**m, "Timestamp": f"{s / 1000:.6f}"}) for s, m in trace]
    feed(tap, stamped)
    await tap.flush()
    abandons = [c for c in calls(await buffered(tap.buffer)) if c.outcome is CallOutcome.ABANDONED]
    joins = {m["Uniqueid"]: s for s, m in trace if m.get("Event") == "QueueCallerJoin"}
    assert abandons and all(c.entered_at == joins[c.uniqueid] for c in abandons)


async def test_a_batch_sent_again_is_fed_once(store: StateStore) -> None:
    tap = RecordsTap(RecordBuffer(store.redis, store.keys))
    pipeline = EventPipeline(store, records=tap)
    batch = [m for _, m in messages("b_single_call")]
    writer = ("w", 1)
    await pipeline.apply(batch, NOW, writer=writer)
    await pipeline.apply(batch, NOW, writer=writer)  # the consumer's retry
    assert tap.counters.built == tap.counters.buffered == await tap.buffer.length()
    assert len(calls(await buffered(tap.buffer))) == 1


async def test_an_asterisk_restart_closes_the_calls_it_dropped(
    redis_client: Redis, keys: KeySchema
) -> None:
    trace = without_boots(messages("b_single_call"))
    connect = next(i for i, (_, m) in enumerate(trace) if m.get("Event") == "AgentConnect")
    tap = RecordsTap(RecordBuffer(redis_client, keys))
    booted = {"Event": "FullyBooted", "Status": "Fully Booted", "Uptime": "3600"}
    at = trace[connect][0]
    feed(tap, [(at - 1000, booted), *trace[: connect + 1]])
    assert len(tap.builder.open_calls()) == 1
    feed(tap, [(at + 5000, {**booted, "Uptime": "3"})])  # up for 3 s: it restarted
    assert tap.builder.open_calls() == [] and tap.builder.open_intervals == 0
    await tap.flush()
    [left] = calls(await buffered(tap.buffer))
    assert (left.outcome, left.ended_at, tap.counters.asterisk_restarts) == (
        CallOutcome.LEFT,
        at + 5000,
        1,
    )


async def test_a_reconnect_to_the_same_asterisk_closes_nothing(
    redis_client: Redis, keys: KeySchema
) -> None:
    tap = RecordsTap(RecordBuffer(redis_client, keys))
    trace = without_boots(messages("b_single_call"))
    connect = next(i for i, (_, m) in enumerate(trace) if m.get("Event") == "AgentConnect")
    at = trace[connect][0]
    booted = {"Event": "FullyBooted", "Status": "Fully Booted"}
    feed(tap, [(at - 1000, {**booted, "Uptime": "3600"}), *trace[: connect + 1]])
    feed(tap, [(at + 60_000, {**booted, "Uptime": "3661"})])
    assert len(tap.builder.open_calls()) == 1 and tap.counters.asterisk_restarts == 0


async def test_the_timer_closes_a_caller_who_left_on_the_streams_clock(
    redis_client: Redis, keys: KeySchema
) -> None:
    clock = [100.0]
    tap = RecordsTap(RecordBuffer(redis_client, keys), monotonic=lambda: clock[0])
    trace = messages("b_single_call")
    join = next(i for i, (_, m) in enumerate(trace) if m.get("Event") == "QueueCallerJoin")
    at, message = trace[join]
    feed(tap, [(at, message), (at, {**message, "Event": "QueueCallerLeave", "Count": "0"})])
    clock[0] += 4.0
    await tap.tick()
    assert len(tap.builder.open_calls()) == 1  # within the leave grace
    clock[0] += 2.0
    await tap.tick()
    [left] = calls(await buffered(tap.buffer))
    assert (left.outcome, left.ended_at) == (CallOutcome.LEFT, at)
