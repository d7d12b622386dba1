"""`auditLog`: the audit trail of supervisor actions, for admins (REST: GET /audit).

`AuditQuery` holds the field; the schema's Query root takes it in
(`api.graphql.schema`), so the read queries' module stays as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from api.audit import AuditPage, StoredEntry
from api.audit_query import DEFAULT_PAGE, MAX_PAGE
from api.auth import Action
from api.errors import Unavailable
from api.graphql import fields as resolver
from api.graphql.context import Info
from api.graphql.pbx import PbxArgument
from api.runtime import Runtime, runtime_of


@strawberry.type(
    description="One supervisor action (accepted or refused) as the audit recorded it."
)
class AuditLogEntry:
    """A row of `queue_status_audit`."""

    id: strawberry.ID = strawberry.field(description="The row's id (increasing).")
    at: datetime = strawberry.field(description="When the action was asked for (UTC).")
    role: str | None = strawberry.field(
        description="The role of the caller's token (viewer, supervisor, admin); null without one."
    )
    token_fingerprint: str | None = strawberry.field(
        description="The first 8 hex digits of the token's SHA-256 (never the token)."
    )
    scope: str = strawberry.field(description="The token's queue scope: `*` or `q1+q2`.")
    action: str = strawberry.field(
        description="The mutation asked for, e.g. pauseOperator, addQueueMember."
    )
    queue: str | None = strawberry.field(description="The queue it concerned, if any.")
    member_id: str | None = strawberry.field(description="The member it concerned, if any.")
    arguments: JSON = strawberry.field(description="What the caller sent (never a secret).")
    outcome: str = strawberry.field(
        description=(
            "ok; pending (sent, not yet confirmed); refused (by us: role, scope, validation); "
            "rejected (by Asterisk); failed (AMI down, a timeout)."
        )
    )
    via: str | None = strawberry.field(
        description="How it reached Asterisk: `ami` or `realtime` (its database table)."
    )
    asterisk_message: str | None = strawberry.field(
        description="Asterisk's answer (`Message:`), if it answered."
    )
    message: str | None = strawberry.field(description="Our own message about the outcome.")
    duration_ms: int = strawberry.field(description="How long the action took, in milliseconds.")

    @classmethod
    def from_stored(cls, stored: StoredEntry) -> AuditLogEntry:
        """Build from a row as `AuditTrail.query` gives it."""
        entry = stored.entry
        return cls(
            id=strawberry.ID(str(stored.id)),
            at=stored.at,
            role=entry.role,
            token_fingerprint=entry.token_fingerprint,
            scope=entry.scope,
            action=entry.action,
            queue=entry.queue,
            member_id=entry.member_id,
            arguments=JSON(entry.arguments),
            outcome=entry.outcome,
            via=entry.via,
            asterisk_message=entry.asterisk_message,
            message=entry.message,
            duration_ms=entry.duration_ms,
        )


@strawberry.type(description="Where a page of the audit log ends.")
class AuditLogPageInfo:
    """Cursor pagination."""

    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null for an empty page."
    )
    has_next_page: bool = strawberry.field(description="Whether older entries follow.")


@strawberry.type(description="One page of the audit log, newest first.")
class AuditLogPage:
    """`api.audit_query.AuditPage`."""

    entries: list[AuditLogEntry] = strawberry.field(description="The entries, newest first.")
    count: int = strawberry.field(description="How many entries this page holds.")
    page_info: AuditLogPageInfo = strawberry.field(description="Where the page ends.")
    buffered: int = strawberry.field(
        description=(
            "Entries recorded but not written yet (the database was down): not in any page "
            "until they are written."
        )
    )

    @classmethod
    def from_page(cls, page: AuditPage) -> AuditLogPage:
        """Build from `AuditTrail.query`'s page."""
        return cls(
            entries=[AuditLogEntry.from_stored(stored) for stored in page.entries],
            count=len(page.entries),
            page_info=AuditLogPageInfo(
                end_cursor=page.end_cursor, has_next_page=page.has_next_page
            ),
            buffered=page.buffered,
        )


def _runtime(info: Info) -> Runtime:
    request = info.context.request
    if request is None:
        raise Unavailable("the audit log is not available here")
    return runtime_of(request.app)


@strawberry.type(description="The audit log's field of the Query root.")
class AuditQuery:
    """Merged into the Query root by `api.graphql.schema`."""

    @resolver.field(
        "Supervisor actions (accepted or refused), newest first; admin only (a scoped admin "
        "sees its queues' entries). REST: GET /audit."
    )
    async def audit_log(
        self,
        info: Info,
        since: Annotated[
            datetime | None,
            strawberry.argument(name="from", description="Entries at or after this time."),
        ] = None,
        until: Annotated[
            datetime | None,
            strawberry.argument(name="to", description="Entries before this time."),
        ] = None,
        queue: Annotated[
            str | None, strawberry.argument(description="Only entries about this queue.")
        ] = None,
        member_id: Annotated[
            str | None,
            strawberry.argument(description="Only entries about this member, e.g. PJSIP/1001."),
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(description=f"Page size, 1..{MAX_PAGE} (null: {DEFAULT_PAGE})."),
        ] = DEFAULT_PAGE,
        after: Annotated[
            str | None,
            strawberry.argument(description="The endCursor of the previous page."),
        ] = None,
        pbx: PbxArgument = None,
    ) -> AuditLogPage:
        """`AuditTrail.query` for an admin's grant."""
        ctx = info.context.at(pbx, info)
        grant = ctx.policy.check(Action.ADMIN, ctx.authorization)
        runtime = _runtime(info)
        page = await runtime.audit.query(
            since=since,
            until=until,
            queue=queue,
            member_id=member_id,
            first=DEFAULT_PAGE if first is None else first,
            after=after,
            queues_in_scope=grant.queues,
            pbx=ctx.name if runtime.several else None,
        )
        return AuditLogPage.from_page(page)
