"""Each PBX's health: the details /healthz shows and the summary of the `pbxes` listing
(REST `GET /api/queue-status/pbxes`, GraphQL `pbxes`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from api.action_relay_runtime import add_actions
from api.health import add_alerts, add_records, database_ping
from api.leadership_runtime import Role, add_role
from api.pbx_runtime import PbxRuntime
from api.redis_runtime import add_redis


async def pbx_health(pbx: PbxRuntime, role: Role) -> tuple[bool, dict[str, Any]]:
    """(serving, details) of one PBX: Redis (and the losses of its state seen), its
    realtime database, its AMI, its role in its election, how its actions go, its call
    records and alerts (the /healthz shape)."""
    serving, details = await pbx.service.health(lambda: database_ping(pbx.database))
    add_role(details, role, pbx.election)
    if pbx.actions is not None:
        add_actions(details, await pbx.actions.health())
    add_redis(details, pbx.redis_follow)
    if pbx.records is not None:
        add_records(details, await pbx.records.health())
    if pbx.alerts is not None:
        add_alerts(details, pbx.alerts.health())
    return serving, details


async def pbx_summary(pbx: PbxRuntime, role: Role) -> dict[str, Any]:
    """One entry of the `pbxes` listing: the PBX's name and health at a glance."""
    _, details = await pbx_health(pbx, role)
    ami = details.get("ami") or {}
    records = details.get("records") or {}
    try:
        version: int | None = await pbx.store.version()
    except RedisError:
        version = None
    report = pbx.sync.last_report
    return {
        "name": pbx.name,
        "status": details.get("status"),
        "amiEnabled": bool(ami.get("amiEnabled")),
        "amiConnected": bool(ami.get("amiConnected")),
        "leadership": details.get("leadership"),
        "epoch": details.get("epoch"),
        "version": version,
        "lastSyncAt": None if report is None else report.finished_at,
        "lastSyncError": pbx.sync.last_error,
        "recordsBuffered": records.get("buffered"),
    }


async def visible_pbxes(
    pbxes: Iterable[PbxRuntime], role: Role, authorization: str | None
) -> list[dict[str, Any]]:
    """The `pbxes` listing: every PBX the presented token (if any) covers, in PBXES order."""
    return [await pbx_summary(pbx, role) for pbx in pbxes if pbx.policy.sees(authorization)]
