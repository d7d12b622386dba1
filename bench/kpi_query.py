"""Scenario 8: the p99 of `queueStats(today, interval 900)` over a month of call records.

A throwaway PostgreSQL database gets a month (``kpi_days``) of ``kpi_calls_per_hour``
calls over three queues (720,000 rows for 30 days at 1,000/hour; an answered call
carries its wrap-up time as the live builder writes it) and their agent intervals
(IN_CALL and WRAP_UP of every answered call), written with COPY. The
product server (`python -m api.cli serve`, AMI off: the queues and their service
levels come from the database) then answers the wallboard's query — today's
per-queue KPIs in 15-minute buckets, every queue — over HTTP from
``kpi_connections`` connections for ``kpi_seconds``. The figure: p50 and p99 latency.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.centre import database_url, drop_database
from bench.config import BenchConfig
from bench.http_load import run_load
from bench.processes import Child, free_port, start_child, wait_http
from ingest.db.migrate import migrate

P99_GOAL_MS = 100.0
QUEUES = (("sales", 20), ("support", 30), ("billing", 60))
MEMBERS = tuple(f"PJSIP/{1000 + n}" for n in range(40))
WRAP_UP_SECONDS = 10
QUERY = """{ queueStats(interval: 900) {
  queue from offered answered completed abandoned serviceLevel serviceLevelWithAbandons
  averageSpeedOfAnswer averageHandleTime longestWait } }"""
CALL_COLUMNS = (
    "pbx", "record_key", "queue", "uniqueid", "caller_num", "entered_at", "position",
    "original_position", "answered_at", "answered_by", "member_name", "ring_attempts",
    "ring_no_answers", "hold_time", "ring_time", "talk_time", "ended_at", "outcome",
    "abandon_position", "timed_out", "source", "wrap_up_time",
)  # fmt: skip
INTERVAL_COLUMNS = (
    "pbx", "record_key", "interface", "queue", "kind", "started_at", "ended_at", "member_name",
    "uniqueid", "source",
)  # fmt: skip


def month_of_records(
    days: int, calls_per_hour: int, *, now: datetime, seed: int = 15
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(call rows, interval rows) for ``days`` days up to ``now`` (deterministic)."""
    rng = random.Random(seed)
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()
    calls: list[tuple[Any, ...]] = []
    intervals: list[tuple[Any, ...]] = []
    for n in range(int(days * 24 * calls_per_hour)):
        queue = QUEUES[n % len(QUEUES)][0]
        uniqueid = f"{n}.{n % 97}"
        entered = start + timedelta(seconds=rng.random() * span)
        hold = int(rng.expovariate(1 / 25))
        roll = rng.random()
        position = 1 + int(rng.expovariate(0.5))
        if roll < 0.8:
            member = MEMBERS[rng.randrange(len(MEMBERS))]
            talk = 20 + int(rng.expovariate(1 / 180))
            answered = entered + timedelta(seconds=hold)
            ended = answered + timedelta(seconds=talk)
            calls.append(
                ("", f"{uniqueid}|{queue}", queue, uniqueid, "0600000000", entered, position,
                 position, answered, member, member, 1, 0, hold, 2, talk, ended,
                 "completed_by_caller", None, None, "ami", WRAP_UP_SECONDS)
            )  # fmt: skip
            for kind, begin, end in (
                ("in_call", answered, ended),
                ("wrap_up", ended, ended + timedelta(seconds=WRAP_UP_SECONDS)),
            ):
                # The call's number too: random arrivals may give one member two at one ms.
                key = f"{member}|{queue}|{kind}|{int(begin.timestamp() * 1000)}|{n}"
                intervals.append(
                    ("", key, member, queue, kind, begin, end, member, uniqueid, "ami")
                )
        else:
            outcome = "abandoned" if roll < 0.95 else "timed_out"
            ended = entered + timedelta(seconds=hold)
            calls.append(
                ("", f"{uniqueid}|{queue}", queue, uniqueid, "0600000000", entered, position,
                 position, None, None, None, 0, 0, hold, None, None, ended, outcome, position,
                 True if outcome == "timed_out" else None, "ami", None)
            )  # fmt: skip
    # In the order the writer would have inserted them: as they ended.
    calls.sort(key=lambda row: row[16])
    intervals.sort(key=lambda row: row[6])
    return calls, intervals


async def _database(config: BenchConfig, now: datetime) -> tuple[str, int]:
    name = f"qs_bench_kpi_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(config.pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url(config.pg_admin_url, name)
    try:
        await _fill(url, config, now)
    except BaseException:
        await drop_database(config.pg_admin_url, url)
        raise
    return url, int(config.kpi_days * 24 * config.kpi_calls_per_hour)


async def _fill(url: str, config: BenchConfig, now: datetime) -> None:
    await migrate(url)
    calls, intervals = month_of_records(config.kpi_days, config.kpi_calls_per_hour, now=now)
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO queues (name, strategy, servicelevel) VALUES ($1, 'ringall', $2)", QUEUES
        )
        # As autovacuum would have left a month of records: the days before today
        # vacuumed (all visible, so index-only scans skip the table), today's calls not
        # (with the default settings it vacuums a 720,000-row table every ~145,000 inserts).
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for rows, vacuum in (
            ([row for row in calls if row[16] < today], True),
            ([row for row in calls if row[16] >= today], False),
        ):
            await connection.copy_records_to_table(
                "queue_call_records", records=rows, columns=CALL_COLUMNS
            )
            if vacuum:
                await connection.execute("VACUUM queue_call_records")
        await connection.copy_records_to_table(
            "queue_agent_intervals", records=intervals, columns=INTERVAL_COLUMNS
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def measure(config: BenchConfig, workdir: Path) -> dict[str, Any]:
    """Generate the month, serve it, load the query; the figures."""
    now = datetime.now(UTC)
    url, calls = await _database(config, now)
    port = free_port()
    server: Child | None = None
    try:
        server = await start_child(
            "server-kpi",
            ["-m", "api.cli", "serve"],
            env={
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "REDIS_URL": config.redis_url,
                "REDIS_KEY_PREFIX": f"qs-bench-kpi-{uuid.uuid4().hex[:8]}:",
                "DATABASE_URL": url,
                "AMI_ENABLED": "false",
                "API_TOKENS": "",
                "LOG_FILE": "",
                "LOG_LEVEL": "WARNING",
                "SITE_TIMEZONE": "UTC",
            },
            workdir=workdir,
        )
        base = f"http://127.0.0.1:{port}"
        await wait_http(server, f"{base}/healthz", timeout=120)
        body = orjson.dumps({"query": QUERY})
        await run_load(f"{base}/graphql", connections=1, seconds=0.5, body=body, tool="python")
        load = await run_load(
            f"{base}/graphql",
            connections=config.kpi_connections,
            seconds=config.kpi_seconds,
            body=body,
            tool=config.http_tool,
        )
    finally:
        if server is not None:
            await server.stop()
        await drop_database(config.pg_admin_url, url)
    return {
        "calls": calls,
        "calls_per_hour": config.kpi_calls_per_hour,
        "days": config.kpi_days,
        "connections": config.kpi_connections,
        "p50_ms": round(load.p50_ms, 2),
        "p99_ms": round(load.p99_ms, 2),
        "rps": round(load.rps, 1),
        "errors": load.errors,
    }
