"""Scenario 3, the runbook's "Redis vs DB": the operator list, ready to send, from each.

PostgreSQL: the realtime tables read with SQLAlchemy (the product's
repository: ORM rows, app_queue's defaults applied), grouped into the
operator list — one entry per interface with its memberships — and encoded
as JSON. Redis: what GET /operators does, the store's read of every operator
(one round trip) joined into the JSON array as stored. Beside it, the same
read parsed into dicts (what the filtered routes and GraphQL start from).
All in this process, alternating, the median of each reported.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import orjson

from bench.stack import Stack
from ingest.db.engine import make_engine
from ingest.db.repository import DbConfig, load_config
from ingest.patches import JsonObject


def operators_from_db(config: DbConfig) -> list[JsonObject]:
    """The operator list the realtime tables describe, sorted by memberId."""
    operators: dict[str, JsonObject] = {}
    for member in config.members:
        operator = operators.setdefault(
            member.interface,
            {
                "memberId": member.interface,
                "memberName": member.member_name,
                "stateInterface": member.state_interface,
                "queueName": member.queue_name,
                "queues": {},
            },
        )
        operator["queues"][member.queue_name] = {
            "queueName": member.queue_name,
            "penalty": member.penalty,
            "paused": member.paused,
            "pausedReason": member.paused_reason or "",
            "wrapupTime": config.wrapup_time_of(member),
            "membership": "realtime",
        }
    for operator in operators.values():
        memberships = operator["queues"].values()
        operator["paused"] = all(m["paused"] for m in memberships)
    return [operators[key] for key in sorted(operators)]


async def measure(stack: Stack, iterations: int) -> dict[str, Any]:
    """Median ms per read of the whole operator list from PostgreSQL and from Redis."""
    engine = make_engine(stack.database_url)
    database: list[float] = []
    redis: list[float] = []
    parsed: list[float] = []
    try:
        from_db = operators_from_db(await load_config(engine))  # warm: pool, statements
        from_redis = await stack.store.all("operator")
        for _ in range(iterations):
            started = time.perf_counter()
            orjson.dumps(operators_from_db(await load_config(engine)))
            database.append(time.perf_counter() - started)
            started = time.perf_counter()
            (await stack.store.raw("operator")).json()
            redis.append(time.perf_counter() - started)
            started = time.perf_counter()
            await stack.store.all("operator")
            parsed.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    database_ms = 1000 * statistics.median(database)
    redis_ms = 1000 * statistics.median(redis)
    return {
        "operators_from_db": len(from_db),
        "operators_from_redis": len(from_redis),
        "postgres_ms": database_ms,
        "redis_ms": redis_ms,
        "redis_parsed_ms": 1000 * statistics.median(parsed),
        "ratio": database_ms / redis_ms if redis_ms else None,
        "iterations": iterations,
    }
