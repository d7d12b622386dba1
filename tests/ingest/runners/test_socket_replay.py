"""Recorded Asterisk 22 sessions through a real socket into the real ingest and real Redis.

The simulator replays each trace (`simulator.replay`): the ingest's
startup snapshot requests are answered as the freshly started lab Asterisk
answered them (a_startup's lists; h_realtime its own first QueueStatus),
then the trace's unsolicited events stream as fast as the ingest reads, and
any later snapshot request gets an error. So:

- full replay: the events alone must bring the state to ``expected.json``
  (Asterisk's own last QueueStatus), with no channel left;
- stopped at each recorded QueueStatus, mid-run ones included (the stream
  stops where Asterisk answered it): the state equals that answer, field by
  field;
- dropped half-way: the reconnect is answered with the trace's final state,
  and the one reconciliation after it must reach ``expected.json`` — its
  corrections are exactly what the ingest reports as drift.

Each runs twice: for a manager user with every right, and for the least
privileged one recorded on Asterisk 22 (``read = call,agent``, ``write =
agent``): CoreShowChannels and DeviceStateList answered ``Permission
denied``, no FullyBooted, SuccessfulAuth or dialplan events. That user's
snapshots are QueueStatus alone, so after a drop its channels are what the
events left (nothing reconciles them).

Comparison: `tests.support.expected` (the same views as the file replay). As
there, h_realtime's Frank RT is a database row no event reveals: only a
snapshot can bring him. One field differs by design from events alone:
LastCall. No event carries Asterisk's time of a call's end (with
shared_lastcall the member's other queues get no event at all), so the
ingest stamps it with its own clock at AgentComplete — here, a replay long
after the recording, that clock is far ahead. The file replay runs on the
recording's clock and checks it; reconciliation sets Asterisk's value (the
drop test checks it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

import pytest
from redis.asyncio import Redis

from ingest.ami.message import AmiMessageDict
from ingest.clock import now_ms
from ingest.keys import KeySchema
from ingest.pipeline import EventPipeline
from ingest.reconcile import AsteriskSnapshot, plan_reconcile
from ingest.store import StateStore
from ingest.traces import trace_names
from simulator import (
    LEAST_PRIVILEGE,
    AmiSimulator,
    Privileges,
    Replay,
    ReplayOptions,
    Trace,
    final_queue_status,
    queue_status_points,
)
from tests.support.ami import SECRET, LiveIngest, running_ingest, sent_to_ingest, until
from tests.support.expected import (
    NO_EVENT_TELLS,
    REALTIME,
    View,
    asterisk_view,
    expected_json_view,
    recorded_snapshot,
    state_view,
    without,
    without_fields,
)

TRACES = trace_names()
# The ingest's startup snapshot: the stream waits until those the user may ask are answered.
STARTUP_ACTIONS = ("QueueStatus", "CoreShowChannels", "DeviceStateList")
FULL = Privileges()
ACCESS = [
    pytest.param(FULL, id="full"),
    pytest.param(LEAST_PRIVILEGE, id="least-privilege"),
]
# Stamped with the ingest's clock when events alone tell it (see the module docstring).
RECEIVE_CLOCK = ("last_call",)


def events_alone(view: View, name: str) -> View:
    """What events alone can tell of `view`: no unknowable members, no LastCall."""
    return without_fields(without(view, name, NO_EVENT_TELLS), *RECEIVE_CLOCK)


@cache
def trace(name: str) -> Trace:
    return Trace.load(name)


def _points() -> list[object]:
    return [
        pytest.param(name, index, id=f"{name}-{point.action_id}")
        for name in TRACES
        for index, point in enumerate(queue_status_points(trace(name)))
    ]


def _streaming_traces() -> list[str]:
    """Traces with events past the login preamble (a_startup has none to drop amid)."""
    return [name for name in TRACES if len(trace(name).events) > trace(name).preamble]


def delivered(name: str, events: int, privileges: Privileges) -> int:
    """How many of the trace's first `events` events a user with `privileges` gets,
    logged in with the ingest's event mask."""
    return sum(
        1
        for event in trace(name).events[:events]
        if privileges.may_read(event) and sent_to_ingest(event)
    )


def sources(privileges: Privileges) -> dict[str, str]:
    """The snapshotSources the ingest reports for such a user."""
    return {
        name: "ok" if privileges.refusal(action) is None else "permission denied"
        for name, action in (
            ("queueStatus", "QueueStatus"),
            ("coreShowChannels", "CoreShowChannels"),
            ("deviceStateList", "DeviceStateList"),
        )
    }


@asynccontextmanager
async def replayed(
    name: str, store: StateStore, privileges: Privileges, **options: int
) -> AsyncIterator[tuple[AmiSimulator, LiveIngest]]:
    """The trace served over TCP to a user with `privileges`, the real ingest connected
    to it, writing to `store`."""
    allowed = tuple(a for a in STARTUP_ACTIONS if privileges.refusal(a) is None)
    replay = Replay(trace(name), ReplayOptions(await_snapshots=allowed, **options))
    async with (
        AmiSimulator(secret=SECRET, replay=replay, privileges=privileges) as sim,
        running_ingest(store, sim.port) as live,
    ):
        yield sim, live


@pytest.mark.parametrize("privileges", ACCESS)
@pytest.mark.parametrize("name", TRACES)
async def test_events_alone_reach_expected_json(
    name: str, privileges: Privileges, store: StateStore
) -> None:
    recorded = trace(name)
    events = delivered(name, len(recorded.events), privileges)
    async with replayed(name, store, privileges) as (sim, live):
        await live.settled(events=events)
        state = await store.snapshot()
        status = live.status
        assert sim.events_sent == events

    final = recorded_snapshot(final_queue_status(recorded))
    got = without_fields(state_view(state, final), *RECEIVE_CLOCK)
    assert got == events_alone(expected_json_view(name), name)
    assert state.channels == [], "a channel outlived its Hangup"
    operators = {op["memberId"]: op for op in state.operators}
    for t, _, location in NO_EVENT_TELLS:
        if t == name:
            assert location not in operators, f"{location} cannot be known from events"
    for t, queue, location in REALTIME:
        if t == name:
            assert operators[location]["queues"][queue]["membership"] == "realtime"
    # Only the startup snapshot was taken: it built the state, nothing needed correcting.
    assert (status.events_read, status.events_dropped) == (events, 0)
    assert (status.reconciliations, status.drift_corrections) == (1, 0)
    assert status.reconnects == 0
    assert status.as_json()["snapshotSources"] == sources(privileges)


@pytest.mark.parametrize("privileges", ACCESS)
@pytest.mark.parametrize(("name", "index"), _points())
async def test_stopped_at_a_queue_status_equals_that_answer(
    name: str, index: int, privileges: Privileges, store: StateStore
) -> None:
    point = queue_status_points(trace(name))[index]
    events = delivered(name, point.events_before, privileges)
    async with replayed(name, store, privileges, stop_after=point.events_before) as (sim, live):
        await live.settled(events=events)
        state = await store.snapshot()
        assert sim.events_sent == live.status.events_read == events

    answer = recorded_snapshot(point)
    got = without_fields(state_view(state, answer), *RECEIVE_CLOCK)
    assert got == events_alone(asterisk_view(answer), name)


async def _corrections_due(
    name: str, events: int, privileges: Privileges, redis: Redis, prefix: str
) -> int:
    """How many entities the final snapshot corrects after the first `events` events.

    Computed apart from the ingest: the startup answers the user may have and
    those of the events it gets go through a pipeline of its own (under
    `prefix`), then the reconnect's answers are planned against the result.
    """
    replay = Replay(trace(name))
    reference = EventPipeline(StateStore(redis, KeySchema(prefix)))

    def answers(final: bool) -> dict[str, list[AmiMessageDict]]:
        return {
            key: replay.snapshot(action, final=final).plain_items()
            for key, action in (
                ("queue_status", "QueueStatus"),
                ("channels", "CoreShowChannels"),
                ("device_states", "DeviceStateList"),
            )
            if privileges.refusal(action) is None
        }

    await reference.apply_snapshot(answers(final=False))
    events_got = [
        e for e in trace(name).events[:events] if privileges.may_read(e) and sent_to_ingest(e)
    ]
    await reference.apply(events_got)
    end = answers(final=True)
    snapshot = AsteriskSnapshot.from_messages(
        end["queue_status"], channels=end.get("channels"), device_states=end.get("device_states")
    )
    return len(plan_reconcile(snapshot, await reference.store.snapshot(), now_ms()))


@pytest.mark.parametrize("privileges", ACCESS)
@pytest.mark.parametrize("name", _streaming_traces())
async def test_dropped_half_way_one_reconciliation_reaches_expected_json(
    name: str, privileges: Privileges, store: StateStore, redis_client: Redis, key_prefix: str
) -> None:
    recorded = trace(name)
    half = recorded.preamble + (len(recorded.events) - recorded.preamble) // 2
    events = delivered(name, half, privileges) + delivered(name, recorded.preamble, privileges)
    async with replayed(name, store, privileges, drop_after=half) as (sim, live):
        # The reconnect gets the login preamble again, then the final snapshot.
        await live.settled(events=events, reconciliations=2)
        state = await store.snapshot()
        status = live.status
        assert sim.replay is not None and sim.replay.dropped

    assert (status.reconnects, status.reconciliations) == (1, 2)
    assert status.events_read == events
    # Reconciliation alone: even what no event could tell (Frank RT) is there.
    final = recorded_snapshot(final_queue_status(recorded))
    assert state_view(state, final) == expected_json_view(name)
    if privileges.refusal("CoreShowChannels") is None:
        assert state.channels == []

    # The drift the ingest reports is exactly what that one reconciliation corrected.
    reference = f"{key_prefix}reference:"
    drift = await _corrections_due(name, half, privileges, redis_client, reference)
    assert drift > 0
    assert status.drift_corrections == status.last_reconcile_corrections == drift


async def test_the_stats_log_counts_the_events_dropped_unread(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="queue_status.AmiEvents")
    name = "b_single_call"
    replay = Replay(trace(name), ReplayOptions(await_snapshots=STARTUP_ACTIONS))
    async with (
        AmiSimulator(secret=SECRET, replay=replay) as sim,
        running_ingest(store, sim.port, stats_interval=0.5) as live,
    ):
        await live.settled(events=delivered(name, len(trace(name).events), Privileges()))
        dropped = live.status.protocol.events_filtered

        def lines() -> list[str]:
            return [r.getMessage() for r in caplog.records if "dropped unread" in r.getMessage()]

        def counted() -> int:  # each line counts its own interval
            return sum(int(line.split(": ")[1].split()[0]) for line in lines())

        await until(lambda: counted() == dropped, 5.0, "stats lines counting every drop")
    assert dropped > 0, "the call's Dial*/Bridge* events (class call) are not used"
    assert "DialBegin" in lines()[-1]
