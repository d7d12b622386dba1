"""A simulated Asterisk configured from the realtime tables: the demo's PBX.

The demo seeds its database and points this simulator at the same queues and
members, so the live traffic concerns exactly the operators the sync loaded.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable

from ingest.db import repository as db
from simulator import config as sim

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
        by_queue[member.queue_name].append(
            sim.MemberSetup(
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
        )
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
