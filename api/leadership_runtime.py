"""Wiring of the process's role (`serve --role`) and of the ingest election.

`api`: the API only (no AMI ingest, no records drainer). `ingest`: the AMI
ingest and the records drainer, serving only /healthz and /metrics. `all`
(the default): both. Every `ingest` or `all` process with AMI enabled is a
candidate in the PBX's election (`ingest.election`): only the leader consumes
AMI (fencing its writes with its epoch) and drains the call records.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from api.records_runtime import LiveRecords
from ingest.election import ElectionMetrics, IngestElection
from ingest.keys import KeySchema
from ingest.runners.ami_runner import AmiIngest

Role = Literal["api", "ingest", "all"]
ROLES: tuple[Role, ...] = get_args(Role)


def serves_api(role: Role) -> bool:
    """Whether the role serves REST, GraphQL and the wallboard."""
    return role != "ingest"


def runs_ingest(role: Role) -> bool:
    """Whether the role is a candidate for the AMI ingest (and drains call records)."""
    return role != "api"


class IngestHolder:
    """The ingest (and the call records' open calls) the election starts and stops; both
    are built after the election, which the ingest's pipeline asks for the epoch."""

    def __init__(self) -> None:
        self.ingest: AmiIngest | None = None
        self.records: LiveRecords | None = None

    async def elected(self, epoch: int) -> None:
        """Leading: the open calls the last leader kept, then a new AMI session, whose
        startup reconcile comes before its events."""
        if self.records is not None:
            await self.records.take_over()
        if self.ingest is not None:
            self.ingest.start()

    async def deposed(self, reason: str) -> None:
        """Standby: stop consuming AMI at once; at a clean stop keep the open calls for
        the next leader (deposed otherwise, the successor has taken over already)."""
        if self.ingest is not None:
            await self.ingest.halt(f"stepped down: {reason}")
        if self.records is not None and reason == "stopping":
            await self.records.hand_over()


def build_election(
    redis: Redis,
    keys: KeySchema,
    lease_seconds: float,
    registry: CollectorRegistry,
    holder: IngestHolder,
) -> IngestElection:
    """This process's candidacy; `holder.ingest` is set once built."""
    return IngestElection(
        redis,
        keys,
        lease_seconds=lease_seconds,
        on_elected=holder.elected,
        on_deposed=holder.deposed,
        metrics=ElectionMetrics(registry),
    )


def add_role(details: dict[str, Any], role: Role, election: IngestElection | None) -> None:
    """The `role`, `leadership` (leader, standby; null without an ingest) and `epoch`
    of /healthz; a standby's AMI section says it waits rather than looking down."""
    details["role"] = role
    if election is None:
        details["leadership"] = None
        details["epoch"] = None
        return
    state = election.state()
    details.update(state)
    if not election.leader:
        details["ami"] = {"amiEnabled": True, "standby": True}
