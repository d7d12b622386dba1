"""Scenario 5b: the real AMI message mix through the real ingest, messages/s from TCP to Redis.

The mix is the recorded lab traffic looped with fresh ids (`bench.ami_mix`):
about 57 % of its messages are kinds the service ignores. A feeder process
(`bench.mix_feeder`) serves it over TCP; this process runs the real
`AmiIngest` (panoramisk connection, the raw ``Event:`` pre-filter, the ordered
consumer) and `EventPipeline` (parse → reduce → one EVALSHA per batch) on
real Redis, under a throwaway key prefix removed afterwards — one process,
one core. After the login and the startup snapshot the feeder writes every
loop as fast as the socket takes it: the figure is the drain rate of that
burst, from the moment the feeder starts to the end of the last batch's
write to Redis (every message read, every used event in Redis).

Variants: the Login ``Events:`` mask on (Asterisk sends only our classes,
``AMI_EVENTS`` default) or off (``on``: everything, the pre-filter drops what
we do not use), and the pre-filter off (everything built and parsed, the
behaviour before it) for comparison.

    python -m bench.ingest_mix --loops 250 --events on

prints one measurement as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import orjson
from redis.asyncio import Redis

from bench.ami_mix import mix_stream
from bench.piped_process import PipedProcess
from bench.processes import project_path
from bench.redis_keys import delete_prefix
from ingest import gc_tuning
from ingest.ami.connection import AmiEndpoint
from ingest.ami.message import AmiMessage
from ingest.ami.relevance import DEFAULT_EVENT_CLASSES
from ingest.keys import KeySchema
from ingest.pipeline import EventPipeline
from ingest.runners.ami_runner import AmiIngest, EventApplier
from ingest.store import StateStore
from simulator.connection import event_mask

STARTUP_TIMEOUT = 60.0
DRAIN_TIMEOUT = 300.0
MESSAGES_GOAL = 50_000
"""AMI messages/s of the real mix read from TCP into Redis, on one core."""
RELEVANT_GOAL = 20_000
"""Events of the kinds we use, a second, among them."""

VARIANTS: tuple[tuple[str, str, bool], ...] = (
    ("events on, pre-filter", "on", True),
    (f"Events: {DEFAULT_EVENT_CLASSES}, pre-filter", DEFAULT_EVENT_CLASSES, True),
    ("events on, no pre-filter (before)", "on", False),
)
"""(label, Login Events mask, raw pre-filter) of each measurement of the scenario."""


# --- the feeder's process -------------------------------------------------------------


def _feeder_process(conn: Connection, loops: int, events: str) -> None:
    """Child: render the mix for `events`, serve it; ``start`` streams, ``stop`` ends."""
    asyncio.run(_serve_feeder(conn, loops, events))


async def _serve_feeder(conn: Connection, loops: int, events: str) -> None:
    from bench.mix_feeder import MixFeeder, serve

    feeder = MixFeeder(loops)
    feeder.prepare(event_mask(events))
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    streaming: list[asyncio.Task[None]] = []

    async def start() -> None:
        conn.send(await feeder.start())

    def command() -> None:
        try:
            what = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            what = "stop"
        if what == "start":
            streaming.append(loop.create_task(start()))
        else:
            loop.remove_reader(conn.fileno())
            stopped.set()

    loop.add_reader(conn.fileno(), command)
    await serve(feeder, lambda port: conn.send(("ready", port)), stopped)


class _Feeder(PipedProcess):
    """The parent's handle on the feeder process."""

    def __init__(self, loops: int, events: str) -> None:
        super().__init__(_feeder_process, (loops, events), "ami-mix-feeder")


# --- the measurement ------------------------------------------------------------------


async def measure(
    loops: int, events: str = "on", *, prefilter: bool = True, redis_url: str
) -> dict[str, Any]:
    """One burst of `loops` loops of the mix through the ingest; its figures."""
    stream = mix_stream(event_mask(events))
    total_expected = stream.messages * loops
    feeder = _Feeder(loops, events)
    redis = Redis.from_url(redis_url)
    prefix = f"qs-bench-mix-{uuid.uuid4().hex[:12]}:"
    store = StateStore(redis, KeySchema(prefix))
    pipeline = EventPipeline(store)
    ingest: AmiIngest | None = None
    last_write = [0.0]
    batches = [0]

    async def apply_events(messages: list[AmiMessage], now: int, *, writer: tuple[str, int]) -> int:
        applied = await pipeline.apply(messages, now, writer=writer)
        last_write[0] = time.monotonic()
        batches[0] += 1
        return applied

    async def known_queues() -> set[str]:
        return set()

    try:
        kind, port = await feeder.receive(STARTUP_TIMEOUT)
        assert kind == "ready"
        ingest = AmiIngest(
            AmiEndpoint("127.0.0.1", int(port), "bench", "bench", events=events),
            EventApplier(apply_events, pipeline.apply_snapshot),
            known_queues=known_queues,
            reconcile_interval=3600.0,
            ping_interval=3600.0,
            stats_interval=3600.0,
            prefilter=prefilter,
            # The whole burst may wait in the queue (without the pre-filter every
            # message does): measured here is throughput, not the queue's bound.
            max_queue=total_expected + 1000,
        )
        status = ingest.status
        framing = status.protocol.framing
        ingest.start()
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while status.reconciliations < 1:
                await asyncio.sleep(0.01)
        framed_before = framing.messages + framing.filtered
        received_before = pipeline.counters.received
        applied_before, patches_before = pipeline.counters.applied, pipeline.counters.patches
        batches_before = batches[0]
        cpu_start, started = time.process_time(), time.monotonic()
        feeder.send("start")
        total, total_bytes = await feeder.receive(STARTUP_TIMEOUT)
        async with asyncio.timeout(DRAIN_TIMEOUT):
            while True:
                await asyncio.sleep(0.01)
                framed = framing.messages + framing.filtered - framed_before
                queued = status.events_received - status.events_dropped
                if framed >= total and pipeline.counters.received >= queued:
                    break
        cpu = time.process_time() - cpu_start
        elapsed = last_write[0] - started
        wanted = stream.wanted * loops
        return {
            "label": next((v[0] for v in VARIANTS if v[1:] == (events, prefilter)), events),
            "events": events,
            "prefilter": prefilter,
            "loops": loops,
            "messages": total,
            "bytes": total_bytes,
            "relevant": wanted,
            "ignored_share": round(stream.ignored_share, 3),
            "seconds": round(elapsed, 3),
            "messages_per_s": round(total / elapsed),
            "relevant_per_s": round(wanted / elapsed),
            "processed": pipeline.counters.received - received_before,
            "applied": pipeline.counters.applied - applied_before,
            "patches": pipeline.counters.patches - patches_before,
            "batches": batches[0] - batches_before,
            "filtered": framing.filtered,
            "events_dropped": status.events_dropped,
            "ingest_cpu_percent": round(100 * cpu / elapsed, 1),
            "cpu_us_per_message": round(1e6 * cpu / total, 2),
            # What one whole core would take at this cost: the load-independent figure.
            "messages_per_cpu_second": round(total / cpu) if cpu else None,
            "relevant_per_cpu_second": round(wanted / cpu) if cpu else None,
        }
    finally:
        if ingest is not None:
            await ingest.stop()
        await feeder.stop()
        await delete_prefix(redis, prefix)
        await redis.aclose()


async def run_variant(loops: int, events: str, prefilter: bool, redis_url: str) -> dict[str, Any]:
    """One measurement in a process of its own (the ingest gets its core to itself)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ingest_mix",
        "--loops",
        str(loops),
        "--events",
        events,
        *(() if prefilter else ("--no-prefilter",)),
        "--redis-url",
        redis_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": project_path()},
        start_new_session=True,
    )
    async with asyncio.timeout(DRAIN_TIMEOUT + 2 * STARTUP_TIMEOUT):
        out, err = await process.communicate()
    for line in reversed(out.decode().splitlines()):
        if line.startswith("{"):
            figures: dict[str, Any] = orjson.loads(line)
            return figures
    raise RuntimeError(f"mix measurement failed:\n{err.decode()[-3000:]}")


async def measure_all(
    loops: int, redis_url: str, variants: Sequence[tuple[str, str, bool]] = VARIANTS
) -> list[dict[str, Any]]:
    """Every variant, one after the other."""
    return [await run_variant(loops, events, on, redis_url) for _, events, on in variants]


async def measure_scenario(
    loops: int, redis_url: str, ceiling: dict[str, Any] | None
) -> dict[str, Any]:
    """Scenario 5b: every variant, and each one's relevant events/s over the EVALSHA
    ceiling (one event per call, measured by scenario 5)."""
    variants = await measure_all(loops, redis_url)
    per_second = (ceiling or {}).get("evalsha_per_s")
    for figures in variants:
        figures["ratio_to_ceiling"] = (
            round(figures["relevant_per_s"] / per_second, 2) if per_second else None
        )
    return {"variants": variants, "ceiling": ceiling}


def variant(figures: dict[str, Any], events: str, prefilter: bool = True) -> dict[str, Any]:
    """The measurement of one variant in scenario 5b's figures ({} when not run)."""
    for measured in figures.get("variants") or ():
        if measured["events"] == events and measured["prefilter"] == prefilter:
            return dict(measured)
    return {}


def describe(figures: dict[str, Any]) -> list[str]:
    """One line per variant, for the report."""
    lines = []
    for measured in figures.get("variants") or ():
        ratio = measured.get("ratio_to_ceiling")
        lines.append(
            f"{measured['label']}: {measured['messages_per_s']:,} messages/s read from TCP into"
            f" Redis, {measured['relevant_per_s']:,} used events/s"
            f" ({100 * measured['ignored_share']:.0f} % ignored"
            + (f", {ratio:.2f}× the EVALSHA ceiling" if ratio is not None else "")
            + f"), ingest CPU {measured['ingest_cpu_percent']} %,"
            f" {measured['cpu_us_per_message']} CPU µs/message"
            f" ({measured['messages_per_cpu_second']:,} messages,"
            f" {measured['relevant_per_cpu_second']:,} used events per CPU-second),"
            f" {measured['messages']:,}"
            f" messages in {measured['seconds']} s, {measured['batches']} batches,"
            f" {measured['filtered']:,} dropped by the pre-filter"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """One measurement, printed as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest_mix", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--loops", type=int, default=250)
    parser.add_argument("--events", default="on", help="the Login Events: mask")
    parser.add_argument("--no-prefilter", action="store_true")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    gc_tuning.tune()  # as `serve` does
    figures = asyncio.run(
        measure(args.loops, args.events, prefilter=not args.no_prefilter, redis_url=args.redis_url)
    )
    print(orjson.dumps(figures).decode(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
