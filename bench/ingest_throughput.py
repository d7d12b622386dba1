"""Ingest throughput: how many AMI events per second the real ingest takes into Redis.

The AMI simulator runs in rate mode (virtual time, a generated call centre,
about ``--rate`` events per second) in a process of its own, so this process
— the real `AmiIngest` (panoramisk connection, ordered consumer) and
`EventPipeline` (parse → reduce → one Lua EVALSHA per batch) on real Redis,
under a throwaway key prefix removed afterwards — has its core to itself.
The ingest is single-threaded: its CPU % is the share of one core it used.

    python -m bench.ingest_throughput --seconds 10 --rate 20000

prints events/s sent (by the simulator), received (read off the socket),
processed (through the pipeline into Redis) and applied (of those, the ones
that changed something), the backlog (received, not yet in Redis) over time
and the CPU % of both processes. Nothing is asserted: the figures depend on
the machine. ``run(seconds, rate)`` returns them as a dict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from redis.asyncio import Redis

from bench.piped_process import PipedProcess
from bench.redis_keys import delete_prefix
from ingest.ami.connection import AmiEndpoint
from ingest.keys import KeySchema
from ingest.pipeline import EventPipeline
from ingest.runners.ami_runner import AmiIngest, EventApplier
from ingest.store import StateStore

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
STARTUP_TIMEOUT = 30.0

Sample = dict[str, float]


# --- the simulator's process -------------------------------------------------------


def _simulator_process(
    conn: Connection, rate: float, operators: int, queues: int, seed: int, secret: str
) -> None:
    """Child process: serve the simulator in rate mode; answer marks until told to stop.

    Protocol on `conn`: it sends ``("ready", port)``; each ``"mark"`` or
    ``"stop"`` it receives is answered with ``(monotonic, events_sent,
    process_time, slow_disconnects)``, ``"stop"`` then ends it.
    """
    asyncio.run(_serve_simulator(conn, rate, operators, queues, seed, secret))


async def _serve_simulator(
    conn: Connection, rate: float, operators: int, queues: int, seed: int, secret: str
) -> None:
    from simulator import AmiSimulator, serve

    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    found: list[AmiSimulator] = []

    def ready(sim: AmiSimulator) -> None:
        found.append(sim)
        conn.send(("ready", sim.port))

    def command() -> None:
        try:
            what = conn.recv()
            sim = found[0] if found else None
            sent = sim.events_sent if sim else 0
            slow = sim.slow_disconnects if sim else 0
            conn.send((time.monotonic(), sent, time.process_time(), slow))
        except (EOFError, OSError):  # the parent is gone
            what = "stop"
        if what == "stop":
            loop.remove_reader(conn.fileno())
            stopped.set()

    loop.add_reader(conn.fileno(), command)
    server = asyncio.create_task(
        serve(
            "127.0.0.1",
            0,
            username="bench",
            secret=secret,
            rate=rate,
            seed=seed,
            operators=operators,
            queues=queues,
            ready=ready,
        )
    )
    stopping = asyncio.create_task(stopped.wait())
    await asyncio.wait({server, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (server, stopping):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Simulator(PipedProcess):
    """The parent's handle on the simulator's process."""

    def __init__(self, rate: float, operators: int, queues: int, seed: int) -> None:
        self.secret = secrets.token_urlsafe(16)
        super().__init__(
            _simulator_process, (rate, operators, queues, seed, self.secret), "ami-simulator"
        )

    async def ready(self) -> int:
        """The port it listens on, once it does."""
        kind, port = await self.receive(STARTUP_TIMEOUT)
        assert kind == "ready"
        return int(port)

    async def mark(self, what: str = "mark") -> tuple[float, int, float, int]:
        """(monotonic time, events sent, its CPU seconds, slow-reader disconnects) now."""
        self.send(what)
        answer: tuple[float, int, float, int] = await self.receive(10.0)
        return answer


# --- the measurement -----------------------------------------------------------------


async def measure(
    seconds: float,
    rate: float,
    *,
    operators: int = 200,
    queues: int = 10,
    seed: int = 1,
    redis_url: str = DEFAULT_REDIS_URL,
    warmup: float = 1.0,
    sample_every: float = 1.0,
    on_sample: Callable[[Sample], None] | None = None,
) -> dict[str, Any]:
    """Measure for `seconds` (after `warmup`) with the simulator at about `rate` events/s.

    `on_sample` gets each sample of the backlog as it is taken. See `run`.
    """
    if seconds <= 0 or rate <= 0:
        raise ValueError("seconds and rate must be positive")
    simulator = _Simulator(rate, operators, queues, seed)
    redis = Redis.from_url(redis_url)
    prefix = f"qs-bench-{uuid.uuid4().hex[:12]}:"
    store = StateStore(redis, KeySchema(prefix))
    pipeline = EventPipeline(store)
    ingest: AmiIngest | None = None

    async def known_queues() -> set[str]:
        return await store.ids("queue")

    try:
        port = await simulator.ready()
        ingest = AmiIngest(
            AmiEndpoint("127.0.0.1", port, "bench", simulator.secret),
            EventApplier(pipeline.apply, pipeline.apply_snapshot),
            known_queues=known_queues,
            reconcile_interval=3600.0,
            stats_interval=3600.0,
        )
        status = ingest.status
        ingest.start()
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while status.reconciliations < 1:
                await asyncio.sleep(0.02)
        await asyncio.sleep(warmup)

        def backlog() -> int:
            return status.events_received - status.events_dropped - pipeline.counters.received

        sim_start = await simulator.mark()
        started, cpu_start = time.monotonic(), time.process_time()
        received_start, processed_start = status.events_received, pipeline.counters.received
        applied_start = status.events_applied
        samples: list[Sample] = []
        last = (started, received_start, processed_start)
        deadline = started + seconds
        while (now := time.monotonic()) < deadline:
            await asyncio.sleep(min(sample_every, deadline - now))
            now = time.monotonic()
            interval = now - last[0]
            sample: Sample = {
                "t": round(now - started, 2),
                "backlog": backlog(),
                "received_per_s": (status.events_received - last[1]) / interval,
                "processed_per_s": (pipeline.counters.received - last[2]) / interval,
            }
            samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
            last = (now, status.events_received, pipeline.counters.received)
        sim_end = await simulator.mark()
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_start
        received = status.events_received - received_start
        processed = pipeline.counters.received - processed_start
        applied = status.events_applied - applied_start
        sim_elapsed = sim_end[0] - sim_start[0]
        sent = sim_end[1] - sim_start[1]
        return {
            "seconds": round(elapsed, 2),
            "rate": rate,
            "operators": operators,
            "queues": queues,
            "sent": sent,
            "received": received,
            "processed": processed,
            "applied": applied,
            "sent_per_s": round(sent / sim_elapsed),
            "received_per_s": round(received / elapsed),
            "processed_per_s": round(processed / elapsed),
            "applied_per_s": round(applied / elapsed),
            "backlog_end": backlog(),
            "backlog_max": max((int(s["backlog"]) for s in samples), default=0),
            "samples": samples,
            "ingest_cpu_percent": round(100 * cpu / elapsed, 1),
            "simulator_cpu_percent": round(100 * (sim_end[2] - sim_start[2]) / sim_elapsed, 1),
            "events_dropped": status.events_dropped,
            "reconnects": status.reconnects,
            "slow_disconnects": sim_end[3],
            "redis_errors": status.redis_errors,
            "keeps_up": processed >= 0.98 * sent
            and status.reconnects == 0
            and status.events_dropped == 0,
        }
    finally:
        if ingest is not None:
            await ingest.stop()
        await simulator.stop()
        await delete_prefix(redis, prefix)
        await redis.aclose()


def run(seconds: float, rate: float, **options: Any) -> dict[str, Any]:
    """Run one measurement (see `measure` for the options); the figures as a dict.

    Keys: ``sent_per_s``, ``received_per_s``, ``processed_per_s``,
    ``applied_per_s`` (events/s), ``ingest_cpu_percent`` and
    ``simulator_cpu_percent`` (% of one core), ``backlog_max``/``backlog_end``
    and ``samples`` (events received but not yet in Redis, per second),
    ``keeps_up``, and the counts behind them.
    """
    return asyncio.run(measure(seconds, rate, **options))


def _report(figures: dict[str, Any]) -> str:
    lines = [
        f"AMI ingest throughput: {figures['seconds']} s at a requested {figures['rate']:,.0f}"
        f" events/s ({figures['operators']} operators, {figures['queues']} queues)",
        f"  sent       {figures['sent_per_s']:>9,} events/s  (simulator process)",
        f"  received   {figures['received_per_s']:>9,} events/s  (read off the socket)",
        f"  processed  {figures['processed_per_s']:>9,} events/s  (parsed, reduced, in Redis)",
        f"  applied    {figures['applied_per_s']:>9,} events/s  (of those, changed something)",
        f"  CPU        ingest {figures['ingest_cpu_percent']} % of one core,"
        f" simulator {figures['simulator_cpu_percent']} %",
        f"  backlog    max {figures['backlog_max']:,}, at the end {figures['backlog_end']:,}"
        " events (received, not yet in Redis)",
        f"  faults     {figures['events_dropped']} dropped, {figures['reconnects']} reconnects,"
        f" {figures['slow_disconnects']} slow-reader disconnects,"
        f" {figures['redis_errors']} Redis errors",
        f"  keeps up   {'yes' if figures['keeps_up'] else 'NO'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: measure and print."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest_throughput", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rate", type=float, default=20_000.0, help="events/s asked of the simulator"
    )
    parser.add_argument("--operators", type=int, default=200)
    parser.add_argument("--queues", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), help="real Redis"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    def show(sample: Sample) -> None:
        print(
            f"  t={sample['t']:>5.1f} s  received {sample['received_per_s']:>8,.0f}/s"
            f"  processed {sample['processed_per_s']:>8,.0f}/s"
            f"  backlog {int(sample['backlog']):>7,}",
            flush=True,
        )

    figures = run(
        args.seconds,
        args.rate,
        operators=args.operators,
        queues=args.queues,
        seed=args.seed,
        redis_url=args.redis_url,
        on_sample=show,
    )
    print(_report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
