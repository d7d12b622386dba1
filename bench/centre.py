"""The benchmarked call centre: N operators, queues and calls to match.

One layout feeds both sides, so they agree: its rows go into a PostgreSQL
database of the run's own (the realtime tables Asterisk reads), and the AMI
simulator is configured from the same rows. The model then runs for a while
so that calls are in progress — the server's first reconciliation with the
simulator fills Redis with operators, queues, waiting callers and channels
exactly as it would from Asterisk.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from ingest.db.migrate import migrate
from ingest.db.models import QueueStrategy
from ingest.db.repository import MemberConfig, QueueConfig
from simulator import CallCentre, TrafficConfig
from simulator.from_db import centre_from_db

OPERATORS_PER_QUEUE = 20
FIRST_EXTENSION = 20000


@dataclass(frozen=True, slots=True)
class Layout:
    """Queues and members of a generated call centre."""

    operators: int
    queues: tuple[QueueConfig, ...]
    members: tuple[MemberConfig, ...]

    def interface(self, index: int) -> str:
        """The interface (memberId) of operator `index`."""
        return f"PJSIP/{FIRST_EXTENSION + index}"


def queue_count(operators: int) -> int:
    """Queues for `operators` operators: one per twenty, at least two."""
    return max(2, operators // OPERATORS_PER_QUEUE)


def make_layout(operators: int) -> Layout:
    """`operators` operators over `queue_count(operators)` queues; every third operator
    also serves the next queue, so multi-queue members exist."""
    if operators < 1:
        raise ValueError("need at least one operator")
    count = queue_count(operators)
    strategies: tuple[QueueStrategy, ...] = (
        "rrmemory",
        "leastrecent",
        "ringall",
        "linear",
        "fewestcalls",
    )
    queues = tuple(
        QueueConfig(
            name=f"q{n:03d}",
            strategy=strategies[n % len(strategies)],
            service_level=30,
            wrapup_time=5 if n % 2 else 0,
            timeout=15,
        )
        for n in range(count)
    )
    members: list[MemberConfig] = []
    for index in range(operators):
        interface = f"PJSIP/{FIRST_EXTENSION + index}"
        homes = [index % count]
        if index % 3 == 0:
            homes.append((index + 1) % count)
        for penalty, home in enumerate(homes):
            members.append(
                MemberConfig(
                    queue_name=queues[home].name,
                    interface=interface,
                    member_name=f"Operator {index}",
                    state_interface=interface,
                    penalty=penalty,
                    uniqueid=len(members) + 1,
                )
            )
    return Layout(operators, queues, tuple(members))


def traffic_for(operators: int) -> TrafficConfig:
    """Callers enough to keep about half of the operators on a call."""
    return TrafficConfig(
        arrival_rate=max(0.25, operators / 40),
        mean_patience=60.0,
        mean_talk=20.0,
        pause_rate=2.0,
        mean_pause=120.0,
    )


def build_model(layout: Layout, *, warm_seconds: float = 60.0, seed: int = 1) -> CallCentre:
    """The simulator's call centre for `layout`, run for `warm_seconds` of model time
    (calls in progress, callers waiting); its events so far are discarded: the server
    learns the state from its first reconciliation."""
    config = centre_from_db(
        layout.queues, layout.members, traffic=traffic_for(layout.operators), seed=seed
    )
    model = CallCentre(config, seed=seed)
    model.run_for(warm_seconds)
    model.drain()
    return model


def database_url(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server of `admin_url`."""
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


async def create_database(admin_url: str, layout: Layout) -> str:
    """A new database with Asterisk's realtime tables holding `layout`; its URL."""
    name = f"qs_bench_{uuid.uuid4().hex[:12]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    url = database_url(admin_url, name)
    await migrate(url)
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO queues (name, strategy, servicelevel, wrapuptime, timeout)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (q.name, q.strategy, q.service_level, q.wrapup_time, q.timeout)
                for q in layout.queues
            ],
        )
        await connection.executemany(
            "INSERT INTO queue_members (queue_name, interface, membername, state_interface,"
            " penalty, paused, uniqueid) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (
                    m.queue_name,
                    m.interface,
                    m.member_name,
                    m.state_interface,
                    m.penalty,
                    int(m.paused),
                    m.uniqueid,
                )
                for m in layout.members
            ],
        )
    finally:
        await connection.close()
    return url


async def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of `url` (a run's own)."""
    name = url.rsplit("/", 1)[1]
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(admin_url: str, sql: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()
