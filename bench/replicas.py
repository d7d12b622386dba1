"""Scenario 9: API replicas — `serve --role api` × 3, 1,000 wallboard subscribers each,
one `serve --role ingest` writing 500 changes a second.

Real processes on loopback: the ingest (elected leader, AMI from the simulator
in this process) writes the marker changes of scenario 6 (`bench.subscriptions`:
one QueueMemberStatus event per change, so version `base + n` is event `n`);
each replica follows Redis with its own pub/sub connection and mirror and
serves its subscribers (a `bench.ws_client` process each, the wallboard's
`changes` subscription over graphql-transport-ws). Latency per change and
subscriber runs from the event leaving the simulator's socket to the frame
arriving (AMI, the ingest, Redis, the replica's fan-out, the client);
`lost` counts the versions a subscriber never received in contiguous frames.
The p99 reported is the worst replica's (at least the p99 over all
deliveries). CPU is each process's user+system time from the first change
sent until every subscriber had the last one (`catch_up_s` after it was sent).
Everything shares the machine's cores: on two, four servers and three client
processes compete, and the figures say so.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from bench.centre import build_model, create_database, drop_database, make_layout
from bench.config import BenchConfig
from bench.latency import analyse
from bench.processes import Child, box_busy_seconds, free_port, start_child, wait_http
from bench.redis_keys import delete_prefix
from bench.stack import server_env
from bench.subscriptions import (
    Markers,
    Subscribers,
    barrier,
    drive,
    start_subscribers,
    wait_all_at,
)
from ingest.keys import KeySchema
from ingest.store import StateStore
from simulator import AmiSimulator, CallCentre

P99_GOAL_MS = 100.0


@dataclass
class Replica:
    """One `serve --role api` process."""

    child: Child
    port: int

    @property
    def ws_url(self) -> str:
        """Its GraphQL WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.port}/graphql"


@dataclass
class Setup:
    """The simulator, the store and the processes of the scenario."""

    model: CallCentre
    simulator: AmiSimulator
    store: StateStore


async def _serve(name: str, role: str, env: dict[str, str], workdir: Path) -> tuple[Child, int]:
    port = free_port()
    child = await start_child(
        name,
        ["-m", "api.cli", "serve", "--role", role],
        env={**env, "PORT": str(port)},
        workdir=workdir,
    )
    await wait_http(child, f"http://127.0.0.1:{port}/readyz", timeout=120)
    return child, port


async def _wait_reconciled(child: Child, port: int, timeout: float = 180.0) -> None:
    """Until the ingest leads and has applied its first snapshot of the simulator."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            child.check_alive()
            data = (await client.get(f"http://127.0.0.1:{port}/healthz")).json()["data"]
            if data.get("leadership") == "leader" and data["ami"].get("reconciliations"):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the ingest never reconciled: {data}")
            await asyncio.sleep(0.2)


async def measure(config: BenchConfig, workdir: Path) -> dict[str, Any]:
    """Scenario 9 once: the figures of every replica, and the whole."""
    layout = make_layout(config.replica_operators)
    model = build_model(layout, warm_seconds=config.warm_seconds)
    database_url = await create_database(config.pg_admin_url, layout)
    prefix = f"qs-bench-{uuid.uuid4().hex[:10]}:"
    secret = secrets.token_urlsafe(12)
    simulator = AmiSimulator(username="bench", secret=secret, model=model, realtime=False)
    redis = Redis.from_url(config.redis_url)
    setup = Setup(model, simulator, StateStore(redis, KeySchema(prefix)))
    children: list[Child] = []
    groups: list[Subscribers] = []
    try:
        await simulator.start()
        env = server_env(
            port=0,
            prefix=prefix,
            database_url=database_url,
            redis_url=config.redis_url,
            ami_port=simulator.port,
            ami_secret=secret,
        )
        ingest, ingest_port = await _serve("replicas-ingest", "ingest", env, workdir)
        children.append(ingest)
        await _wait_reconciled(ingest, ingest_port)
        replicas = []
        for n in range(config.replica_count):
            child, port = await _serve(f"replicas-api-{n + 1}", "api", env, workdir)
            children.append(child)
            replicas.append(Replica(child, port))
        for n, replica in enumerate(replicas):
            groups.append(
                await start_subscribers(
                    replica, config.replica_subscribers, workdir, f"replicas-subs-{n + 1}"
                )
            )
        markers = Markers(setup)
        base = await barrier(setup, markers, *groups)
        await asyncio.sleep(0.5)
        base = await barrier(setup, markers, *groups)
        processes = [ingest, *(r.child for r in replicas), *(g.child for g in groups)]
        cpu_before = [p.cpu_seconds() for p in processes]
        box_before, started = box_busy_seconds(), time.monotonic()
        ticks, total = await drive(setup, markers, config.replica_rate, config.replica_seconds)
        sent_for = time.monotonic() - started
        caught_up = [await wait_all_at(group, base + total, 60.0) for group in groups]
        # Until every subscriber has every change: the work a lagging run does after the
        # last change was sent counts too.
        elapsed = time.monotonic() - started
        cpu = [
            100 * (p.cpu_seconds() - b) / elapsed
            for p, b in zip(processes, cpu_before, strict=True)
        ]
        busy = 100 * (box_busy_seconds() - box_before) / elapsed / (os.cpu_count() or 1)
        final = await setup.store.version()
        summaries = []
        for group in groups:
            summaries.append(await group.command("stop"))
            await group.child.process.wait()
    finally:
        for group in groups:
            await group.child.stop()
        for child in reversed(children):
            await child.stop()
        await simulator.stop()
        await delete_prefix(redis, prefix)
        await redis.aclose()
        await drop_database(config.pg_admin_url, database_url)
    count = config.replica_count
    per_replica = []
    for n, group in enumerate(groups):
        figures = analyse(group.records, base, total, ticks, config.replica_subscribers)
        figures.update(
            server_cpu_percent=round(cpu[1 + n], 1),
            client_cpu_percent=round(cpu[1 + count + n], 1),
            caught_up=caught_up[n],
            client_errors=summaries[n].get("error_count", 0),
            verify_failures=summaries[n].get("verify_failures", 0),
            closed_by_server=summaries[n].get("closed_by_server", 0),
        )
        per_replica.append(figures)
    p99s = [f["p99_ms"] for f in per_replica]
    return {
        "replicas": count,
        "subscribers_per_replica": config.replica_subscribers,
        "rate": config.replica_rate,
        "seconds": config.replica_seconds,
        "operators": config.replica_operators,
        "changes": total,
        # Only the markers wrote: version base + n is marker n (else latency is wrong).
        "versions_match": final == base + total,
        "deliveries": sum(f["deliveries"] for f in per_replica),
        "lost": sum(f["lost"] for f in per_replica),
        "duplicated": sum(f["duplicated"] for f in per_replica),
        "client_errors": sum(f["client_errors"] for f in per_replica),
        "p50_ms": max((f["p50_ms"] for f in per_replica if f["p50_ms"] is not None), default=None),
        "p99_ms": None if None in p99s else max(p99s),
        "max_ms": max((f["max_ms"] for f in per_replica if f["max_ms"] is not None), default=None),
        "catch_up_s": round(elapsed - sent_for, 2) if all(caught_up) else None,
        "ingest_cpu_percent": round(cpu[0], 1),
        "api_cpu_percent": [f["server_cpu_percent"] for f in per_replica],
        "client_cpu_percent": [f["client_cpu_percent"] for f in per_replica],
        "machine_busy_percent": round(busy, 1),
        "per_replica": per_replica,
    }


def met(figures: dict[str, Any]) -> bool | None:
    """The goal: p99 < 100 ms and nothing lost on every replica (None: not measured)."""
    if not figures or "p99_ms" not in figures:
        return None
    return bool(
        figures["p99_ms"] is not None
        and figures["p99_ms"] < P99_GOAL_MS
        and figures["lost"] == 0
        and figures["versions_match"]
        and figures["client_errors"] == 0
    )


def summary(figures: dict[str, Any]) -> str:
    """One line of the figures, for the goal and the progress output."""
    if not figures or "p99_ms" not in figures:
        return str((figures or {}).get("skipped", "—"))
    p99 = "—" if figures["p99_ms"] is None else f"{figures['p99_ms']:.1f} ms"
    api_cpu = "/".join(f"{value:.0f}" for value in figures["api_cpu_percent"])
    catch_up = figures.get("catch_up_s")
    return (
        f"p99 {p99} (worst replica), {figures['lost']} lost, "
        f"{figures['deliveries']:,} deliveries, caught up "
        + ("never" if catch_up is None else f"{catch_up:.1f} s after the last change")
        + f"; CPU % api {api_cpu}, "
        f"ingest {figures['ingest_cpu_percent']:.0f}, machine busy "
        f"{figures['machine_busy_percent']:.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.replicas [--smoke]`: this scenario alone; prints its figures."""
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and durations")
    args = parser.parse_args(argv)
    config = (BenchConfig.smoke() if args.smoke else BenchConfig()).with_services()
    with tempfile.TemporaryDirectory(prefix="queue-status-replicas-") as directory:
        figures = asyncio.run(measure(config, Path(directory)))
    print(json.dumps({k: v for k, v in figures.items() if k != "per_replica"}, indent=2))
    mark = {True: "met", False: "NOT MET", None: "not measured"}[met(figures)]
    print(
        f"[{mark:>12}] {config.replica_count} api replicas × {config.replica_subscribers:,} "
        f"subscribers at {config.replica_rate:.0f} changes/s: {summary(figures)}  "
        f"(goal: p99 < {P99_GOAL_MS:.0f} ms, 0 lost)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
