"""The `pbxes` query: the PBXes of this server the token may see, with their health."""

from __future__ import annotations

from typing import Any

import strawberry

from api.auth import Action
from api.errors import Unavailable
from api.graphql import fields as resolver
from api.graphql.context import Info
from api.graphql.scalars import Timestamp, Version
from api.pbx_health import visible_pbxes
from api.runtime import runtime_of


@strawberry.type(description="A PBX (Asterisk) of this server and its health at a glance.")
class Pbx:
    """One entry of `api.pbx_health.visible_pbxes`."""

    name: str = strawberry.field(
        description="Its name in PBXES (`default` without PBXES): the `pbx` argument's value."
    )
    status: str = strawberry.field(description="ok, degraded or down (as /healthz says).")
    ami_enabled: bool = strawberry.field(description="Whether this process runs its AMI ingest.")
    ami_connected: bool = strawberry.field(description="Whether its AMI session is up.")
    leadership: str | None = strawberry.field(
        description="leader or standby in its ingest election; null without an ingest."
    )
    epoch: int | None = strawberry.field(description="Its leader's fencing epoch.")
    version: Version | None = strawberry.field(
        description="Its store version (null while Redis does not answer)."
    )
    last_sync_at: Timestamp | None = strawberry.field(
        description="When its configuration was last synchronized from its database."
    )
    last_sync_error: str | None = strawberry.field(description="Why the last sync failed.")
    records_buffered: int | None = strawberry.field(
        description="Its call records waiting for PostgreSQL (null where none are drained)."
    )

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Pbx:
        """From `pbx_summary`."""
        return cls(
            name=entry["name"],
            status=str(entry["status"]),
            ami_enabled=entry["amiEnabled"],
            ami_connected=entry["amiConnected"],
            leadership=entry["leadership"],
            epoch=entry["epoch"],
            version=None if entry["version"] is None else Version(entry["version"]),
            last_sync_at=None if not entry["lastSyncAt"] else Timestamp(entry["lastSyncAt"]),
            last_sync_error=entry["lastSyncError"],
            records_buffered=entry["recordsBuffered"],
        )


@strawberry.type(description="The PBXes' field of the Query root.")
class PbxQuery:
    """Merged into the Query root by `api.graphql.schema`."""

    @resolver.field(
        "The PBXes of this server the token may see (one, `default`, without PBXES), in "
        "PBXES order, each with its health. REST: GET /pbxes."
    )
    async def pbxes(self, info: Info) -> list[Pbx]:
        """`api.pbx_health.visible_pbxes`."""
        info.context.grant(Action.READ)
        request = info.context.request
        if request is None:
            raise Unavailable("the PBXes are not available here")
        runtime = runtime_of(request.app)
        found = await visible_pbxes(
            runtime.pbxes.values(), runtime.role, info.context.authorization
        )
        return [Pbx.of(entry) for entry in found]
