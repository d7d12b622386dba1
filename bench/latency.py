"""Scenario 6's (and 9's) figures from the client processes' records: latency per change
and per subscriber, lost and duplicated versions, frames; and issue 17's goals for one
process' worth of subscribers."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.figures import Results, subscription_run
from bench.ws_client import read_records

MANY_P99_GOAL_MS = 250.0
MANY_RSS_GOAL_KB = 40.0
"""Issue 17's goals for 5,000 subscribers on one process at 500 changes/s (0 lost too)."""

BIN = 0.00005
"""Latencies are counted in bins of 50 µs (percentiles exact to that)."""


def analyse(
    records: Path | Sequence[Path],
    base: int,
    total: int,
    ticks: list[tuple[int, int, float]],
    subscribers: int,
) -> dict[str, Any]:
    """Per-change latency percentiles, lost changes, frames per subscriber.

    Each frame carries versions fromVersion+1 … toVersion; version `base + n`
    is event `n`, which left with its tick. A histogram, not a list: a
    thousand subscribers at 500 changes/s are millions of deliveries.
    """
    client, first, last, arrival = _read_all([records] if isinstance(records, Path) else records)
    end = base + total
    # The ticks as (first version, last version, sent at), in version order.
    spans = [(base + seq, base + seq + count - 1, at) for seq, count, at in ticks]
    starts = [span[0] for span in spans]
    histogram: dict[int, int] = {}
    deliveries = 0
    worst = 0.0
    frames: dict[int, list[tuple[int, int]]] = {}
    for index in range(len(client)):
        lo, hi = max(first[index], base), min(last[index], end)
        if hi <= lo:
            continue
        frames.setdefault(client[index], []).append((first[index], last[index]))
        arrived = arrival[index]
        version = lo + 1
        span = bisect.bisect_right(starts, version) - 1
        while version <= hi:
            _, span_last, sent = spans[span]
            upto = min(hi, span_last)
            count = upto - version + 1
            latency = arrived - sent
            key = int(latency / BIN)
            histogram[key] = histogram.get(key, 0) + count
            deliveries += count
            worst = max(worst, latency)
            version = upto + 1
            span += 1
    lost = duplicated = 0
    for index in range(subscribers):
        expected = base
        for frame_first, frame_last in sorted(frames.get(index, [])):
            if frame_first > expected:
                lost += frame_first - expected
            elif frame_first < expected:
                duplicated += min(expected, frame_last) - frame_first
            expected = max(expected, frame_last)
        lost += max(0, end - expected)

    def percentile(share: float) -> float | None:
        if not deliveries:
            return None
        wanted, seen = share * deliveries, 0
        for key in sorted(histogram):
            seen += histogram[key]
            if seen >= wanted:
                return (key + 1) * BIN * 1000
        return worst * 1000

    return {
        "changes": total,
        "deliveries": deliveries,
        "lost": lost,
        "duplicated": duplicated,
        "frames": sum(len(items) for items in frames.values()),
        "frames_per_subscriber_per_s": None,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": worst * 1000 if deliveries else None,
    }


def _read_all(paths: Sequence[Path]) -> tuple[array[int], array[int], array[int], array[float]]:
    """The records of several client processes, one after the other."""
    client, first, last, arrival = array("i"), array("q"), array("q"), array("d")
    for path in paths:
        part = read_records(str(path))
        client += part[0]
        first += part[1]
        last += part[2]
        arrival += part[3]
    return client, first, last, arrival


def many_met(run: dict[str, Any]) -> bool:
    """Issue 17's goals for one process' worth of subscribers, met by this run."""
    return (
        run["p99_ms"] is not None
        and run["p99_ms"] < MANY_P99_GOAL_MS
        and run["lost"] == 0
        and run["rss_per_idle_subscriber_kb"] < MANY_RSS_GOAL_KB
        and bool(run["versions_match"])
    )


def many_summary(run: dict[str, Any]) -> str:
    """Its figures, server CPU included."""
    p99 = "—" if run["p99_ms"] is None else f"{run['p99_ms']:.1f} ms"
    return (
        f"p99 {p99}, {run['lost']} lost, {run['rss_per_idle_subscriber_kb']:.1f} KB RSS per "
        f"idle subscriber, {run['frames_per_subscriber_per_s']:.1f} frames/s per subscriber, "
        f"server CPU {run['server_cpu_percent']:.0f}%"
    )


def many_subscribers_goal(
    results: Results, size: int, rate: float
) -> tuple[str, str, str, bool | None]:
    """Issue 17's goal line (name, goal, value, met) for the largest count measured at the
    goal size only (`BenchConfig.goal_subscriber_counts`), at the highest rate."""
    counts = results["config"].get("goal_subscriber_counts") or ()
    goal = (
        f"p99 < {MANY_P99_GOAL_MS:.0f} ms, 0 lost, < {MANY_RSS_GOAL_KB:.0f} KB per idle subscriber"
    )
    if not counts:
        return "Subscribers on one process", goal, "—", None
    subscribers = max(counts)
    name = f"{subscribers:,} wallboard subscribers on one process at {rate:.0f} changes/s"
    run = subscription_run(results, size, subscribers, rate)
    if not run:
        return name, goal, "—", None
    return name, goal, many_summary(run), many_met(run)
