"""Faults between Asterisk, the ingest and Redis: the state still converges to Asterisk's.

A live simulator runs the lab call centre with generated traffic on a clock
that only moves when the test says so (`AmiSimulator.advance`), so every run
sees the same calls. The ingest is the real one (connection, ordered
consumer, pipeline) on real Redis under the test's prefix; an AMI
`FaultProxy` sits between them when the test must keep it away for a while.
After each fault, the store must equal the simulator's `truth()`: every
operator's status, and per queue paused, reason, calls taken, last call,
penalty…; every queue's waiting callers, completed, abandoned, hold and talk
time; every live channel — within ONE reconciliation of the reconnect.

LastCall is left out only where events alone are compared (see
`tests.ingest.runners.test_socket_replay`): the ingest stamps a call's end with its
own clock, which is not the simulator's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ingest.ami.connection import AmiEndpoint
from ingest.keys import KeySchema
from ingest.pipeline import EventPipeline
from ingest.runners.ami_runner import AmiIngest, EventApplier
from ingest.store import StateStore
from simulator import AmiSimulator
from tests.support.ami import SECRET, LiveIngest, running_ingest, until
from tests.support.busy_lab import STEP, lab, traffic
from tests.support.expected import (
    channel_view,
    state_view,
    truth_channel_view,
    truth_view,
    without_fields,
)
from tests.support.proxy import FaultProxy

SHUTDOWN = {
    "Event": "Shutdown",
    "Privilege": "system,all",
    "Shutdown": "Cleanly",
    "Restart": "True",
}


@pytest.fixture
async def simulator() -> AsyncIterator[AmiSimulator]:
    """The lab with traffic; model time moves only with `advance`."""
    async with AmiSimulator(secret=SECRET, model=lab(), realtime=False) as sim:
        yield sim


async def _compared(
    store: StateStore, sim: AmiSimulator, omit: tuple[str, ...]
) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """(ours, the simulator's): members and queues, then channels; `omit`: member fields."""
    state = await store.snapshot()
    truth = sim.truth()
    ours = (without_fields(state_view(state), *omit), channel_view(state))
    theirs = (without_fields(truth_view(truth), *omit), truth_channel_view(truth))
    return ours, theirs


async def assert_equals_truth(store: StateStore, sim: AmiSimulator, *omit: str) -> None:
    """The store holds exactly what the simulator holds (but the `omit`ted member fields)."""
    (view, channels), (true_view, true_channels) = await _compared(store, sim, omit)
    assert view == true_view
    assert channels == true_channels


async def differs_from_truth(store: StateStore, sim: AmiSimulator) -> bool:
    """Something the events would have told is missing (LastCall aside: see above)."""
    ours, theirs = await _compared(store, sim, ("last_call",))
    return ours != theirs


def assert_one_reconciliation_corrected(live: LiveIngest) -> None:
    """The startup snapshot and exactly one more; the drift counted is that one's."""
    status = live.status
    assert status.reconciliations == 2
    assert status.drift_corrections == status.last_reconcile_corrections > 0
    assert status.events_dropped == 0
    assert status.stale is False


async def test_events_alone_follow_the_live_call_centre(
    simulator: AmiSimulator, store: StateStore
) -> None:
    """The baseline the faults are measured against: events alone, no fault."""
    async with running_ingest(store, simulator.port) as live:
        await live.settled()
        await traffic(simulator, 180)
        await live.settled(events=simulator.events_sent)
        assert simulator.model.truth()["channels"], "no call in progress: a weak check"
        await assert_equals_truth(store, simulator, "last_call")
        assert live.status.reconciliations == 1


async def test_drop_mid_stream_and_events_missed_while_down_converge_in_one_reconciliation(
    simulator: AmiSimulator, ami_proxy: FaultProxy, store: StateStore
) -> None:
    async with running_ingest(store, ami_proxy.port) as live:
        await live.settled()
        await traffic(simulator, 60)
        # Events written and the connection reset right behind them, mid-stream;
        # Asterisk stays unreachable while the calls go on.
        simulator.advance(STEP)
        assert simulator.drop_connections() == 1
        ami_proxy.refuse(reset=False)
        await until(lambda: not live.status.connected, what="the drop noticed")
        sent = simulator.events_sent
        await traffic(simulator, 120)
        assert simulator.events_sent == sent, "nobody was connected to get these"
        assert live.status.stale
        await until(live.caught_up)
        assert await differs_from_truth(store, simulator)

        ami_proxy.restore()
        await live.settled(reconciliations=2)
        await assert_equals_truth(store, simulator)
        assert_one_reconciliation_corrected(live)
        assert live.status.connected and live.status.reconnects >= 1


async def test_events_lost_without_a_disconnect_are_corrected_by_the_next_reconciliation(
    simulator: AmiSimulator, store: StateStore
) -> None:
    async with running_ingest(store, simulator.port) as live:
        await live.settled()
        await traffic(simulator, 30)
        simulator.pause_events()
        await traffic(simulator, 90)
        simulator.resume_events(discard=True)  # lost on the way, the session never noticed
        await traffic(simulator, 10)
        await live.settled(events=simulator.events_sent)
        assert await differs_from_truth(store, simulator)

        live.ingest.request_reconcile("test: periodic reconciliation")
        await live.settled(reconciliations=2)
        await assert_equals_truth(store, simulator)
        assert_one_reconciliation_corrected(live)
        assert live.status.reconnects == 0


async def test_a_shutdown_event_ends_the_session_and_the_reconnect_reconciles(
    simulator: AmiSimulator,
    ami_proxy: FaultProxy,
    store: StateStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with running_ingest(store, ami_proxy.port) as live:
        await live.settled()
        await traffic(simulator, 30)
        # Asterisk announces its shutdown and is gone for a while (no new logins).
        ami_proxy.refuse(reset=False)
        simulator.emit([SHUTDOWN])
        await until(lambda: not live.status.connected, what="the session to end")
        await traffic(simulator, 60)
        await until(live.caught_up)
        assert await differs_from_truth(store, simulator)

        ami_proxy.restore()
        await live.settled(reconciliations=2)
        await assert_equals_truth(store, simulator)
        assert_one_reconciliation_corrected(live)
    lost = [r.getMessage() for r in caplog.records if "AMI connection lost" in r.getMessage()]
    assert lost[0] == "AMI connection lost: Asterisk sent Shutdown"


async def test_refused_login_is_reported_and_writes_nothing(
    simulator: AmiSimulator, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-canary"
    async with running_ingest(store, simulator.port, secret=wrong) as live:
        await until(lambda: live.status.last_error is not None, what="the refusal")
        simulator.advance(30)  # events flow to nobody
        status = live.status
        assert not status.connected and status.stale
        assert status.last_error == "login refused: Authentication failed"
        assert (status.events_received, status.reconciliations) == (0, 0)
    state = await store.snapshot()
    assert (state.operators, state.queues, state.channels) == ([], [], [])
    assert wrong not in caplog.text
    assert "AMI login refused for admin: Authentication failed" in caplog.messages


async def _backlog_peak(live: LiveIngest, peak: list[int]) -> None:
    """Record the largest number of events received but not yet in Redis."""
    while True:
        status = live.status
        peak[0] = max(peak[0], status.events_received - live.pipeline.counters.received)
        await asyncio.sleep(0.005)


async def test_a_slow_redis_loses_no_event(
    simulator: AmiSimulator, redis_proxy: FaultProxy, store: StateStore, keys: KeySchema
) -> None:
    slow = Redis.from_url(f"redis://127.0.0.1:{redis_proxy.port}/0")
    peak = [0]
    try:
        async with running_ingest(StateStore(slow, keys), simulator.port) as live:
            await live.settled()
            redis_proxy.delay(0.05)  # every round trip takes 100 ms more
            watcher = asyncio.create_task(_backlog_peak(live, peak))
            try:
                for _ in range(6):
                    await traffic(simulator, 30)
                    await asyncio.sleep(0.05)
                await live.settled(events=simulator.events_sent)
            finally:
                watcher.cancel()
            status = live.status
            # The events waited in order in the ingest, not in Asterisk's socket buffer.
            assert peak[0] > 0
            assert (status.events_dropped, status.redis_errors, status.reconnects) == (0, 0, 0)
            assert simulator.slow_disconnects == 0
            assert status.reconciliations == 1
            await assert_equals_truth(store, simulator, "last_call")
    finally:
        await slow.aclose()


async def test_redis_slower_than_its_timeout_retries_then_reconciles(
    simulator: AmiSimulator, redis_proxy: FaultProxy, store: StateStore, keys: KeySchema
) -> None:
    # No retry inside the client: every timeout reaches the ingest as a RedisError.
    slow = Redis.from_url(
        f"redis://127.0.0.1:{redis_proxy.port}/0", socket_timeout=0.3, retry=Retry(NoBackoff(), 0)
    )
    try:
        async with running_ingest(StateStore(slow, keys), simulator.port) as live:
            await live.settled()
            redis_proxy.delay(0.25)  # a round trip of 0.5 s: each write times out
            await traffic(simulator, 60)
            await until(lambda: live.status.redis_errors >= 2, what="Redis errors")
            await traffic(simulator, 60)
            redis_proxy.restore()
            # The timed-out writes may have run in Redis all the same: the batches
            # are retried in order, and a reconciliation follows the recovery.
            await live.settled(events=simulator.events_sent, reconciliations=2)
            assert live.status.events_dropped == 0
            assert live.status.reconnects == 0
            await assert_equals_truth(store, simulator)
    finally:
        await slow.aclose()


class SwallowingApplier:
    """Writes that lose a cancellation arriving as they complete.

    That is what redis-py does on Python 3.11: with a socket timeout set it
    wraps every write in `asyncio.wait_for`, which returns the write's result
    instead of raising CancelledError when both happen in one loop turn.
    """

    def __init__(self) -> None:
        self.writing = asyncio.Event()
        self.swallowed = 0

    async def apply_events(self, messages: list[Any], now: int, *, writer: tuple[str, int]) -> int:
        self.writing.set()
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.swallowed += 1  # the write went through; the cancellation is gone
        return len(messages)

    async def apply_snapshot(
        self, collected: dict[str, list[Any]], now: int, *, queue: str | None = None
    ) -> int:
        return 0


async def _no_queues() -> set[str]:
    return set()


async def stops(ingest: AmiIngest) -> None:
    """`ingest.stop()` returns, and none of the ingest's tasks (named ``ami-…``) is left.

    Awaited with `asyncio.wait`, not under a timeout: cancelling the caller
    would cancel the task it awaits and hide the hang.
    """
    stopping = asyncio.create_task(ingest.stop())
    try:
        await asyncio.wait({stopping}, timeout=10)
        assert stopping.done(), "AmiIngest.stop() hangs"
        left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("ami-")]
        assert left == []
    finally:
        stopping.cancel()


async def test_stop_returns_although_a_write_lost_the_cancellation(
    simulator: AmiSimulator,
) -> None:
    applier = SwallowingApplier()
    ingest = AmiIngest(
        AmiEndpoint("127.0.0.1", simulator.port, "admin", SECRET),
        EventApplier(applier.apply_events, applier.apply_snapshot),
        known_queues=_no_queues,
    )
    ingest.start()
    try:
        await until(lambda: ingest.status.reconciliations == 1, what="the startup snapshot")
        await asyncio.sleep(0.2)  # the login's events written
        applier.writing.clear()
        simulator.advance(60)
        await applier.writing.wait()  # stopped in the middle of a write
    finally:
        await stops(ingest)
    assert applier.swallowed == 1


async def test_stop_returns_while_writes_to_redis_are_in_flight(
    simulator: AmiSimulator, keys: KeySchema
) -> None:
    # As the app's client: a socket timeout, so redis-py writes through wait_for.
    redis = Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=5)
    try:
        for _ in range(10):
            async with running_ingest(StateStore(redis, keys), simulator.port) as live:
                await live.settled()
                simulator.advance(300)
                await until(lambda: not live.caught_up(), what="writes in flight")
                await stops(live.ingest)
    finally:
        await redis.aclose()


async def test_a_lost_cancellation_in_the_session_does_not_stop_the_reconnect(
    simulator: AmiSimulator, store: StateStore
) -> None:
    """The session's snapshot reads Redis too (the queues to ask for by name)."""
    pipeline = EventPipeline(store)
    in_redis = asyncio.Event()
    swallowed: list[bool] = []

    async def known_queues() -> set[str]:
        if not swallowed:
            in_redis.set()
            try:
                await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                swallowed.append(True)  # as redis-py on 3.11: the read won
        return await store.ids("queue")

    ingest = AmiIngest(
        AmiEndpoint("127.0.0.1", simulator.port, "admin", SECRET),
        EventApplier(pipeline.apply, pipeline.apply_snapshot),
        known_queues=known_queues,
        reconcile_interval=3600.0,
    )
    ingest.start()
    try:
        await in_redis.wait()  # the first snapshot is being collected
        assert simulator.drop_connections() == 1
        status = ingest.status
        await until(
            lambda: status.reconnects == 1 and status.reconciliations == 2 and status.connected,
            what="the reconnect and its snapshot",
        )
        assert swallowed == [True]
        await assert_equals_truth(store, simulator)
    finally:
        await stops(ingest)


async def test_a_failed_snapshot_is_taken_again_soon_not_an_interval_later(
    simulator: AmiSimulator, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The reconciliation after Redis recovered can itself meet a slow Redis (its read of
    the known queues times out): it is retried within seconds, not an hour later."""
    reads: list[float] = []

    async def known_queues() -> set[str]:
        reads.append(time.monotonic())
        if len(reads) == 2:
            raise RedisTimeoutError("Timeout reading from 127.0.0.1")
        return await store.ids("queue")

    async with running_ingest(store, simulator.port, known_queues=known_queues) as live:
        status = live.ingest.status
        await until(lambda: status.reconciliations == 1, what="the startup snapshot")
        simulator.advance(120)
        live.ingest.request_reconcile("Redis recovered")
        await until(lambda: status.reconciliations == 2, timeout=10, what="the retry")
        assert len(reads) == 3
        assert 0.5 < reads[2] - reads[1] < 5
        assert "Snapshot not taken: Timeout reading from 127.0.0.1; trying again in 1 s" in (
            caplog.text
        )
        await assert_equals_truth(store, simulator)
