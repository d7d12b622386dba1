"""The service's reports: synchronization, database vs Redis, what `clear` removed.

The answers of the admin operations (`syncStatus`, `resync`, `clear`), as the
REST routes of the same names give them. Unlike the entity types
(`api.graphql.types`), these are built from the service's JSON reports, not
from the stored entities.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from api.graphql.scalars import Timestamp, Version, as_int, as_timestamp, as_version
from api.graphql.stored import as_float, as_str, as_strings
from ingest.patches import JsonObject


@strawberry.type(description="What one database → Redis synchronization did.")
class SyncReport:
    """`ingest.sync.SyncReport`."""

    members: int = strawberry.field(description="queue_members rows read.")
    queues: int = strawberry.field(description="queues rows read.")
    operators: int = strawberry.field(description="Distinct interfaces (operators) configured.")
    removed_operators: list[str] = strawberry.field(
        description="Operators removed because the database no longer has them."
    )
    removed_queues: list[str] = strawberry.field(description="Queues removed likewise.")
    removed_memberships: list[str] = strawberry.field(
        description="Memberships removed likewise, as `interface@queue`."
    )
    changes: int = strawberry.field(description="Changes the sync applied to the live state.")
    version: Version = strawberry.field(description="The store version after the sync.")
    duration_ms: float = strawberry.field(description="How long it took, in milliseconds.")
    finished_at: Timestamp | None = strawberry.field(description="When it finished.")
    authoritative: bool = strawberry.field(
        description=(
            "True when the database decided membership (AMI disabled); false while AMI "
            "is connected and only adds and updates were applied."
        )
    )

    @classmethod
    def from_json(cls, data: JsonObject) -> SyncReport:
        """Build from `SyncReport.as_json()`."""
        return cls(
            members=as_int(data.get("members")) or 0,
            queues=as_int(data.get("queues")) or 0,
            operators=as_int(data.get("operators")) or 0,
            removed_operators=as_strings(data.get("removedOperators")),
            removed_queues=as_strings(data.get("removedQueues")),
            removed_memberships=as_strings(data.get("removedMemberships")),
            changes=as_int(data.get("changes")) or 0,
            version=as_version(data.get("version")) or Version(0),
            duration_ms=as_float(data.get("durationMs")) or 0.0,
            finished_at=as_timestamp(data.get("finishedAt")),
            authoritative=bool(data.get("authoritative")),
        )


@strawberry.type(description="What differs between the database and Redis.")
class SyncDifferences:
    """The four id lists of `syncStatus.differences`."""

    operators_missing_in_redis: list[str] = strawberry.field(
        description="Configured interfaces with no operator in Redis."
    )
    operators_not_in_db: list[str] = strawberry.field(
        description="Operators in Redis the database does not configure."
    )
    queues_missing_in_redis: list[str] = strawberry.field(
        description="Configured queues missing in Redis."
    )
    queues_not_in_db: list[str] = strawberry.field(
        description="Queues in Redis the database does not configure."
    )

    @classmethod
    def from_json(cls, data: JsonObject) -> SyncDifferences:
        """Build from the `differences` object."""
        return cls(
            operators_missing_in_redis=as_strings(data.get("operatorsMissingInRedis")),
            operators_not_in_db=as_strings(data.get("operatorsNotInDb")),
            queues_missing_in_redis=as_strings(data.get("queuesMissingInRedis")),
            queues_not_in_db=as_strings(data.get("queuesNotInDb")),
        )


_SYNC_STATUS_FIELDS = frozenset(
    {
        "dbMembers",
        "dbQueues",
        "redisOperators",
        "redisQueues",
        "redisChannels",
        "inSync",
        "databaseError",
        "differences",
        "lastSync",
        "lastSyncError",
    }
)


@strawberry.type(
    description=(
        "Database vs Redis: the runbook's five counts, what differs, the last sync, and "
        "the AMI ingest's own status. The same data as REST `GET /api/queue-status/sync/status`."
    )
)
class SyncStatus:
    """`service.sync_status()`."""

    db_members: int | None = strawberry.field(
        description="queue_members rows; null when the database is unreachable."
    )
    db_queues: int | None = strawberry.field(
        description="queues rows; null when the database is unreachable."
    )
    redis_operators: int = strawberry.field(description="Operators in Redis.")
    redis_queues: int = strawberry.field(description="Queues in Redis.")
    redis_channels: int = strawberry.field(description="Active channels in Redis.")
    in_sync: bool = strawberry.field(description="True when nothing differs.")
    database_error: str | None = strawberry.field(
        description="Why the database could not be read, when it could not."
    )
    differences: SyncDifferences | None = strawberry.field(
        description="What differs; null when the database could not be read."
    )
    last_sync: SyncReport | None = strawberry.field(
        description="The last successful synchronization, null before the first."
    )
    last_sync_error: str | None = strawberry.field(
        description="Why the last synchronization failed, null when it did not."
    )
    ingest: JSON | None = strawberry.field(
        description=(
            "What the AMI ingest reports about itself (amiConnected, lastEventAt, "
            "counters, drift), as REST merges it into this object; null when AMI is off."
        )
    )

    @classmethod
    def from_json(cls, data: JsonObject) -> SyncStatus:
        """Build from `service.sync_status()`; unknown keys are the ingest's."""
        differences = data.get("differences")
        last_sync = data.get("lastSync")
        ingest = {k: v for k, v in data.items() if k not in _SYNC_STATUS_FIELDS}
        return cls(
            db_members=as_int(data.get("dbMembers")),
            db_queues=as_int(data.get("dbQueues")),
            redis_operators=as_int(data.get("redisOperators")) or 0,
            redis_queues=as_int(data.get("redisQueues")) or 0,
            redis_channels=as_int(data.get("redisChannels")) or 0,
            in_sync=bool(data.get("inSync")),
            database_error=as_str(data.get("databaseError")),
            differences=SyncDifferences.from_json(differences)
            if isinstance(differences, dict)
            else None,
            last_sync=SyncReport.from_json(last_sync) if isinstance(last_sync, dict) else None,
            last_sync_error=as_str(data.get("lastSyncError")),
            ingest=JSON(ingest) if ingest else None,
        )


@strawberry.type(description="What `clear` removed from Redis.")
class ClearResult:
    """Counts per kind; the same data as REST `DELETE /api/queue-status/clear`."""

    operators: int = strawberry.field(description="Operators removed.")
    queues: int = strawberry.field(description="Queues removed.")
    channels: int = strawberry.field(description="Channels removed.")

    @classmethod
    def from_json(cls, data: JsonObject) -> ClearResult:
        """Build from `service.clear()`."""
        return cls(
            operators=as_int(data.get("operators")) or 0,
            queues=as_int(data.get("queues")) or 0,
            channels=as_int(data.get("channels")) or 0,
        )
