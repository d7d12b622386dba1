"""One PBX's part of a running app: its namespace, its ingest, its live mirror.

A deployment without PBXES has one PBX (`ingest.pbxes.DEFAULT_PBX`); with
PBXES each PBX gets its own store (keys under its prefix), database sync (its
realtime tables), election, AMI ingest, call records (their `pbx`), live mirror
and broadcaster (its changes channel), supervisor console and alert engine.
The settings, the access policy, the call-records database, the audit trail
and the HTTP metrics stay shared (`api.runtime.Runtime`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from api.action_relay_runtime import SupervisorActions, build_actions
from api.alerts.engine import AlertEngine
from api.audit import AuditTrail
from api.auth import AccessPolicy, PbxAccessPolicy
from api.broadcast import Broadcaster
from api.console import SupervisorConsole
from api.ingest_runtime import build_ingest
from api.leadership_runtime import IngestHolder, Role, build_election, runs_ingest
from api.live import LiveBroadcaster, LiveState
from api.records_runtime import LiveRecords
from api.redis_runtime import RedisFollow
from api.service import QueueStatusService
from api.settings import Settings
from ingest.db.engine import make_engine
from ingest.election import IngestElection, LeaderGate
from ingest.keys import KeySchema
from ingest.metrics import Metrics
from ingest.pbxes import PbxConfig
from ingest.runners.ami_metrics import IngestQueueCollector
from ingest.runners.ami_runner import AmiIngest
from ingest.store import StateStore
from ingest.sync import QueueDataSync


@dataclass
class PbxRuntime:
    """Everything one PBX has in this process."""

    name: str
    config: PbxConfig
    policy: PbxAccessPolicy
    """The access policy narrowed to this PBX: a token that does not cover it gets 404."""
    store: StateStore
    sync: QueueDataSync
    service: QueueStatusService
    mirror: LiveState
    """The live mirror: collection reads use it when it is current, subscriptions always."""
    broadcaster: LiveBroadcaster
    """The one pub/sub connection (its changes channel) that keeps `mirror` current."""
    database: AsyncEngine
    """Its realtime tables' database (the shared engine unless PBX_<NAME>_DATABASE_URL)."""
    metrics: Metrics
    own_database: bool = False
    ingest: AmiIngest | None = None
    records: LiveRecords | None = None
    """Call records: the tap the ingest feeds, the buffer and its drainer to PostgreSQL."""
    console: SupervisorConsole | None = None
    """Supervisor actions on this PBX (checked, sent over its AMI, audited)."""
    alerts: AlertEngine | None = None
    election: IngestElection | None = None
    """This process's candidacy for the PBX's ingest (roles ingest and all, AMI on)."""
    actions: SupervisorActions | None = None
    """How its actions reach its Asterisk here: locally while leading, else relayed to its
    leader (a relay stream of its own, under its prefix)."""
    redis_follow: RedisFollow | None = None
    """The watches on Redis losing its live state (restart, failover, lost writes)."""
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def records_pbx(self) -> str:
        """The `pbx` of its call records ("" for the one PBX without PBXES)."""
        return self.config.records_pbx


def open_pbx(
    settings: Settings,
    config: PbxConfig,
    policy: AccessPolicy,
    metrics: Metrics,
    *,
    redis: Redis,
    engine: AsyncEngine,
    audit: AuditTrail,
    role: Role,
) -> PbxRuntime:
    """Build (not start) one PBX's parts over the shared Redis client and records engine."""
    own_database = config.database_url.get_secret_value() != (
        settings.database_url.get_secret_value()
    )
    database = make_engine(config.database_url.get_secret_value()) if own_database else engine
    store = StateStore(redis, KeySchema(config.key_prefix))
    sync = QueueDataSync(
        store,
        database,
        database_is_authoritative=lambda: not settings.ami_enabled,
        metrics=metrics,
    )
    holder = IngestHolder()
    election = (
        build_election(redis, store.keys, settings.ingest_lease_seconds, metrics.registry, holder)
        if settings.ami_enabled and runs_ingest(role)
        else None
    )
    records = (
        LiveRecords(
            settings,
            redis,
            store.keys,
            engine,  # one call-records database for every PBX: rows carry their pbx
            metrics.registry,
            guard=LeaderGate(election) if election is not None else None,
            pbx=config.records_pbx,
        )
        if runs_ingest(role)
        else None
    )
    holder.records = records
    ingest = holder.ingest = (
        build_ingest(
            settings,
            store,
            sync,
            records.tap if records is not None else None,
            epoch=election.fencing_epoch,
            on_stale=election.refused_as_stale,
            pbx=config,
        )
        if election is not None
        else None
    )
    if ingest is not None:
        metrics.registry.register(IngestQueueCollector(lambda: ingest.status))
    service = QueueStatusService(
        store,
        sync,
        metrics=metrics,
        # A standby has no AMI session of its own to report (/healthz says standby).
        ingest_status=lambda: ingest.status if ingest and election and election.leader else None,
        request_reconcile=ingest.request_reconcile if ingest else None,
    )
    mirror = LiveState(store)
    broadcaster: LiveBroadcaster = Broadcaster(
        store.redis,
        store.keys.changes,
        mirror,
        buffer_size=settings.graphql_subscriber_buffer,
        current_version=store.version,
    )
    actions = build_actions(
        settings,
        redis,
        store,
        database,
        metrics.registry,
        role=role,
        ingest=ingest,
        election=election,
    )
    pbx_policy = PbxAccessPolicy(policy, config.name)
    console = SupervisorConsole(
        service,
        pbx_policy,
        actions.console,
        audit,
        pause_reasons=tuple(settings.pause_reasons),
        metrics=metrics,
        pbx=config.name if settings.several_pbxes else None,
    )
    return PbxRuntime(
        config.name,
        config,
        pbx_policy,
        store,
        sync,
        service,
        mirror,
        broadcaster,
        database,
        metrics,
        own_database=own_database,
        ingest=ingest,
        records=records,
        console=console,
        election=election,
        actions=actions,
    )
