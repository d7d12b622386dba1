"""GET /api/queue-status/stats/queues, /stats/agents and /calls: KPIs from the call records.

Same arguments as GraphQL's `queueStats`, `agentStats` and `calls`, as query
parameters: `from`, `to` (ISO 8601; omitted: today's ends in SITE_TIMEZONE),
`interval` (seconds, 60..86400; omitted: one row for the range), `queue`,
`memberId`, `outcome`, `first`, `after`. JSON `{success, data, count}` (the
calls also `pageInfo`); `Accept: text/csv` gives CSV. Read access; a token
scoped to some queues sees only theirs. See `api.stats` for the errors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from api.pbx_runtime import PbxRuntime
from api.responses import OrjsonResponse
from api.rest import PREFIX, EmptyIsAbsent, QueueFilter, ReadGrant
from api.rest_audit import After, Iso8601, MemberFilter
from api.rest_pbx import RequestPbx
from api.runtime import runtime_of
from api.stats import RecordStats
from api.stats_json import call_json, csv_response, wants_csv
from ingest.records.kpi.call_list import DEFAULT_PAGE, MAX_PAGE, OUTCOMES
from ingest.records.kpi.periods import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS

QUEUE_STATS_PATH = "/stats/queues"
AGENT_STATS_PATH = "/stats/agents"
CALLS_PATH = "/calls"
QUEUE_COLUMNS = (
    "queue", "from", "to", "offered", "answered", "completed", "abandoned", "timedOut",
    "shortAbandoned", "serviceLevelSeconds", "answeredWithinServiceLevel", "serviceLevel",
    "serviceLevelWithAbandons", "averageSpeedOfAnswer", "averageHandleTime", "longestWait",
)  # fmt: skip
AGENT_COLUMNS = (
    "memberId", "memberName", "queue", "from", "to", "callsTaken", "talkTime", "wrapUpTime",
    "ringTime", "pausedTime", "pauseTimeByReason", "loggedInTime", "availableTime", "occupancy",
)  # fmt: skip
CALL_COLUMNS = (
    "id", "queue", "uniqueid", "callerNumber", "callerName", "enteredAt", "answeredAt",
    "endedAt", "wait", "position", "originalPosition", "abandonPosition", "outcome", "timedOut",
    "answeredBy", "memberName", "ringAttempts", "talkTime", "source",
)  # fmt: skip

router = APIRouter(prefix=PREFIX, tags=["queue-status"], default_response_class=OrjsonResponse)

Since = Annotated[
    datetime | None,
    Query(
        alias="from",
        description="From this time, inclusive (ISO 8601; naive: site time; omitted: "
        "today's midnight in SITE_TIMEZONE).",
    ),
    EmptyIsAbsent,
    Iso8601,
]
Until = Annotated[
    datetime | None,
    Query(
        alias="to",
        description="Until this time, exclusive (ISO 8601; omitted: tonight's midnight).",
    ),
    EmptyIsAbsent,
    Iso8601,
]
Interval = Annotated[
    int | None,
    Query(
        ge=MIN_INTERVAL_SECONDS,
        le=MAX_INTERVAL_SECONDS,
        description="Bucket length in seconds, aligned to the site's midnight (e.g. 900); "
        "omitted: one row for the whole range.",
    ),
    EmptyIsAbsent,
]
Outcome = Annotated[
    str | None,
    Query(max_length=32, description=f"Only calls that ended so: {', '.join(OUTCOMES)}."),
    EmptyIsAbsent,
]
First = Annotated[
    int | None,
    Query(ge=1, le=MAX_PAGE, description=f"Page size, 1..{MAX_PAGE} (default {DEFAULT_PAGE})."),
    EmptyIsAbsent,
]
Accept = Annotated[str | None, Header(include_in_schema=False)]


def _stats(request: Request, pbx: PbxRuntime) -> RecordStats:
    runtime = runtime_of(request.app)
    return RecordStats.from_settings(
        runtime.engine, pbx.store, runtime.settings, pbx=pbx.records_pbx
    )


def _answer(rows: list[dict[str, Any]], columns: tuple[str, ...], accept: str | None) -> Response:
    if wants_csv(accept):
        return csv_response(rows, columns)
    return OrjsonResponse({"success": True, "data": rows, "count": len(rows)})


@router.get(QUEUE_STATS_PATH)
async def queue_stats(
    request: Request,
    pbx: RequestPbx,
    grant: ReadGrant,
    queue: QueueFilter = None,
    since: Since = None,
    until: Until = None,
    interval: Interval = None,
    accept: Accept = None,
) -> Response:
    """KPIs per queue (and interval) from the call records: offered, answered, abandoned,
    service level… (`Accept: text/csv` for CSV)."""
    rows = await _stats(request, pbx).queue_stats(
        grant, queue=queue, since=since, until=until, interval=interval
    )
    return _answer([row.as_json() for row in rows], QUEUE_COLUMNS, accept)


@router.get(AGENT_STATS_PATH)
async def agent_stats(
    request: Request,
    pbx: RequestPbx,
    grant: ReadGrant,
    member_id: MemberFilter = None,
    queue: QueueFilter = None,
    since: Since = None,
    until: Until = None,
    interval: Interval = None,
    accept: Accept = None,
) -> Response:
    """KPIs per member, queue (and interval): calls taken, talk, pause by reason,
    available time, occupancy (`Accept: text/csv` for CSV)."""
    rows = await _stats(request, pbx).agent_stats(
        grant, member_id=member_id, queue=queue, since=since, until=until, interval=interval
    )
    return _answer([row.as_json() for row in rows], AGENT_COLUMNS, accept)


@router.get(CALLS_PATH)
async def calls(
    request: Request,
    pbx: RequestPbx,
    grant: ReadGrant,
    queue: QueueFilter = None,
    since: Since = None,
    until: Until = None,
    outcome: Outcome = None,
    first: First = None,
    after: After = None,
    accept: Accept = None,
) -> Response:
    """Calls entered in the range, newest first, one page at a time (e.g. `outcome=abandoned`:
    the abandoned calls with caller number, wait and position)."""
    stats = _stats(request, pbx)
    page = await stats.calls(
        grant,
        queue=queue,
        since=since,
        until=until,
        outcome=outcome,
        first=DEFAULT_PAGE if first is None else first,
        after=after,
    )
    data = [call_json(call, stats.zone) for call in page.calls]
    if wants_csv(accept):
        return csv_response(data, CALL_COLUMNS)
    return OrjsonResponse(
        {
            "success": True,
            "data": data,
            "count": len(data),
            "pageInfo": {"endCursor": page.end_cursor, "hasNextPage": page.has_next_page},
        }
    )
