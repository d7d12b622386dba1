"""Call records written per second while the ingest takes ~10,000 AMI events/s.

The simulator (rate mode, its own process, as in `bench.ingest_throughput`)
streams a generated call centre; the real `AmiIngest` applies it through an
`EventPipeline` with a records tap, and a `RecordDrainer` writes the buffered
records to a throwaway PostgreSQL database (migrated, dropped afterwards),
all in this process, as in the service. Prints the events/s processed, the
records built and written per second, and the drain backlog (records in the
Redis buffer) over time. Goal: the drainer keeps up — the backlog stays
bounded (at its end no more than two drain batches, or one second of records).

    python -m bench.records_throughput --seconds 20 --rate 10000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from typing import Any

import asyncpg
from redis.asyncio import Redis

from bench.ingest_throughput import STARTUP_TIMEOUT, _Simulator
from bench.redis_keys import delete_prefix
from ingest.ami.connection import AmiEndpoint
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.keys import KeySchema
from ingest.pipeline import EventPipeline
from ingest.records.buffer import RecordBuffer
from ingest.records.drainer import RecordDrainer
from ingest.records.lease import RedisLease
from ingest.records.tap import RecordsTap
from ingest.runners.ami_runner import AmiIngest, EventApplier
from ingest.store import StateStore

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 1000


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def measure(
    seconds: float,
    rate: float = 10_000.0,
    *,
    operators: int = 200,
    queues: int = 10,
    redis_url: str = DEFAULT_REDIS_URL,
    pg_admin_url: str = DEFAULT_PG_ADMIN_URL,
    warmup: float = 1.0,
    progress: Any = None,
) -> dict[str, Any]:
    """One measurement; the figures (see the module's doc)."""
    name = f"qs_bench_records_{uuid.uuid4().hex[:10]}"
    await _admin(pg_admin_url, f'CREATE DATABASE "{name}"')
    database_url = f"{pg_admin_url.rsplit('/', 1)[0]}/{name}"
    simulator = _Simulator(rate, operators, queues, 1)
    redis = Redis.from_url(redis_url)
    prefix = f"qs-bench-{uuid.uuid4().hex[:12]}:"
    keys = KeySchema(prefix)
    store = StateStore(redis, keys)
    engine = make_engine(database_url)
    buffer = RecordBuffer(redis, keys)
    drainer = RecordDrainer(
        buffer, engine, RedisLease(redis, keys.records("lease")), batch_size=BATCH
    )
    tap = RecordsTap(buffer, on_buffered=drainer.wake)
    pipeline = EventPipeline(store, records=tap)
    ingest: AmiIngest | None = None

    async def known_queues() -> set[str]:
        return await store.ids("queue")

    try:
        await migrate(database_url)
        port = await simulator.ready()
        ingest = AmiIngest(
            AmiEndpoint("127.0.0.1", port, "bench", simulator.secret),
            EventApplier(pipeline.apply, pipeline.apply_snapshot),
            known_queues=known_queues,
            reconcile_interval=3600.0,
            stats_interval=3600.0,
        )
        ingest.start()
        drainer.start()
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while ingest.status.reconciliations < 1:
                await asyncio.sleep(0.02)
        await asyncio.sleep(warmup)
        started = time.monotonic()
        events0, built0, written0 = pipeline.counters.received, tap.counters.built, drainer.written
        backlog: list[int] = []
        while time.monotonic() - started < seconds:
            await asyncio.sleep(1.0)
            backlog.append(await buffer.length())
            if progress is not None:
                progress(
                    f"  t={time.monotonic() - started:>5.1f} s  built {tap.counters.built - built0:>8,}"
                    f"  written {drainer.written - written0:>8,}  backlog {backlog[-1]:>6,}"
                )
        elapsed = time.monotonic() - started
        built = tap.counters.built - built0
        written = drainer.written - written0
        goal = max(2 * BATCH, round(built / elapsed))
        return {
            "seconds": round(elapsed, 2),
            "rate": rate,
            "events_per_s": round((pipeline.counters.received - events0) / elapsed),
            "records_built_per_s": round(built / elapsed),
            "records_written_per_s": round(written / elapsed),
            "backlog_max": max(backlog, default=0),
            "backlog_end": backlog[-1] if backlog else 0,
            "backlog_goal": goal,
            "keeps_up": (backlog[-1] if backlog else 0) <= goal,
            "overflowed": tap.counters.overflowed,
            "database_errors": drainer.last_error,
        }
    finally:
        if ingest is not None:
            await ingest.stop()
        await drainer.stop()
        await simulator.stop()
        await engine.dispose()
        await delete_prefix(redis, prefix)
        await redis.aclose()
        await _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(figures: dict[str, Any]) -> str:
    """The scenario's lines, with its goal met or not."""
    return "\n".join(
        [
            f"Call records at {figures['rate']:,.0f} events/s requested"
            f" ({figures['seconds']} s): {figures['events_per_s']:,} events/s processed",
            f"  records built    {figures['records_built_per_s']:>7,}/s",
            f"  records written  {figures['records_written_per_s']:>7,}/s  (PostgreSQL)",
            f"  drain backlog    max {figures['backlog_max']:,}, at the end"
            f" {figures['backlog_end']:,} (goal: at most {figures['backlog_goal']:,})",
            f"  keeps up         {'yes' if figures['keeps_up'] else 'NO'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: measure and print."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.records_throughput", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=10_000.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    figures = asyncio.run(measure(args.seconds, args.rate, progress=print))
    print(report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
