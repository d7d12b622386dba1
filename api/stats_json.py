"""The KPI rows and calls as the REST API sends them: JSON objects and CSV.

JSON: the rows' own `as_json` (field names shared with GraphQL). CSV (when a
request prefers `text/csv`): one header line of those names, one line per row;
nested values (pause time per reason) as ``reason=seconds`` joined by ``;``,
null as an empty cell. Times as ISO 8601 with the site's offset.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from ingest.records.kpi.call_list import CallEntry
from ingest.records.repository import from_epoch_ms

CSV_MEDIA_TYPE = "text/csv"


def wants_csv(accept: str | None) -> bool:
    """Whether an Accept header asks for CSV before JSON (q-values are not weighed)."""
    if not accept:
        return False
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media == CSV_MEDIA_TYPE:
            return True
        if media in ("application/json", "*/*", "application/*"):
            return False
    return False


def _local(ms: int | None, zone: ZoneInfo) -> str | None:
    moment: datetime | None = from_epoch_ms(ms)
    return None if moment is None else moment.astimezone(zone).isoformat()


def call_json(call: CallEntry, zone: ZoneInfo) -> dict[str, Any]:
    """One call of the list (REST field names, as GraphQL's `CallRecord`)."""
    return {
        "id": call.id,
        "queue": call.queue,
        "uniqueid": call.uniqueid,
        "callerNumber": call.caller_number,
        "callerName": call.caller_name,
        "enteredAt": _local(call.entered_at, zone),
        "answeredAt": _local(call.answered_at, zone),
        "endedAt": _local(call.ended_at, zone),
        "wait": call.wait,
        "position": call.position,
        "originalPosition": call.original_position,
        "abandonPosition": call.abandon_position,
        "outcome": call.outcome,
        "timedOut": call.timed_out,
        "answeredBy": call.answered_by,
        "memberName": call.member_name,
        "ringAttempts": call.ring_attempts,
        "talkTime": call.talk_time,
        "source": call.source,
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(f"{item['reason']}={item['seconds']}" for item in value)
    return str(value)


def csv_response(rows: Sequence[dict[str, Any]], columns: Iterable[str]) -> Response:
    """``rows`` as CSV (the header line even when there is no row)."""
    names = list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in names])
    return Response(buffer.getvalue(), media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8")
