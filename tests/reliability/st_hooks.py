"""Schemathesis hooks of the suite (``SCHEMATHESIS_HOOKS=tests.reliability.st_hooks``).

`no_internal_error`: a GraphQL answer may carry errors — an unknown operator is
NOT_FOUND, a bad argument BAD_USER_INPUT — but never a 5xx, and never an error
without a code or coded INTERNAL_SERVER_ERROR (schemathesis' own GraphQL check
counts every error as a server error).

`map_case`: a KPI query whose `from`, `to` and `interval` each fit the document
but together do not (`to` not after `from`, more than MAX_BUCKETS buckets) is
refused with 422 by a rule across parameters that no schema can state; a
positive case that breaks it is sent without its range (today, one row), so
"valid data accepted" is checked on what the document can promise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import schemathesis
from schemathesis import GenerationMode

from ingest.records.kpi.periods import PeriodError, make_period

RANGED_PATHS = frozenset(
    f"/api/queue-status/{path}" for path in ("stats/queues", "stats/agents", "calls")
)
RANGE_PARAMETERS = ("from", "to", "interval")


@schemathesis.check  # type: ignore[untyped-decorator,unused-ignore]  # untyped without the reliability extra
def no_internal_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx and no internal error in the body."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return None
    for error in (body or {}).get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code in (None, "INTERNAL_SERVER_ERROR"):
            raise AssertionError(f"{code}: {error.get('message')}")
    return None


@schemathesis.hook  # type: ignore[untyped-decorator,unused-ignore]
def map_case(ctx: Any, case: Any) -> Any:
    """A positive KPI case whose range and interval clash loses them (see the module's doc)."""
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode == GenerationMode.POSITIVE
    if not positive or case.operation.path not in RANGED_PATHS or not case.query:
        return case
    if not _range_clashes(case.query):
        return case
    case.query = {k: v for k, v in case.query.items() if k not in RANGE_PARAMETERS}
    return case


def _range_clashes(query: dict[str, Any]) -> bool:
    try:
        since, until = (_moment(query.get(name)) for name in ("from", "to"))
        interval = query.get("interval")
        interval = int(interval) if interval not in (None, "") else None
    except (TypeError, ValueError):
        return False  # not this rule's business
    try:
        make_period(since, until, interval, zone=ZoneInfo("UTC"), now=datetime.now(UTC))
    except PeriodError:
        return True
    return False


def _moment(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
