"""A large call-centre floor for the wallboard's layout tests and screenshots.

`operators` agents ("Agent 1" … "Agent 1000", interfaces a permutation of
PJSIP/3000…, so that name and extension orders differ) spread evenly over
`queues` queues, configured in PostgreSQL (the app's startup sync mirrors them
into Redis, AMI off), then given live states straight in Redis: available,
in a call, ringing, on hold, paused with a reason, in wrap-up, unavailable.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg

from ingest.patches import Patch
from ingest.store import StateStore

QUEUE_NAMES = (
    "sales",
    "support",
    "billing",
    "vip",
    "retention",
    "onboarding",
    "tech",
    "claims",
    "renewals",
    "escalations",
)
# (store status, paused, in wrap-up) per operator, cycled: most available or talking.
_STATES = (
    ("idle", False, False),
    ("in_call", False, False),
    ("idle", False, False),
    ("ringing", False, False),
    ("in_call", False, False),
    ("idle", True, False),
    ("on_hold", False, False),
    ("idle", False, True),
    ("unavailable", False, False),
    ("in_call", False, False),
    ("idle", False, False),
    ("in_call", True, False),
)
REASONS = ("lunch", "coaching", "training")


@dataclass(frozen=True)
class FloorAgent:
    """One operator of the floor."""

    member_id: str
    name: str
    queue: str
    status: str
    paused: bool
    wrapup: bool


def floor_agents(operators: int, queues: int) -> list[FloorAgent]:
    """The floor's operators, in the order they were hired (not sorted)."""
    names = QUEUE_NAMES[:queues] if queues <= len(QUEUE_NAMES) else [f"q{n}" for n in range(queues)]
    agents = []
    for n in range(1, operators + 1):
        status, paused, wrapup = _STATES[(n * 7) % len(_STATES)]
        agents.append(
            FloorAgent(
                member_id=f"PJSIP/{3000 + (n * 379) % operators}",
                name=f"Agent {n}",
                queue=names[(n - 1) % len(names)],
                status=status,
                paused=paused,
                wrapup=wrapup,
            )
        )
    return agents


def expected_state(agent: FloorAgent) -> str:
    """The state key the board shows for the agent (view.js / state.js tileState)."""
    if agent.status != "idle":
        return agent.status
    if agent.paused:
        return "paused"
    return "wrapup" if agent.wrapup else "idle"


async def configure(database_url: str, agents: list[FloorAgent]) -> None:
    """The floor's memberships in Asterisk's realtime table."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.executemany(
            "INSERT INTO queue_members (queue_name, interface, membername, state_interface,"
            " penalty, uniqueid) VALUES ($1, $2, $3, $2, 0, $4)",
            [(a.queue, a.member_id, a.name, 5000 + i) for i, a in enumerate(agents)],
        )
    finally:
        await connection.close()


async def set_live_states(store: StateStore, agents: list[FloorAgent]) -> None:
    """Once the sync has mirrored them: every agent's live state, straight into Redis."""
    async with asyncio.timeout(30):
        while len(await store.ids("operator")) < len(agents):
            await asyncio.sleep(0.1)
    now = int(time.time() * 1000)
    patches = []
    for i, agent in enumerate(agents):
        since = now - (i * 7919 % 3600) * 1000  # up to an hour in the state
        membership: dict[str, object] = {"paused": agent.paused}
        if agent.paused:
            # Asterisk's epoch seconds, as the ingest stores them.
            membership |= {"pausedReason": REASONS[i % len(REASONS)], "lastPause": since // 1000}
        if agent.wrapup:
            # The store derives wrap-up's end from the last call and the wrap-up time:
            # ten minutes (a long one, but as a floor would show it), begun up to two
            # minutes ago, so that it lasts the whole test.
            membership |= {"lastCall": now // 1000 - i % 120, "wrapupTime": 600}
        patches.append(
            Patch(
                "operator",
                agent.member_id,
                {"status": agent.status, "statusSince": since, "queues": {agent.queue: membership}},
            )
        )
    for start in range(0, len(patches), 200):
        await store.apply(patches[start : start + 200])
