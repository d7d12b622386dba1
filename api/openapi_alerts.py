"""The OpenAPI description of the alert routes (`api.rest_alerts`), merged by `api.openapi`.

A rule's body is described kind by kind (`oneOf`, on `kind`): which fields a
kind takes and the ranges of its threshold are what `api.alerts.rules.validate`
checks, so a body the document calls valid is stored and one it calls invalid
is refused (422).
"""

from __future__ import annotations

from typing import Any

from api.alerts.evaluator import AlertState, SubjectKind
from api.alerts.rules import (
    MAX_CLEAR_SECONDS,
    MAX_NAME,
    MAX_REASON,
    MAX_URL,
    MAX_WINDOW_MINUTES,
    TEXT_PATTERN,
    RuleKind,
)

JsonSchema = dict[str, Any]
PREFIX = "/api/queue-status"
RULES_PATH = f"{PREFIX}/alerts/rules"
RULE_PATH = f"{RULES_PATH}/{{rule_id}}"
ALERTS_PATH = f"{PREFIX}/alerts"
BODY_NAME = "RuleBody"

KINDS = [kind.value for kind in RuleKind]
_NULLABLE_TEXT = {"type": ["string", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_TIME = {"type": "string", "format": "date-time"}

RULE: JsonSchema = {
    "type": "object",
    "required": [
        "id",
        "name",
        "kind",
        "queue",
        "threshold",
        "windowMinutes",
        "reason",
        "clearSeconds",
        "clearMargin",
        "enabled",
        "webhookUrl",
        "updatedAt",
        "pbx",
    ],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": KINDS},
        "queue": {**_NULLABLE_TEXT, "description": "null: every queue."},
        "threshold": {"type": "number"},
        "windowMinutes": {"type": ["integer", "null"]},
        "reason": _NULLABLE_TEXT,
        "clearSeconds": {"type": "integer"},
        "clearMargin": {"type": "number"},
        "enabled": {"type": "boolean"},
        "webhookUrl": _NULLABLE_TEXT,
        "updatedAt": {"type": ["string", "null"], "format": "date-time"},
        "pbx": {**_NULLABLE_TEXT, "description": "The PBX it watches (PBXES); null: every PBX."},
    },
}
ALERT: JsonSchema = {
    "type": "object",
    "required": [
        "state",
        "ruleId",
        "ruleName",
        "kind",
        "subjectType",
        "subject",
        "queue",
        "value",
        "threshold",
        "since",
        "at",
        "text",
    ],
    "properties": {
        "state": {"type": "string", "enum": [state.value for state in AlertState]},
        "ruleId": {"type": "integer"},
        "ruleName": {"type": "string"},
        "kind": {"type": "string", "enum": KINDS},
        "subjectType": {"type": "string", "enum": [kind.value for kind in SubjectKind]},
        "subject": {"type": "string", "description": "The queue's name or the memberId."},
        "queue": _NULLABLE_TEXT,
        "value": {**_NULLABLE_NUMBER, "description": "null: cannot be told now."},
        "threshold": {"type": "number"},
        "since": {**_TIME, "description": "When it fired."},
        "at": _TIME,
        "text": {"type": "string", "description": "One line for people (Slack's `text`)."},
        "pbx": {"type": "string", "description": "With PBXES: the PBX whose state fired it."},
    },
}


def _list(item: JsonSchema) -> JsonSchema:
    return {"type": "array", "items": item}


ALERTS_SUCCESS: dict[tuple[str, str], tuple[str, JsonSchema, bool]] = {
    ("get", RULES_PATH): ("200", _list(RULE), True),
    ("post", RULES_PATH): ("201", RULE, False),
    ("put", RULE_PATH): ("200", RULE, False),
    ("delete", RULE_PATH): ("200", RULE, False),
    ("get", ALERTS_PATH): ("200", _list(ALERT), True),
}
_AUTH = {
    "401": "A token is needed (`Authorization: Bearer <token>`), or it is unknown.",
    "403": "Not an admin token, or a write from a foreign web origin.",
    "503": "The database is down: retry after `Retry-After` seconds.",
}
_SCOPED = (
    "Not an admin token, a write from a foreign web origin, or (a token scoped to some "
    "queues) a rule of another queue or of every queue."
)
_NO_RULE = "No rule of that id (that your token sees)."
_BAD_BODY = "A field is missing, unknown or invalid for the rule's kind (the message names it)."
_BAD_ID = "The id is not an integer from 1 to 2^62."
# (method, path) → every error the route answers besides 400, and what it means there.
ALERTS_ERRORS: dict[tuple[str, str], dict[str, str]] = {
    ("get", RULES_PATH): _AUTH,
    ("post", RULES_PATH): {**_AUTH, "403": _SCOPED, "422": _BAD_BODY},
    ("put", RULE_PATH): {**_AUTH, "403": _SCOPED, "404": _NO_RULE, "422": _BAD_BODY},
    ("delete", RULE_PATH): {**_AUTH, "404": _NO_RULE, "422": _BAD_ID},
    ("get", ALERTS_PATH): {
        "401": "Reads need a token (a viewer token is configured), or it is unknown.",
        "503": "This process does not evaluate alerts (yet): retry after `Retry-After` seconds.",
    },
}

# What `validate` takes: text is trimmed first, and blank text is null.
_BLANK = r"^\s*$"
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": TEXT_PATTERN}
_QUEUE = {
    "anyOf": [
        {
            "type": "string",
            "maxLength": 128,
            "pattern": r"^\s*([A-Za-z0-9][A-Za-z0-9_.@-]*)?\s*$",
        },
        {"type": "null"},
    ],
    "description": "The queue watched; null (or blank): every queue.",
}
_REASON = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_REASON, "pattern": TEXT_PATTERN},
        {"type": "string", "maxLength": MAX_REASON, "pattern": _BLANK},
        {"type": "null"},
    ],
    "description": "Only pauses for this reason (null or blank: any).",
}
_NO_REASON = {
    "anyOf": [{"type": "null"}, {"type": "string", "maxLength": MAX_REASON, "pattern": _BLANK}]
}
_WEBHOOK = {
    "anyOf": [
        {
            "type": "string",
            "maxLength": MAX_URL,
            "pattern": r"^\s*(https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?([/?#][!-~]*)?)?\s*$",
        },
        {"type": "null"},
    ],
    "description": "Also POST this rule's events here (besides ALERT_WEBHOOK_URLS); "
    "null or blank: none.",
}
_COMMON: JsonSchema = {
    "name": _NAME,
    "queue": _QUEUE,
    "clearSeconds": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_CLEAR_SECONDS,
        "default": 10,
        "description": "How long the value must stay cleared before the alert resolves.",
    },
    "clearMargin": {
        "type": "number",
        "minimum": 0,
        "default": 0,
        "description": "How far past the threshold the value must be to clear.",
    },
    "enabled": {"type": "boolean", "default": True},
    "webhookUrl": _WEBHOOK,
    "pbx": {
        **_NULLABLE_TEXT,
        "maxLength": 64,
        "description": "With PBXES: the request's PBX (?pbx=), or null for every PBX.",
    },
}
_THRESHOLDS: dict[RuleKind, tuple[JsonSchema, str]] = {
    RuleKind.LONGEST_WAIT: ({"minimum": 0}, "Fires when a caller has waited over this (s)."),
    RuleKind.CALLERS_WAITING: ({"minimum": 0}, "Fires when more callers than this wait."),
    RuleKind.SERVICE_LEVEL: (
        {"minimum": 0, "maximum": 100},
        "Fires when the % answered within the queue's servicelevel over the last "
        "`windowMinutes` falls under this.",
    ),
    RuleKind.OPERATOR_PAUSED: (
        {"minimum": 0},
        "Fires when an operator has been paused longer than this (min).",
    ),
    RuleKind.AVAILABLE_OPERATORS: (
        {"exclusiveMinimum": 0},
        "Fires when fewer operators than this are available (more than 0).",
    ),
}


def _variant(kind: RuleKind) -> JsonSchema:
    bounds, meaning = _THRESHOLDS[kind]
    properties: JsonSchema = {
        "kind": {"type": "string", "enum": [kind.value]},
        "threshold": {"type": "number", **bounds, "description": meaning},
        **_COMMON,
        "windowMinutes": {"type": "null"},
        "reason": _NO_REASON,
    }
    required = ["name", "kind", "threshold"]
    if kind is RuleKind.SERVICE_LEVEL:
        properties["windowMinutes"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_WINDOW_MINUTES,
            "description": "The window the service level is measured over (minutes).",
        }
        required.append("windowMinutes")
    if kind is RuleKind.OPERATOR_PAUSED:
        properties["reason"] = _REASON
    return {
        "type": "object",
        "title": f"RuleBody ({kind.value})",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


RULE_BODY: JsonSchema = {
    "title": BODY_NAME,
    "description": "An alert rule (camelCase, as GraphQL's AlertRuleInput); the fields a "
    "kind takes depend on it.",
    "oneOf": [_variant(kind) for kind in RuleKind],
}


def document_alerts(operation: JsonSchema, method: str, path: str) -> None:
    """Say what each error of an alert route means (after `api.openapi` added them)."""
    notes = ALERTS_ERRORS.get((method, path))
    if notes is None:
        return
    responses = operation.get("responses", {})
    for code in [c for c in responses if c in ("401", "403", "404", "422", "503")]:
        if code in notes:
            responses[code]["description"] = notes[code]
        else:
            del responses[code]  # this route never answers it


def fix_rule_body(schemas: JsonSchema) -> None:
    """Replace the model's flat schema with the kind-by-kind one."""
    if BODY_NAME in schemas:
        schemas[BODY_NAME] = RULE_BODY
