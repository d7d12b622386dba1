"""Wiring of the supervisor actions into a process of any role (`serve --role`).

The elected ingest runs actions on its own AMI session (no Redis round trip)
and serves the ones relayed to it (`ingest.actions.relay_server`); a process
that serves the API without leading — an `api` replica, a standby `all` —
relays its actions to the leader (`api.action_relay`). Without AMI there is no
console at all (actions answer 409).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.action_relay import RelayedConsole
from api.leadership_runtime import Role, serves_api
from api.settings import Settings
from ingest.actions.console import ActionRunner, AsteriskConsole
from ingest.actions.realtime import RealtimeMembers
from ingest.actions.relay_metrics import RelayMetrics
from ingest.actions.relay_server import ActionRelayServer
from ingest.election import IngestElection
from ingest.runners.ami_runner import AmiIngest
from ingest.store import StateStore

HEALTH_TIMEOUT_SECONDS = 1.0


@dataclass
class SupervisorActions:
    """How this process' supervisor actions reach Asterisk, and the relay it serves."""

    redis: Redis
    stream: str
    local: AsteriskConsole | None
    """This process' own AMI session's console (roles with an ingest)."""
    election: IngestElection | None
    relay: RelayedConsole | None
    """The relay to the elected ingest (roles serving the API, AMI enabled)."""
    server: ActionRelayServer | None
    """Runs relayed actions while this process leads."""

    def console(self) -> ActionRunner | None:
        """The console an action uses now: the local one while leading, else the relay."""
        if self.local is not None and self.election is not None and self.election.leader:
            return self.local
        return self.relay if self.relay is not None else self.local

    def start(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Serve relayed actions (while leading) until the lifespan cancels `tasks`."""
        if self.server is not None:
            tasks.append(asyncio.create_task(self.server.run(), name="action-relay"))

    async def health(self) -> dict[str, Any]:
        """`/healthz`'s `actions`: the way actions go now, whether the relay is on, the
        requests waiting in the stream and those this process waits for or runs."""
        current = self.console()
        pending: int | None = None
        if self.relay is not None or self.server is not None:
            try:
                async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                    pending = int(await self.redis.xlen(self.stream))
            except (RedisError, OSError, TimeoutError):
                pending = None
        return {
            "path": None if current is None else "relay" if current.relayed else "local",
            "relay": self.relay is not None,
            "serving": self.server is not None and self.server.serving,
            "pending": pending,
            "waiting": self.relay.waiting if self.relay is not None else 0,
            "running": self.server.running if self.server is not None else 0,
        }


def build_actions(
    settings: Settings,
    redis: Redis,
    store: StateStore,
    database: AsyncEngine,
    registry: CollectorRegistry,
    *,
    role: Role,
    ingest: AmiIngest | None,
    election: IngestElection | None,
) -> SupervisorActions:
    """The actions of a process of `role` (`ingest` and `election` when it is a candidate)."""
    metrics = RelayMetrics(registry)
    local = (
        AsteriskConsole(
            ingest,
            store,
            realtime=RealtimeMembers(database),
            confirm_timeout=settings.action_confirm_timeout,
        )
        if ingest is not None
        else None
    )
    relay = (
        RelayedConsole(
            redis,
            store.keys,
            take_timeout=settings.action_relay_timeout,
            confirm_timeout=settings.action_confirm_timeout,
            metrics=metrics,
        )
        if settings.ami_enabled and serves_api(role)
        else None
    )
    server = (
        ActionRelayServer(
            redis,
            store.keys,
            local,
            election,
            ready=ingest.wait_connected if ingest is not None else None,
            metrics=metrics,
        )
        if local is not None and election is not None
        else None
    )
    return SupervisorActions(redis, store.keys.actions("requests"), local, election, relay, server)


def add_actions(details: dict[str, Any], actions: dict[str, Any]) -> None:
    """Add the `actions` section to /healthz's details (informative: it never changes
    the status — no leader shows in `leadership`, and an action says so itself)."""
    details["actions"] = actions
