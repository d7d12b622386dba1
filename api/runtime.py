"""What a running app holds: everything its lifespan opened, typed.

The composition root (`api.app`) builds one `Runtime` per lifespan and keeps
it as the app's only state; REST routes, the GraphQL context and the
operational routes reach the service, the policy and the live mirror through
`runtime_of(app)`, never by looking for attributes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.action_relay_runtime import SupervisorActions
from api.alerts.engine import AlertEngine
from api.audit import AuditTrail
from api.auth import AccessPolicy
from api.console import SupervisorConsole
from api.leadership_runtime import Role
from api.live import LiveBroadcaster, LiveState
from api.records_runtime import LiveRecords
from api.redis_runtime import RedisFollow
from api.service import QueueStatusService
from api.settings import Settings
from ingest.election import IngestElection
from ingest.runners.ami_runner import AmiIngest
from ingest.store import StateStore
from ingest.sync import QueueDataSync


@dataclass
class Runtime:
    """Everything the lifespan opened, for handlers and for a clean shutdown."""

    settings: Settings
    policy: AccessPolicy
    redis: Redis
    engine: AsyncEngine
    store: StateStore
    sync: QueueDataSync
    service: QueueStatusService
    mirror: LiveState
    """The live mirror: collection reads use it when it is current, subscriptions always."""
    broadcaster: LiveBroadcaster
    """The one pub/sub connection that keeps `mirror` current and feeds the subscriptions."""
    audit: AuditTrail
    """Supervisor actions as rows of `queue_status_audit`: `audit.record(AuditEntry(...))`."""
    ingest: AmiIngest | None = None
    records: LiveRecords | None = None
    """Call records: the tap the ingest feeds, the buffer and its drainer to PostgreSQL."""
    console: SupervisorConsole | None = None
    """Supervisor actions on Asterisk (checked, sent over the ingest's AMI, audited)."""
    alerts: AlertEngine | None = None
    """The alert engine (`api.alerts`): rules evaluated on the live mirror."""
    election: IngestElection | None = None
    """This process's candidacy for the PBX's ingest (roles ingest and all, AMI on)."""
    actions: SupervisorActions | None = None
    """How actions reach Asterisk here: locally while leading, else relayed to the leader."""
    role: Role = "all"
    redis_follow: RedisFollow | None = None
    """The watches on Redis losing the live state (restart, failover, lost writes)."""
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def runtime_of(app: Starlette) -> Runtime:
    """The runtime of a running app (its lifespan set it)."""
    runtime: Runtime = app.state.runtime
    return runtime
