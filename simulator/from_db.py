"""A simulated Asterisk configured from the realtime tables: the demo's PBX.

The demo seeds its database and points this simulator at the same queues and
members, so the live traffic concerns exactly the operators the sync loaded.
:func:`realtime_members` and :func:`realtime_update` keep it in step with the
tables afterwards, as app_queue does: rows re-read when a queue is used,
pause/penalty/ringinuse changes written back (``AmiSimulator(realtime_members=…,
realtime_update=…)``, see :mod:`simulator.realtime`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.db import repository as db
from ingest.db.engine import database_errors, session_factory
from ingest.db.models import Queue, QueueMember
from simulator import config as sim
from simulator.realtime import MemberRows

_WRITABLE = {"paused": int, "penalty": int, "reason_paused": str, "ringinuse": str}
"""The ``queue_members`` columns app_queue writes back, and their Python types."""

# Enough for a lively wallboard: a caller every ~3 s, pauses now and then.
DEMO_TRAFFIC = sim.TrafficConfig(
    arrival_rate=0.35, mean_patience=75.0, mean_talk=25.0, pause_rate=3.0, mean_pause=60.0
)


def centre_from_db(
    queues: Iterable[db.QueueConfig],
    members: Iterable[db.MemberConfig],
    *,
    traffic: sim.TrafficConfig = DEMO_TRAFFIC,
    seed: int = 0,
) -> sim.CentreConfig:
    """The simulator's call centre for these rows (realtime members, as Asterisk loads them)."""
    rng = random.Random(seed)
    by_queue: dict[str, list[sim.MemberSetup]] = defaultdict(list)
    phones: dict[str, sim.PhoneConfig] = {}
    for member in members:
        by_queue[member.queue_name].append(member_setup(member))
        phones.setdefault(
            member.state_interface,
            sim.PhoneConfig(
                ring_delay=round(rng.uniform(1.5, 6.0), 1),
                talk_time=traffic.mean_talk,
                no_answer=0.08,
            ),
        )
    configs = tuple(
        sim.QueueSetup(
            name=queue.name,
            strategy=queue.strategy if queue.strategy in sim.STRATEGIES else "ringall",
            timeout=float(queue.timeout),
            retry=float(queue.retry),
            wrapuptime=queue.wrapup_time,
            autopause=queue.autopause != "no",
            servicelevel=queue.service_level or 60,
            weight=queue.weight,
            maxlen=queue.max_len,
            members=tuple(by_queue.get(queue.name, ())),
        )
        for queue in queues
    )
    return sim.CentreConfig(configs, phones, traffic=traffic, quirks=0.1)


def member_setup(member: db.MemberConfig) -> sim.MemberSetup:
    """A ``queue_members`` row (app_queue's fallbacks applied) as a realtime member."""
    return sim.MemberSetup(
        interface=member.interface,
        name=member.member_name,
        state_interface=member.state_interface,
        penalty=member.penalty,
        membership="realtime",
        paused=member.paused,
        paused_reason=member.paused_reason or "",
        wrapuptime=member.wrapup_time or 0,
        ringinuse=bool(member.ringinuse),
    )


def realtime_members(engine: AsyncEngine) -> Callable[[str], Awaitable[MemberRows]]:
    """The realtime member source reading ``engine``'s tables (for ``AmiSimulator``).

    ``await source(queue)``: the queue's ``queue_members`` rows ordered by
    interface (as res_config_pgsql returns them), or None when ``queues`` has
    no such row (not a realtime queue: left alone). A database error raises
    :class:`~ingest.db.engine.DatabaseUnavailable` (the simulator logs it and
    keeps its members).
    """

    async def source(queue: str) -> MemberRows:
        async with (
            database_errors(engine, f"read the realtime members of {queue}"),
            session_factory(engine)() as session,
            session.begin(),
        ):
            known = await session.scalar(select(Queue.name).where(Queue.name == queue))
            if known is None:
                return None
            rows = await session.scalars(
                select(QueueMember)
                .where(QueueMember.queue_name == queue)
                .order_by(QueueMember.interface)
            )
            return [member_setup(db.member_config_from_row(row)) for row in rows]

    return source


def realtime_update(
    engine: AsyncEngine,
) -> Callable[[str, str, Mapping[str, str]], Awaitable[None]]:
    """The write-back into ``engine``'s ``queue_members`` (app_queue's
    ``update_realtime_member_field``): ``await write(queue, interface, fields)``.

    Columns other than paused, reason_paused, penalty and ringinuse are ignored.
    """

    async def write(queue: str, interface: str, fields: Mapping[str, str]) -> None:
        values: dict[str, int | str] = {}
        for column, value in fields.items():
            kind = _WRITABLE.get(column)
            if kind is not None:
                values[column] = kind(value)
        if not values:
            return
        async with (
            database_errors(engine, f"update realtime member {interface} of {queue}"),
            engine.begin() as connection,
        ):
            await connection.execute(
                update(QueueMember)
                .where(QueueMember.queue_name == queue, QueueMember.interface == interface)
                .values(values)
            )

    return write
