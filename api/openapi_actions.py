"""The OpenAPI description of the supervisor actions' routes (`api.rest_actions`).

Their answers are not the plain `{success, data}` envelope: they say whether the
action is confirmed (`pending`), which way it went (`via`), Asterisk's words and
the store version the state was read at. Their bodies' fields carry the forms
`ingest.actions.values` checks (`api.rest_actions`).
"""

from __future__ import annotations

from typing import Any

JsonSchema = dict[str, Any]

_PREFIX = "/api/queue-status"
ACTION_ROUTES = frozenset(
    {
        ("post", f"{_PREFIX}/operators/{{member_id}}/pause"),
        ("post", f"{_PREFIX}/operators/{{member_id}}/unpause"),
        ("post", f"{_PREFIX}/operators/{{member_id}}/listen"),
        ("post", f"{_PREFIX}/queues/{{name}}/members"),
        ("put", f"{_PREFIX}/queues/{{name}}/members/{{interface}}/penalty"),
        ("delete", f"{_PREFIX}/queues/{{name}}/members/{{interface}}"),
    }
)
# No pattern on path parameters: an interface holds a `/` (URL-encoded), which a path
# pattern cannot say; a malformed queue or member in a path is simply none (404).
ERRORS = {
    "400": "A value Asterisk would not take (nothing sent), or Asterisk refused the action "
    "(`asteriskMessage`).",
    "401": "A token is needed (`Authorization: Bearer <token>`), or it is unknown.",
    "403": "The token's role or queue scope does not allow it, or Asterisk's manager user "
    "lacks the write class (`asteriskMessage`: Permission denied).",
    "404": "No such operator or member (a path value of no interface's form included), or "
    "Asterisk answered Interface not found / Not there / No such "
    "queue (`asteriskMessage`).",
    "409": "Asterisk refused in this state (Already there, Member not dynamic), the "
    "operator is on no call (listen), or this server runs without AMI (AMI_ENABLED=false).",
    "422": "A field has the wrong type.",
    "503": "AMI, Redis or the database is down, or (relayed from a process that does not "
    "lead the ingest) no ingest leader took the action in time, so it was not sent: retry "
    "after `Retry-After` seconds.",
    "504": "Relayed: the ingest leader took the action but did not answer in time; Asterisk "
    "may have done it (the live state shows it).",
}


def action_result(operator: JsonSchema, queue: JsonSchema) -> JsonSchema:
    """The answer of an action."""
    return {
        "type": "object",
        "required": ["success", "action", "pending", "via", "version", "data"],
        "properties": {
            "success": {"const": True},
            "action": {"type": "string"},
            "pending": {"type": "boolean"},
            "via": {"enum": ["ami", "realtime"]},
            "asteriskMessage": {"type": "string"},
            "version": {"type": "integer"},
            "data": {
                "type": "object",
                "required": ["operator", "queue"],
                "properties": {
                    "operator": {"anyOf": [operator, {"type": "null"}]},
                    "queue": {"anyOf": [queue, {"type": "null"}]},
                },
            },
        },
    }


def document_action(
    operation: JsonSchema, result: JsonSchema, error: JsonSchema, retry_after: JsonSchema
) -> None:
    """Describe one action route's answers."""
    responses: JsonSchema = {"200": _json(result, "Asterisk did it (or `pending`).")}
    for code, text in ERRORS.items():
        responses[code] = _json(error, text)
    responses["503"]["headers"] = retry_after
    responses["504"]["headers"] = retry_after
    if "requestBody" in operation:
        responses["413"] = _json(error, "The body is larger than MAX_BODY_BYTES.")
    operation["responses"] = responses


def _json(schema: JsonSchema, description: str) -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
