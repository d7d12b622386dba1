"""How late the event loop runs what is due: the API's and the ingest's shared clock.

Role `all` serves the API and runs the ingest in one event loop: any synchronous
step that runs long (framing a big read, parsing a batch) delays every request
by as much. `LoopLag.run` sleeps `interval` again and again and measures how
late each wake-up is (a callback's wait for the loop, to within `interval`). A
wake-up later than `stall` counts as a stall. /metrics shows the last lag, the
largest of the last `window` seconds and the stalls (`LoopLagCollector`);
/healthz its brief (`as_json`).

A wake-up is also late when the machine does not run the process (other
processes have the cores). The CPU time this thread used meanwhile bounds the
part of a lag our own code can account for: the `own` maximum tells a long
step of ours (own ≈ lag) from a busy host (own ≪ lag).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

DEFAULT_INTERVAL = 0.02
"""Seconds between wake-ups: the resolution (a stall shorter than it may go unseen)."""
DEFAULT_STALL = 0.1
"""A wake-up this late is a stall: every request in flight waited at least as long."""
DEFAULT_WINDOW = 10.0
"""Seconds the recent maximum covers."""


class LoopLag:
    """The event loop's lag; `record` takes one measured lateness (the task measures)."""

    def __init__(
        self,
        *,
        interval: float = DEFAULT_INTERVAL,
        stall: float = DEFAULT_STALL,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0 or stall <= 0 or window <= 0:
            raise ValueError("interval, stall and window must be positive")
        self.interval = interval
        self.stall = stall
        self.window = window
        self._clock = clock
        self.last = 0.0
        """The latest lateness, seconds."""
        self.max_ever = 0.0
        self.stalls = 0
        self.samples = 0
        # (when, lag) of the recent wake-ups, lags decreasing: the head is the window's max.
        self._recent: deque[tuple[float, float]] = deque()
        self._recent_own: deque[tuple[float, float]] = deque()

    def record(self, lag: float, cpu: float | None = None) -> None:
        """One wake-up `lag` seconds late; `cpu`: this thread's CPU seconds meanwhile
        (None: all of the lag is ours)."""
        lag = max(0.0, lag)
        own = lag if cpu is None else min(lag, max(0.0, cpu))
        now = self._clock()
        self.samples += 1
        self.last = lag
        self.max_ever = max(self.max_ever, lag)
        if lag >= self.stall:
            self.stalls += 1
        _push(self._recent, now, lag)
        _push(self._recent_own, now, own)
        self._expire(now)

    @property
    def recent_max(self) -> float:
        """The largest lag of the last `window` seconds."""
        self._expire(self._clock())
        return self._recent[0][1] if self._recent else 0.0

    @property
    def recent_own_max(self) -> float:
        """The largest part of a lag of the last `window` seconds our own CPU accounts for."""
        self._expire(self._clock())
        return self._recent_own[0][1] if self._recent_own else 0.0

    def _expire(self, now: float) -> None:
        for recent in (self._recent, self._recent_own):
            while recent and recent[0][0] < now - self.window:
                recent.popleft()

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            cpu = time.thread_time()
            await asyncio.sleep(self.interval)
            self.record(loop.time() - due, time.thread_time() - cpu)

    def as_json(self) -> dict[str, float | int]:
        """/healthz's `eventLoop`: milliseconds."""
        return {
            "lagMs": round(self.last * 1000, 1),
            "maxLagMs": round(self.recent_max * 1000, 1),
            "ownMaxLagMs": round(self.recent_own_max * 1000, 1),
            "maxLagWindowSeconds": self.window,
            "stalls": self.stalls,
            "stallMs": round(self.stall * 1000),
        }


def _push(recent: deque[tuple[float, float]], now: float, value: float) -> None:
    """Add a sample to a window kept decreasing (its head is then its maximum)."""
    while recent and recent[-1][1] <= value:
        recent.pop()
    recent.append((now, value))


class LoopLagCollector(Collector):
    """The monitor's figures for /metrics, read at scrape time."""

    def __init__(self, lag: LoopLag) -> None:
        self._lag = lag

    def collect(self) -> Iterable[Metric]:
        lag = self._lag
        yield GaugeMetricFamily(
            "queue_status_event_loop_lag_seconds",
            "How late the event loop woke the lag probe last time (API and ingest share it).",
            value=lag.last,
        )
        yield GaugeMetricFamily(
            "queue_status_event_loop_lag_max_seconds",
            f"The largest event-loop lag of the last {lag.window:g} seconds.",
            value=lag.recent_max,
        )
        yield GaugeMetricFamily(
            "queue_status_event_loop_lag_own_max_seconds",
            f"Of the largest lags of the last {lag.window:g} seconds, what this process's own "
            "CPU time accounts for (the rest: the machine did not run it).",
            value=lag.recent_own_max,
        )
        yield CounterMetricFamily(
            "queue_status_event_loop_stalls",
            f"Event-loop wake-ups late by {lag.stall * 1000:g} ms or more, since start.",
            value=lag.stalls,
        )
