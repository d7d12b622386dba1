"""What a running app holds: everything its lifespan opened, typed.

The composition root (`api.app`) builds one `Runtime` per lifespan and keeps
it as the app's only state; REST routes, the GraphQL context and the
operational routes reach the policy and each PBX's parts (`api.pbx_runtime`)
through `runtime_of(app)` and `Runtime.pbx(name)`, never by looking for
attributes. The `store`, `service`, `mirror`… properties are the default
PBX's (the first of PBXES, or the only one), for the code that has one PBX.
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
from api.auth import AccessPolicy, unknown_pbx
from api.console import SupervisorConsole
from api.errors import BadInput
from api.leadership_runtime import Role
from api.live import LiveBroadcaster, LiveState
from api.pbx_runtime import PbxRuntime
from api.records_runtime import LiveRecords
from api.redis_runtime import RedisFollow
from api.service import QueueStatusService
from api.settings import Settings
from ingest.election import IngestElection
from ingest.loop_lag import LoopLag
from ingest.redis_sentinel import MasterWatch
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
    """The shared database: call records, audit, alert rules (and realtime tables unless a
    PBX has its own)."""
    audit: AuditTrail
    """Supervisor actions as rows of `queue_status_audit`: `audit.record(AuditEntry(...))`."""
    pbxes: dict[str, PbxRuntime]
    """Every PBX, the default one first (`ingest.pbxes`)."""
    role: Role = "all"
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    master_watch: MasterWatch | None = None
    """Behind Sentinel, the process's one watch on the master (every PBX follows it)."""
    loop_lag: LoopLag = field(default_factory=LoopLag)
    """The event loop's lag (API and ingest share the loop), for /healthz and /metrics."""

    def pbx(self, name: str | None = None, *, required: bool = False) -> PbxRuntime:
        """The PBX `name` (None: the default one; with `required` and several PBXes a
        BadInput naming `pbx`). An unknown name is NotFound; a token's scope is applied
        by the PBX's policy (`PbxRuntime.policy`), with the same NotFound."""
        if name is None or name == "":
            if required and len(self.pbxes) > 1:
                raise BadInput(
                    "pbx is required: this server has several PBXes (see the pbxes query)"
                )
            return self.default
        found = self.pbxes.get(name)
        if found is None:
            raise unknown_pbx(name)
        return found

    @property
    def default(self) -> PbxRuntime:
        """The default PBX: the first of PBXES, or the only one."""
        return next(iter(self.pbxes.values()))

    @property
    def several(self) -> bool:
        """Whether PBXES names several PBXes (or one, by name)."""
        return self.settings.several_pbxes

    # The default PBX's parts, for code (and tests) of a single PBX.

    @property
    def store(self) -> StateStore:
        return self.default.store

    @property
    def sync(self) -> QueueDataSync:
        return self.default.sync

    @property
    def service(self) -> QueueStatusService:
        return self.default.service

    @property
    def mirror(self) -> LiveState:
        return self.default.mirror

    @property
    def broadcaster(self) -> LiveBroadcaster:
        return self.default.broadcaster

    @property
    def ingest(self) -> AmiIngest | None:
        return self.default.ingest

    @property
    def records(self) -> LiveRecords | None:
        return self.default.records

    @property
    def console(self) -> SupervisorConsole | None:
        return self.default.console

    @property
    def alerts(self) -> AlertEngine | None:
        return self.default.alerts

    @property
    def election(self) -> IngestElection | None:
        return self.default.election

    @property
    def actions(self) -> SupervisorActions | None:
        return self.default.actions

    @property
    def redis_follow(self) -> RedisFollow | None:
        return self.default.redis_follow


def runtime_of(app: Starlette) -> Runtime:
    """The runtime of a running app (its lifespan set it)."""
    runtime: Runtime = app.state.runtime
    return runtime
