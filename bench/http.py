"""Scenarios 1, 2 and 4: REST, the ceiling app, GraphQL — over HTTP, from another process.

Per number of connections, each round measures every target once in a fixed
order (REST operators, the ceiling's operators, the bare app with the
product's store read, GraphQL with six fields and with all fields, REST
queues and GraphQL's wallboard queues, REST snapshot, the ceiling's
snapshot), so a figure and the ceiling it is compared with are measured
seconds apart; the median of the rounds is reported.

GraphQL's operator queries are answered from the answer cache once kept
(the store does not move while they are measured). The query that cannot be
cached is `GRAPHQL_QUEUES`, the wallboard's queue panel: every queue with its
waiting callers and their wait times, which move with the clock
(`api.graphql.answers.CLOCK_FIELDS`), so each request is executed; it is
compared with REST's `/queues`, the same data. Under churn (the simulator
driving changes) REST and GraphQL 6 fields are measured again, with the
share of GraphQL requests the cache answered (a change makes every kept
answer stale: the first request at a new version computes it, the requests
that arrive meanwhile wait for it). The ceiling app serves the very bytes the product
answered (stored under a key of the run's own prefix), so both send the same
payload. CPU per request is read from /proc for the serving process and for
Redis over each measurement.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

import orjson

from bench.config import BenchConfig
from bench.http_load import LoadResult, run_load
from bench.processes import Child, cpu_seconds, free_port, start_child, wait_http
from bench.stack import REST, Stack
from bench.subscriptions import Markers, drive

_MEMBERSHIP = (
    "queueName penalty paused pausedReason callsTaken lastCall lastPause loginTime "
    "wrapupTime wrapupUntil membership inCall ringinuse"
)
GRAPHQL_6 = (
    "query Operators6 { operators { memberId memberName status paused queueName updatedAt } }"
)
"""The runbook's REST operator fields, over GraphQL."""
GRAPHQL_ALL = (
    "query OperatorsAll { operators { memberId memberName stateInterface status paused "
    "pausedReason queueName currentCallId currentChannel statusSince updatedAt version "
    f"queues {{ {_MEMBERSHIP} }} }} }}"
)
"""Every field of an operator, its queue memberships included."""
GRAPHQL_QUEUES = (
    "query WallboardQueues { queues { name strategy callsWaiting longestWaitSeconds "
    "holdTime talkTime completed abandoned serviceLevel serviceLevelPerf "
    "members { total available inCall paused unavailable } "
    "callers { position uniqueId callerIdNum callerIdName channel joinedAt waitSeconds } } }"
)
"""The wallboard's queue panel: wait times move with the clock, so it is never cached."""


def redis_pid() -> int | None:
    """The Redis server's process id, when it runs on this machine."""
    try:
        out = subprocess.run(  # noqa: S603 - a fixed command
            [shutil.which("redis-cli") or "redis-cli", "INFO", "server"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.startswith("process_id:"):
            pid = int(line.split(":", 1)[1])
            return pid if Path(f"/proc/{pid}").exists() else None
    return None


async def _measure(
    url: str,
    body: bytes | None,
    connections: int,
    config: BenchConfig,
    server: Child,
    redis: int | None,
) -> tuple[LoadResult, float, float | None]:
    seconds = config.http_seconds
    while True:
        server_before = server.cpu_seconds()
        redis_before = cpu_seconds(redis) if redis else None
        result = await run_load(
            url, connections=connections, seconds=seconds, body=body, tool=config.http_tool
        )
        # A slow endpoint under many connections may finish next to nothing in the
        # window (each request waits for all the others): measure longer.
        if result.requests >= 2 * connections or seconds >= 8 * config.http_seconds:
            break
        seconds *= 2
    requests = max(result.requests, 1)
    server_ms = 1000 * (server.cpu_seconds() - server_before) / requests
    redis_ms = (
        None
        if redis is None or redis_before is None
        else 1000 * (cpu_seconds(redis) - redis_before) / requests
    )
    return result, server_ms, redis_ms


_CACHE_METRICS = {
    "hits": "queue_status_graphql_answer_cache_hits_total",
    "misses": "queue_status_graphql_answer_cache_misses_total",
}


async def answer_cache_counts(stack: Stack) -> dict[str, float]:
    """The server's answer cache hits and misses so far (from /metrics)."""
    text = (await stack.get("/metrics")).decode()
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        values[name] = value
    return {key: float(values.get(metric) or 0) for key, metric in _CACHE_METRICS.items()}


def _summary(samples: list[tuple[LoadResult, float, float | None]]) -> dict[str, Any]:
    results = [sample[0] for sample in samples]
    redis = [sample[2] for sample in samples if sample[2] is not None]
    return {
        "rps": statistics.median(r.rps for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "ms_per_request": 1000 / statistics.median(r.rps for r in results)
        if any(r.rps for r in results)
        else None,
        "errors": sum(r.errors for r in results),
        "bytes_per_request": statistics.median(r.bytes_per_request for r in results),
        "server_cpu_ms_per_request": statistics.median(sample[1] for sample in samples),
        "redis_cpu_ms_per_request": statistics.median(redis) if redis else None,
        "rounds_rps": [round(r.rps, 1) for r in results],
        "tool": results[0].tool,
    }


async def measure(stack: Stack, config: BenchConfig) -> dict[str, Any]:
    """Scenarios 1, 2, 4 at this stack's size."""
    keys = stack.store.keys
    operators_body = await stack.get(f"{REST}/operators")
    snapshot_body = await stack.get(f"{REST}/snapshot")
    limit_operators, limit_snapshot = (
        keys.meta("bench-limit-operators"),
        keys.meta("bench-limit-snapshot"),
    )
    await stack.redis.set(limit_operators, operators_body)
    await stack.redis.set(limit_snapshot, snapshot_body)
    port = free_port()
    limit = await start_child(
        f"limit-{stack.layout.operators}",
        [
            "-m",
            "bench.limit_app",
            "--port",
            str(port),
            "--redis-url",
            stack.redis_url,
            "--route",
            f"/operators={limit_operators}",
            "--route",
            f"/snapshot={limit_snapshot}",
            "--store-prefix",
            keys.prefix,
        ],
        env={},
        workdir=stack.workdir,
    )
    limit_url = f"http://127.0.0.1:{port}"
    redis = redis_pid()
    try:
        await wait_http(limit, f"{limit_url}/operators")
        graphql_6 = orjson.dumps({"query": GRAPHQL_6})
        graphql_all = orjson.dumps({"query": GRAPHQL_ALL})
        graphql_queues = orjson.dumps({"query": GRAPHQL_QUEUES})
        # Each query once before measuring: parsed, validated, compiled.
        six = await stack.post_json("/graphql", graphql_6)
        everything = await stack.post_json("/graphql", graphql_all)
        queues = await stack.post_json("/graphql", graphql_queues)
        for answer in (six, everything, queues):
            if "errors" in orjson.loads(answer):
                raise RuntimeError(f"the GraphQL query failed: {answer[:500]!r}")
        targets: list[tuple[str, str, bytes | None, Child]] = [
            ("rest_operators", f"{stack.url}{REST}/operators", None, stack.server),
            ("limit_operators", f"{limit_url}/operators", None, limit),
            ("bare_store_operators", f"{limit_url}/store/operators", None, limit),
            ("graphql_6", f"{stack.url}/graphql", graphql_6, stack.server),
            ("graphql_all", f"{stack.url}/graphql", graphql_all, stack.server),
            ("rest_queues", f"{stack.url}{REST}/queues", None, stack.server),
            ("graphql_queues", f"{stack.url}/graphql", graphql_queues, stack.server),
            ("rest_snapshot", f"{stack.url}{REST}/snapshot", None, stack.server),
            ("limit_snapshot", f"{limit_url}/snapshot", None, limit),
        ]
        figures: dict[str, dict[str, Any]] = {name: {} for name, *_ in targets}
        for connections in config.connections:
            samples: dict[str, list[tuple[LoadResult, float, float | None]]] = {
                name: [] for name, *_ in targets
            }
            for _ in range(config.http_rounds):
                for name, url, body, server in targets:
                    samples[name].append(
                        await _measure(url, body, connections, config, server, redis)
                    )
            for name in samples:
                figures[name][f"c{connections}"] = _summary(samples[name])
        # REST and GraphQL while the simulator drives changes: the mirror moves on all
        # the time, a read uses it only when it is at Redis' version, else reads Redis;
        # a kept GraphQL answer is served only at its version.
        top = max(config.connections)
        markers = Markers(stack)
        changes = asyncio.create_task(
            drive(
                stack, markers, config.churn_rate, 2 * config.http_seconds * config.http_rounds + 1
            )
        )
        rest_churn: list[tuple[LoadResult, float, float | None]] = []
        graphql_churn: list[tuple[LoadResult, float, float | None]] = []
        cache_before = await answer_cache_counts(stack)
        try:
            for _ in range(config.http_rounds):
                rest_churn.append(
                    await _measure(
                        f"{stack.url}{REST}/operators", None, top, config, stack.server, redis
                    )
                )
                graphql_churn.append(
                    await _measure(
                        f"{stack.url}/graphql", graphql_6, top, config, stack.server, redis
                    )
                )
        finally:
            await changes
        cache_after = await answer_cache_counts(stack)
        figures["rest_operators_changing"] = {f"c{top}": _summary(rest_churn)}
        figures["rest_operators_changing"]["changes_per_s"] = config.churn_rate
        figures["graphql_6_changing"] = {f"c{top}": _summary(graphql_churn)}
        figures["graphql_6_changing"]["changes_per_s"] = config.churn_rate
        figures["graphql_6_changing"]["answer_cache"] = {
            name: cache_after[name] - cache_before[name] for name in cache_after
        }
    finally:
        await limit.stop()
        await stack.redis.delete(limit_operators, limit_snapshot)
    figures["sizes"] = {
        "operators_bytes": len(operators_body),
        "snapshot_bytes": len(snapshot_body),
        "graphql_6_bytes": len(six),
        "graphql_all_bytes": len(everything),
        "graphql_queues_bytes": len(queues),
    }
    return figures
