"""The event-loop lag monitor: stalls seen, the recent maximum, its /metrics and /healthz."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ingest.loop_lag import LoopLag, LoopLagCollector
from ingest.tasks import cancel_and_wait


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lags_are_counted_and_the_recent_maximum_forgets_the_old_ones() -> None:
    clock = Clock()
    lag = LoopLag(stall=0.1, window=10.0, clock=clock)
    lag.record(0.002)
    lag.record(0.25)  # a stall
    clock.now += 3
    lag.record(0.04)
    assert lag.recent_max == 0.25 and lag.stalls == 1 and lag.last == 0.04
    clock.now += 8  # the stall is now 11 s old
    assert lag.recent_max == 0.04
    lag.record(0.1)  # exactly the threshold counts
    assert lag.stalls == 2 and lag.max_ever == 0.25 and lag.samples == 4
    clock.now += 20
    assert lag.recent_max == 0.0
    lag.record(-0.001)  # a timer that fired early is no lag
    assert lag.last == 0.0


def test_the_own_maximum_counts_only_what_our_cpu_accounts_for() -> None:
    clock = Clock()
    lag = LoopLag(clock=clock)
    lag.record(0.3, cpu=0.02)  # descheduled: the machine was busy
    lag.record(0.12, cpu=0.15)  # a long step of ours
    assert lag.recent_max == 0.3 and lag.recent_own_max == 0.12
    assert lag.as_json()["ownMaxLagMs"] == 120.0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        LoopLag(interval=0)


async def test_a_blocking_call_shows_as_a_stall() -> None:
    lag = LoopLag(interval=0.01, stall=0.1)
    task = asyncio.create_task(lag.run())
    try:
        while lag.samples < 2:
            await asyncio.sleep(0.01)
        time.sleep(0.15)  # noqa: ASYNC251 - the stall under test
        seen = lag.samples
        while lag.samples == seen:
            await asyncio.sleep(0.01)
    finally:
        await cancel_and_wait(task)
    # Blocked 150 ms while the probe slept at most 10 ms of it: at least 140 ms late.
    assert lag.max_ever >= 0.1 and lag.stalls >= 1
    brief = lag.as_json()
    assert brief["maxLagMs"] >= 100 and brief["stalls"] >= 1 and brief["stallMs"] == 100
    # time.sleep blocks without using CPU: the CPU-accounted part stays far below.
    assert lag.recent_own_max < 0.1


def test_metrics_show_the_last_lag_the_recent_maximum_and_the_stalls() -> None:
    lag = LoopLag()
    lag.record(0.2)
    lag.record(0.01)
    registry = CollectorRegistry()
    registry.register(LoopLagCollector(lag))
    text = generate_latest(registry).decode()
    assert "queue_status_event_loop_lag_seconds 0.01" in text
    assert "queue_status_event_loop_lag_max_seconds 0.2" in text
    assert "queue_status_event_loop_stalls_total 1.0" in text
    assert "queue_status_event_loop_lag_own_max_seconds 0.2" in text
