"""GET /api/queue-status/audit: the audit log of supervisor actions (admin only).

`?from=&to=` (ISO 8601; `from` inclusive, `to` exclusive), `?queue=`,
`?memberId=`, `?first=` (1..500, default 50), `?after=` (the `endCursor` of
the previous page). Newest first; an admin token scoped to some queues sees
only their rows. Answers `{success, data, count, pageInfo: {endCursor,
hasNextPage}, buffered}`, `buffered` being the rows recorded but not written
yet (the database was down; they are not in `data`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BeforeValidator

from api.audit_query import DEFAULT_PAGE, MAX_PAGE
from api.auth import Action, Grant
from api.responses import OrjsonResponse
from api.rest import PREFIX, EmptyIsAbsent, QueueFilter
from api.rest_pbx import RequestPbx
from api.runtime import runtime_of

AUDIT_PATH = "/audit"

router = APIRouter(prefix=PREFIX, tags=["queue-status"], default_response_class=OrjsonResponse)


async def admin_grant(
    pbx: RequestPbx, authorization: Annotated[str | None, Header()] = None
) -> Grant:
    """The caller's grant on the request's PBX, once the policy allows admin reads (else
    401/403; 404 for a PBX out of its scope)."""
    return pbx.policy.check(Action.ADMIN, authorization)


admin_grant.action = Action.ADMIN  # type: ignore[attr-defined]  # read by api.openapi


def _iso_8601(value: object) -> object:
    # pydantic would also read "-58800" as a Unix time; the parameter says ISO 8601.
    if isinstance(value, str) and value:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 time, e.g. 2026-12-02T09:00:00Z") from None
    return value


Iso8601 = BeforeValidator(_iso_8601)
Since = Annotated[
    datetime | None,
    Query(alias="from", description="Entries at or after this time (ISO 8601)."),
    EmptyIsAbsent,
    Iso8601,
]
Until = Annotated[
    datetime | None,
    Query(alias="to", description="Entries before this time (ISO 8601)."),
    EmptyIsAbsent,
    Iso8601,
]
MemberFilter = Annotated[
    str | None,
    Query(alias="memberId", max_length=128, description="Only entries about this member."),
    EmptyIsAbsent,
]
First = Annotated[
    int | None,
    Query(ge=1, le=MAX_PAGE, description=f"Page size, 1..{MAX_PAGE} (default {DEFAULT_PAGE})."),
    EmptyIsAbsent,
]
After = Annotated[
    str | None,
    Query(max_length=64, description="The endCursor of the previous page."),
    EmptyIsAbsent,
]


@router.get(AUDIT_PATH)
async def audit_log(
    request: Request,
    pbx: RequestPbx,
    grant: Annotated[Grant, Depends(admin_grant)],
    since: Since = None,
    until: Until = None,
    queue: QueueFilter = None,
    member_id: MemberFilter = None,
    first: First = None,
    after: After = None,
) -> OrjsonResponse:
    """Supervisor actions (accepted or refused), newest first, one page at a time."""
    runtime = runtime_of(request.app)
    page = await runtime.audit.query(
        since=since,
        until=until,
        queue=queue,
        member_id=member_id,
        first=DEFAULT_PAGE if first is None else first,
        after=after,
        queues_in_scope=grant.queues,
        pbx=pbx.name if runtime.several else None,
    )
    body: dict[str, Any] = page.as_json()
    return OrjsonResponse(body)
