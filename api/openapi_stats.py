"""The OpenAPI description of the KPI routes (`api.rest_stats`), merged by `api.openapi`."""

from __future__ import annotations

from typing import Any

from ingest.records.kpi.call_list import CURSOR_PATTERN, OUTCOMES

JsonSchema = dict[str, Any]
PREFIX = "/api/queue-status"
QUEUE_STATS_PATH = f"{PREFIX}/stats/queues"
AGENT_STATS_PATH = f"{PREFIX}/stats/agents"
CALLS_PATH = f"{PREFIX}/calls"

_INT = {"type": "integer"}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NUMBER = {"type": "number"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_TEXT = {"type": ["string", "null"]}

QUEUE_STATS: JsonSchema = {
    "type": "object",
    "required": ["queue", "from", "to", "offered", "answered", "completed", "abandoned"],
    "properties": {
        "queue": {"type": "string"},
        "from": _TIME,
        "to": _TIME,
        **{
            name: _INT
            for name in (
                "offered",
                "answered",
                "completed",
                "abandoned",
                "timedOut",
                "shortAbandoned",
            )
        },
        "serviceLevelSeconds": _NULLABLE_INT,
        "answeredWithinServiceLevel": _NULLABLE_INT,
        "serviceLevel": _NULLABLE_NUMBER,
        "serviceLevelWithAbandons": _NULLABLE_NUMBER,
        "averageSpeedOfAnswer": _NULLABLE_NUMBER,
        "averageHandleTime": _NULLABLE_NUMBER,
        "longestWait": _NULLABLE_INT,
    },
}
AGENT_STATS: JsonSchema = {
    "type": "object",
    "required": ["memberId", "queue", "from", "to", "callsTaken"],
    "properties": {
        "memberId": {"type": "string"},
        "memberName": _NULLABLE_TEXT,
        "queue": {"type": "string"},
        "from": _TIME,
        "to": _TIME,
        "callsTaken": _INT,
        **{
            name: _NUMBER
            for name in (
                "talkTime",
                "wrapUpTime",
                "ringTime",
                "pausedTime",
                "loggedInTime",
                "availableTime",
            )
        },
        "pauseTimeByReason": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["reason", "seconds"],
                "properties": {"reason": {"type": "string"}, "seconds": _NUMBER},
            },
        },
        "occupancy": _NULLABLE_NUMBER,
    },
}
CALL: JsonSchema = {
    "type": "object",
    "required": ["id", "queue", "uniqueid", "endedAt", "outcome", "ringAttempts", "source"],
    "properties": {
        "id": _INT,
        "queue": {"type": "string"},
        "uniqueid": {"type": "string"},
        "callerNumber": _NULLABLE_TEXT,
        "callerName": _NULLABLE_TEXT,
        "enteredAt": _NULLABLE_TIME,
        "answeredAt": _NULLABLE_TIME,
        "endedAt": _TIME,
        "wait": _NULLABLE_INT,
        "position": _NULLABLE_INT,
        "originalPosition": _NULLABLE_INT,
        "abandonPosition": _NULLABLE_INT,
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "timedOut": {"type": ["boolean", "null"]},
        "answeredBy": _NULLABLE_TEXT,
        "memberName": _NULLABLE_TEXT,
        "ringAttempts": _INT,
        "talkTime": _NULLABLE_INT,
        "source": {"type": "string"},
    },
}


def _list(item: JsonSchema) -> JsonSchema:
    return {"type": "array", "items": item}


STATS_SUCCESS: dict[tuple[str, str], tuple[str, JsonSchema, bool]] = {
    ("get", QUEUE_STATS_PATH): ("200", _list(QUEUE_STATS), True),
    ("get", AGENT_STATS_PATH): ("200", _list(AGENT_STATS), True),
    ("get", CALLS_PATH): ("200", _list(CALL), True),
}
STATS_PAGED: dict[tuple[str, str], JsonSchema] = {
    ("get", CALLS_PATH): {
        "pageInfo": {
            "type": "object",
            "required": ["endCursor", "hasNextPage"],
            "properties": {
                "endCursor": {"type": ["string", "null"]},
                "hasNextPage": {"type": "boolean"},
            },
        }
    }
}
STATS_QUERY_PATTERNS = {(CALLS_PATH, "after"): CURSOR_PATTERN}
# Query parameters that take one of a few values (anything else: 422).
STATS_QUERY_ENUMS = {(CALLS_PATH, "outcome"): list(OUTCOMES)}


def document_csv(paths: JsonSchema) -> None:
    """Say that the KPI routes answer CSV too (`Accept: text/csv`)."""
    for path in (QUEUE_STATS_PATH, AGENT_STATS_PATH, CALLS_PATH):
        operation = paths.get(path, {}).get("get")
        if operation is None:
            continue
        done = operation.get("responses", {}).get("200")
        if done is not None:
            done.setdefault("content", {})["text/csv"] = {
                "schema": {"type": "string", "description": "A header line, then one per row."}
            }
