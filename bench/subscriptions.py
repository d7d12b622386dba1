"""Scenario 6: wallboard subscribers on one server while the simulator drives changes.

The subscribers (`bench.ws_client`, a process of their own) each hold the
wallboard's `changes` subscription over graphql-transport-ws. The AMI
simulator (in this process; the server's ingest is connected to it) writes
`rate` QueueMemberStatus events a second — a call ended: CallsTaken and
LastCall grow — each changing exactly one operator, so the store versions
after `base` map one to one onto the events: version `base + n` is event `n`.
Latency is measured per change and per subscriber, from the moment its event
was written to the simulator's socket to the arrival of the frame carrying
it (one system-wide monotonic clock); every subscriber must receive every
version, in contiguous frames, or the difference is counted as lost.

Memory per idle subscriber is the server's RSS growth from before the
subscribers connected to when all are subscribed and idle, divided by their
number. The server is a fresh process, and another batch of subscribers is
connected first (then closed before the load runs): memory the server freed
after its start (the first reconciliation's garbage) is taken by that batch,
so the growth measured is what the subscribers themselves need. CPU is the
server's user+system time over the loaded window.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from bench.latency import analyse
from bench.processes import Child, box_busy_seconds, project_path
from bench.stack import Stack
from ingest.ami.message import AmiMessageDict
from ingest.store import StateStore
from simulator import AmiSimulator, CallCentre

_OPERATOR = (
    "memberId memberName status paused pausedReason statusSince updatedAt currentChannel "
    "queues { queueName paused pausedReason lastPause wrapupUntil }"
)
_QUEUE = (
    "name completed abandoned serviceLevel serviceLevelPerf "
    "callers { uniqueId position callerIdNum callerIdName joinedAt }"
)
_CHANNEL = (
    "name uniqueId linkedId state callerIdNum callerIdName connectedLineNum "
    "queueName memberId createdAt answeredAt"
)
_SNAPSHOT = (
    f"version generatedAt operators {{ {_OPERATOR} }} queues {{ {_QUEUE} }} "
    f"channels {{ {_CHANNEL} }}"
)
WALLBOARD_SUBSCRIPTION = f"""subscription WallboardChanges {{
  changes(initial: false) {{
    kind fromVersion toVersion reason
    snapshot {{ {_SNAPSHOT} }}
    changes {{ version kind op id operator {{ {_OPERATOR} }} queue {{ {_QUEUE} }} channel {{ {_CHANNEL} }} }}
  }}
}}"""
"""The wallboard's subscription (api/static/wallboard/app.js): every change."""

WALLBOARD_SNAPSHOT = f"query WallboardSnapshot {{ snapshot {{ {_SNAPSHOT} }} }}"
"""The wallboard's first read (and the one after a gap)."""

TICK = 0.01


class ChangeSource(Protocol):
    """What the marker changes come from and land in: a `Stack`, or the replicas' setup."""

    @property
    def model(self) -> CallCentre:
        """The simulated call centre."""
        ...

    @property
    def simulator(self) -> AmiSimulator:
        """The simulated Asterisk the server's ingest is connected to."""
        ...

    @property
    def store(self) -> StateStore:
        """The store the ingest writes to (the run's prefix)."""
        ...


class WsServer(Protocol):
    """A server the subscribers connect to."""

    @property
    def ws_url(self) -> str:
        """Its GraphQL WebSocket endpoint."""
        ...


class Markers:
    """QueueMemberStatus events, each raising one operator's CallsTaken and LastCall."""

    def __init__(self, stack: ChangeSource) -> None:
        members: dict[str, AmiMessageDict] = {}
        for item in stack.model.queue_status():
            if item.get("Event") == "QueueMember":
                location = str(item["Location"])
                members.setdefault(location, dict(item))
        self._templates = [members[key] for key in sorted(members)]
        self._seq = 0

    def next(self, count: int) -> list[AmiMessageDict]:
        """The next `count` events, one operator after the other."""
        out: list[AmiMessageDict] = []
        for _ in range(count):
            self._seq += 1
            template = self._templates[self._seq % len(self._templates)]
            out.append(
                {
                    "Event": "QueueMemberStatus",
                    "Privilege": "agent,all",
                    "Queue": template["Queue"],
                    "MemberName": template["Name"],
                    "Interface": template["Location"],
                    "StateInterface": template["StateInterface"],
                    "Membership": template["Membership"],
                    "Penalty": template["Penalty"],
                    "CallsTaken": str(100_000 + self._seq),
                    "LastCall": str(1_700_000_000 + self._seq),
                    "LastPause": template["LastPause"],
                    "LoginTime": template["LoginTime"],
                    "InCall": "0",
                    "Status": template["Status"],
                    "Paused": template["Paused"],
                    "PausedReason": template["PausedReason"],
                    "Wrapuptime": template["Wrapuptime"],
                }
            )
        return out


@dataclass
class Subscribers:
    """A running `bench.ws_client` process."""

    child: Child
    count: int
    records: Path
    _lines: asyncio.Queue[dict[str, Any]]
    reader: asyncio.Task[None] | None = None

    async def command(self, line: str) -> dict[str, Any]:
        """Send a command line; its JSON answer."""
        stdin = self.child.process.stdin
        assert stdin is not None
        stdin.write(line.encode() + b"\n")
        await stdin.drain()
        async with asyncio.timeout(60):
            return await self._lines.get()


async def start_subscribers(
    stack: WsServer, count: int, workdir: Path, name: str, *, first_index: int = 0
) -> Subscribers:
    """`count` wallboard subscribers, connected and subscribed (numbered from
    `first_index`)."""
    query_file = workdir / "wallboard.graphql"
    query_file.write_text(WALLBOARD_SUBSCRIPTION)
    records = workdir / f"{name}.records"
    log = workdir / f"{name}.log"
    output = log.open("ab")
    process = await asyncio.create_subprocess_exec(
        *_python(),
        "-m",
        "bench.ws_client",
        "--url",
        stack.ws_url,
        "--clients",
        str(count),
        "--query-file",
        str(query_file),
        "--records",
        str(records),
        # A hundred clients check every frame in full (a JSON parse each, ~30 KB at
        # 5,000): more would make the client, not the server, what is measured.
        "--verify-every",
        str(max(10, count // 100)),
        "--first-index",
        str(first_index),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=output,
        env=_env(),
    )
    output.close()
    lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            if line.startswith(b"{"):
                await lines.put(orjson.loads(line))

    reader = asyncio.create_task(read())
    child = Child(process, name, log)
    subscribers = Subscribers(child, count, records, lines, reader)
    async with asyncio.timeout(120):
        first = await lines.get()
    if first.get("connected") != count:
        raise RuntimeError(f"subscribers did not connect: {first}")
    return subscribers


def _python() -> list[str]:
    return [sys.executable]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": project_path()}


CLIENTS_PER_PROCESS = 2500
"""Subscribers per client process: at 5,000 the client reads ~1 GB a second, more than
one process (one core) does alongside the server on the same machine."""


async def start_subscriber_processes(
    stack: WsServer, count: int, workdir: Path, name: str
) -> list[Subscribers]:
    """`count` subscribers in as few processes as `CLIENTS_PER_PROCESS` allows, numbered
    0 … count-1 across them."""
    processes = max(1, -(-count // CLIENTS_PER_PROCESS))
    parts: list[Subscribers] = []
    first = 0
    for index in range(processes):
        size = count // processes + (1 if index < count % processes else 0)
        part_name = name if processes == 1 else f"{name}-{index}"
        parts.append(await start_subscribers(stack, size, workdir, part_name, first_index=first))
        first += size
    return parts


async def stop_subscribers(parts: list[Subscribers]) -> dict[str, Any]:
    """Stop every process: their summaries as one."""
    summary: dict[str, Any] = {
        "errors": [],
        "error_count": 0,
        "verify_failures": 0,
        "closed_by_server": 0,
    }
    for part in parts:
        answer = await part.command("stop")
        await part.child.process.wait()
        summary["errors"] += answer.get("errors", [])
        for key in ("error_count", "verify_failures", "closed_by_server"):
            summary[key] += answer.get(key, 0)
    return summary


async def wait_all_at(subscribers: Subscribers, version: int, timeout: float) -> bool:
    """Until every subscriber's last frame reaches `version`; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await subscribers.command("status")
        if status["seen"] == subscribers.count and status["last"] >= version:
            return True
        await asyncio.sleep(0.05)
    return False


async def emit(stack: ChangeSource, markers: Markers, count: int) -> float:
    """Write `count` marker events now; the time they left."""
    events = markers.next(count)
    sent_at = time.monotonic()
    stack.simulator.emit(events)
    return sent_at


async def barrier(stack: ChangeSource, markers: Markers, *groups: Subscribers) -> int:
    """One change every subscriber must receive: after it, all are subscribed and quiet.
    Returns the store version then."""
    for _ in range(3):
        await emit(stack, markers, 1)
        await asyncio.sleep(0.2)
        version = await stack.store.version()
        if all([await wait_all_at(group, version, 20.0) for group in groups]):
            return version
    raise TimeoutError("not every subscriber received the barrier change")


async def drive(
    stack: ChangeSource, markers: Markers, rate: float, seconds: float
) -> tuple[list[tuple[int, int, float]], int]:
    """Emit `rate` events a second for `seconds`: ticks (first seq, count, sent at), total."""
    loop = asyncio.get_running_loop()
    ticks: list[tuple[int, int, float]] = []
    emitted = 0
    started = loop.time()
    while (elapsed := loop.time() - started) < seconds:
        due = int(rate * elapsed) - emitted
        if due > 0:
            sent_at = await emit(stack, markers, due)
            ticks.append((emitted + 1, due, sent_at))
            emitted += due
        await asyncio.sleep(TICK)
    return ticks, emitted


async def measure(
    stack: Stack,
    *,
    subscribers: int,
    rates: list[float],
    seconds: float,
    workdir: Path,
    filler: int,
) -> list[dict[str, Any]]:
    """Scenario 6 for one number of subscribers and each rate."""
    markers = Markers(stack)
    # A fresh server: its RSS then grows with what the subscribers take, not into memory
    # an earlier scenario left free. A warm-up first: the one-time costs of a first
    # subscription are not per subscriber.
    await stack.restart_server()
    warm = await start_subscribers(stack, 5, workdir, f"warm-{subscribers}")
    await barrier(stack, markers, warm)
    await warm.command("stop")
    await warm.child.process.wait()
    others = await start_subscribers(stack, filler, workdir, f"filler-{subscribers}")
    await barrier(stack, markers, others)
    await asyncio.sleep(1.0)
    rss_before = stack.server.rss_bytes()
    group = await start_subscriber_processes(stack, subscribers, workdir, f"subs-{subscribers}")
    results: list[dict[str, Any]] = []
    try:
        await barrier(stack, markers, *group)
        await asyncio.sleep(1.0)
        rss_idle = stack.server.rss_bytes()
        per_subscriber = (rss_idle - rss_before) / subscribers
        await others.command("stop")
        await others.child.process.wait()
        await asyncio.sleep(0.5)
        runs: list[
            tuple[float, int, int, list[tuple[int, int, float]], float, int, dict[str, float]]
        ] = []
        for rate in rates:
            base = await barrier(stack, markers, *group)
            cpu_before, started = stack.server.cpu_seconds(), time.monotonic()
            client_before, box_before = _cpu_seconds(group), box_busy_seconds()
            ticks, total = await drive(stack, markers, rate, seconds)
            elapsed = time.monotonic() - started
            cpu = stack.server.cpu_seconds() - cpu_before
            load = {
                "client_cpu_percent": round(
                    100 * (_cpu_seconds(group) - client_before) / elapsed, 1
                ),
                "machine_busy_percent": round(
                    100 * (box_busy_seconds() - box_before) / elapsed / (os.cpu_count() or 1), 1
                ),
            }
            for part in group:
                await wait_all_at(part, base + total, 15.0)
            final = await stack.store.version()
            runs.append((rate, base, total, ticks, cpu / elapsed, final, load))
        summary = await stop_subscribers(group)
    finally:
        for part in group:
            await part.child.stop()
        await others.child.stop()
    for rate, base, total, ticks, cpu_share, final, load in runs:
        figures = analyse([part.records for part in group], base, total, ticks, subscribers)
        figures.update(load)
        figures.update(
            subscribers=subscribers,
            rate=rate,
            seconds=seconds,
            # Only the markers wrote: version base + n is marker n (else latency is wrong).
            versions_match=final == base + total,
            server_cpu_percent=round(100 * cpu_share, 1),
            server_cpu_us_per_subscriber_s=round(1e6 * cpu_share / subscribers, 1),
            rss_per_idle_subscriber_kb=round(per_subscriber / 1024, 1),
            client_errors=summary.get("error_count", 0),
            client_error_samples=summary.get("errors", [])[:3],
            verify_failures=summary.get("verify_failures", 0),
            closed_by_server=summary.get("closed_by_server", 0),
        )
        frames = figures["frames"]
        figures["frames_per_subscriber_per_s"] = round(frames / subscribers / seconds, 1)
        results.append(figures)
    return results


def _cpu_seconds(parts: list[Subscribers]) -> float:
    return sum(part.child.cpu_seconds() for part in parts)
