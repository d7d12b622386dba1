"""The OpenAPI document, made to say what the API really answers.

FastAPI documents each route with its 200 and a 422 of its own shape, and the
`Authorization` header as a parameter. What the API answers (the reliability
suite's schemathesis run, item 7, found every difference) is:

- success bodies in the runbook's envelope `{success, data[, count, message]}`;
- errors always as `{success: false, error}`: 400 malformed or unknown values,
  401/403 auth, 404 unknown entity, 422 invalid fields, 503 with Retry-After;
- bearer authentication where the running policy requires it (writes with
  tokens configured, reads too when a viewer token is), as a security scheme;
- enumerated statuses, and no line breaks in the body's strings (refused).

/graphql is left out: GraphQL describes itself (introspection, schema.graphql).
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api.audit_query import CURSOR_PATTERN
from api.auth import AccessPolicy, Action
from api.openapi_actions import ACTION_ROUTES, action_result, document_action
from api.openapi_alerts import ALERTS_SUCCESS, document_alerts, fix_rule_body
from api.openapi_stats import (
    STATS_PAGED,
    STATS_QUERY_ENUMS,
    STATS_QUERY_PATTERNS,
    STATS_SUCCESS,
    document_csv,
)
from ingest.domain import OperatorStatus

JsonSchema = dict[str, Any]
STATUSES = [status.value for status in OperatorStatus]
# No CR, LF or NUL anywhere, and something left once whitespace is stripped.
ONE_LINE = r"^[^\r\n\x00]*[^\s\x00][^\r\n\x00]*$"
ONE_LINE_OR_EMPTY = r"^[^\r\n\x00]*$"

ERROR: JsonSchema = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string"},
        "asteriskMessage": {"type": "string", "description": "Asterisk's own words."},
    },
}
OPERATOR: JsonSchema = {
    "type": "object",
    "required": ["memberId"],
    "properties": {
        "memberId": {"type": "string"},
        "memberName": {"type": "string"},
        "status": {"type": "string", "enum": STATUSES},
        "paused": {"type": "boolean"},
        "queueName": {"type": ["string", "null"]},
        "queues": {"type": "object"},
        "updatedAt": {"type": "integer"},
        "version": {"type": "integer"},
    },
}
QUEUE: JsonSchema = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "callers": {"type": "array", "items": {"type": "object"}},
        "callsWaiting": {"type": "integer"},
        "members": {"type": "object"},
    },
}
CHANNEL: JsonSchema = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}},
}
ANY_OBJECT: JsonSchema = {"type": "object"}


def _list(item: JsonSchema) -> JsonSchema:
    return {"type": "array", "items": item}


SNAPSHOT: JsonSchema = {
    "type": "object",
    "required": ["operators", "queues", "channels", "version"],
    "properties": {
        "operators": _list(OPERATOR),
        "queues": _list(QUEUE),
        "channels": _list(CHANNEL),
        "version": {"type": "integer"},
        "generatedAt": {"type": "integer"},
    },
}
CLEARED: JsonSchema = {
    "type": "object",
    "required": ["operators", "queues", "channels"],
    "properties": {k: {"type": "integer"} for k in ("operators", "queues", "channels")},
}
AUDIT_ENTRY: JsonSchema = {
    "type": "object",
    "required": ["id", "at", "scope", "action", "arguments", "outcome", "durationMs"],
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "role": {"type": ["string", "null"]},
        "tokenFingerprint": {"type": ["string", "null"]},
        "scope": {"type": "string"},
        "action": {"type": "string"},
        "queue": {"type": ["string", "null"]},
        "memberId": {"type": ["string", "null"]},
        "arguments": {"type": "object"},
        "outcome": {"type": "string"},
        "via": {"type": ["string", "null"]},
        "asteriskMessage": {"type": ["string", "null"]},
        "message": {"type": ["string", "null"]},
        "durationMs": {"type": "integer"},
    },
}
AUDIT_PATH = "/api/queue-status/audit"
# Beside `data` and `count`, a page of the audit log says where it ends.
PAGED: dict[tuple[str, str], JsonSchema] = {
    ("get", AUDIT_PATH): {
        "pageInfo": {
            "type": "object",
            "required": ["endCursor", "hasNextPage"],
            "properties": {
                "endCursor": {"type": ["string", "null"]},
                "hasNextPage": {"type": "boolean"},
            },
        },
        "buffered": {"type": "integer"},
    },
    **STATS_PAGED,
}
# (method, path) → (success status, data schema, has count)
SUCCESS: dict[tuple[str, str], tuple[str, JsonSchema, bool]] = {
    ("get", "/api/queue-status/operators"): ("200", _list(OPERATOR), True),
    ("post", "/api/queue-status/operators"): ("201", OPERATOR, False),
    ("get", "/api/queue-status/operators/{member_id}"): ("200", OPERATOR, False),
    ("get", "/api/queue-status/snapshot"): ("200", SNAPSHOT, False),
    ("get", "/api/queue-status/queues"): ("200", _list(QUEUE), True),
    ("get", "/api/queue-status/queues/{name}"): ("200", QUEUE, False),
    ("get", "/api/queue-status/channels"): ("200", _list(CHANNEL), True),
    ("get", "/api/queue-status/sync/status"): ("200", ANY_OBJECT, False),
    ("post", "/api/queue-status/sync/resync"): ("200", ANY_OBJECT, False),
    ("delete", "/api/queue-status/clear"): ("200", CLEARED, False),
    ("get", AUDIT_PATH): ("200", _list(AUDIT_ENTRY), True),
    ("get", "/api/queue-status/access"): ("200", ANY_OBJECT, False),
    **STATS_SUCCESS,
    **ALERTS_SUCCESS,
}
# Query parameters whose form is checked by the handler (a 400 it can audit or explain).
QUERY_PATTERNS = {(AUDIT_PATH, "after"): CURSOR_PATTERN, **STATS_QUERY_PATTERNS}
ERRORS = {
    "400": "Malformed JSON, an unknown value (e.g. a status), or a Host header that is not a "
    "name of this server (ALLOWED_HOSTS).",
    "401": "A token is needed (`Authorization: Bearer <token>`), or it is unknown.",
    "403": "The token's role may not do this, or a write came from a foreign web origin.",
    "404": "No such entity (or route).",
    "422": "A field is missing or invalid.",
    "503": "Redis or the database is down: retry after `Retry-After` seconds.",
}


def _empty_is_absent(schema: JsonSchema) -> None:
    """An empty query parameter (`?paused=`) is "any", as on every filter of ours
    (`api.rest.EmptyIsAbsent`): say so where the schema does not already allow ""."""
    options = schema.get("anyOf", [schema])
    if any(o.get("type") == "string" and set(o) <= {"type", "maxLength"} for o in options):
        return
    if any("" in o.get("enum", ()) for o in options):
        return
    schema.setdefault("anyOf", [dict(schema)] if "anyOf" not in schema else []).append(
        {"type": "string", "enum": [""]}
    )
    for key in [k for k in schema if k not in ("anyOf", "title", "description")]:
        del schema[key]


def _envelope(data: JsonSchema, *, count: bool) -> JsonSchema:
    properties: JsonSchema = {
        "success": {"const": True},
        "data": data,
        "message": {"type": "string"},
    }
    required = ["success", "data"]
    if count:
        properties["count"] = {"type": "integer"}
        required.append("count")
    return {"type": "object", "required": required, "properties": properties}


def _json(schema: JsonSchema, description: str, **extra: Any) -> JsonSchema:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _error_responses() -> dict[str, JsonSchema]:
    responses = {code: _json(ERROR, text) for code, text in ERRORS.items()}
    responses["503"]["headers"] = {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
    }
    return responses


def _route_actions(app: FastAPI) -> dict[tuple[str, str], Action]:
    """(method, path) → the action the route's policy dependency checks."""
    found: dict[tuple[str, str], Action] = {}
    routes: list[Any] = list(app.routes)
    while routes:
        route = routes.pop()
        included = getattr(route, "original_router", None)  # an included router
        if included is not None:
            routes.extend(included.routes)
            continue
        if not isinstance(route, APIRoute):
            continue
        for dependency in route.dependant.dependencies:
            action = getattr(dependency.call, "action", None)
            if isinstance(action, Action):
                for method in route.methods or ():
                    found[(method.lower(), route.path_format)] = action
    return found


def _needs_token(action: Action, policy: AccessPolicy) -> bool:
    if not policy.has_tokens:
        return False
    return action is not Action.READ or policy.reads_protected


def _fix_body(document: JsonSchema) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    body = schemas.get("OperatorStatusBody")
    if not body:
        return
    properties = body.get("properties", {})
    properties["status"] = {"type": "string", "enum": STATUSES, "title": "Status"}
    for name, field in properties.items():
        if name == "status":
            continue
        for option in field.get("anyOf", [field]):
            if option.get("type") == "string":
                option["pattern"] = ONE_LINE if name == "memberId" else ONE_LINE_OR_EMPTY


def document_api(app: FastAPI, policy: AccessPolicy) -> JsonSchema:
    """The OpenAPI document of `app` as it runs under `policy`."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    actions = _route_actions(app)
    paths: JsonSchema = {}
    for path, operations in document.get("paths", {}).items():
        if path.startswith("/graphql"):
            continue
        for method, operation in operations.items():
            operation["parameters"] = [
                p
                for p in operation.get("parameters", [])
                if not (p.get("in") == "header" and p.get("name", "").lower() == "authorization")
            ]
            for parameter in operation["parameters"]:
                if parameter.get("in") == "query" and parameter.get("name") == "status":
                    schema = parameter.setdefault("schema", {})
                    for option in schema.get("anyOf", [schema]):
                        if option.get("type") == "string":
                            option["enum"] = ["", *STATUSES]  # empty: any status
            if not operation["parameters"]:
                del operation["parameters"]
            if (method, path) in ACTION_ROUTES:
                document_action(
                    operation,
                    action_result(OPERATOR, QUEUE),
                    ERROR,
                    _error_responses()["503"]["headers"],
                )
            for parameter in operation.get("parameters", []):
                documented = QUERY_PATTERNS.get((path, parameter.get("name")))
                if parameter.get("in") == "query" and documented is not None:
                    schema = parameter.setdefault("schema", {})
                    for option in schema.get("anyOf", [schema]):
                        if option.get("type") == "string":
                            option["pattern"] = documented
                values = STATS_QUERY_ENUMS.get((path, parameter.get("name")))
                if parameter.get("in") == "query" and values is not None:
                    schema = parameter.setdefault("schema", {})
                    for option in schema.get("anyOf", [schema]):
                        if option.get("type") == "string":
                            option["enum"] = values
                if parameter.get("in") == "query":
                    _empty_is_absent(parameter.setdefault("schema", {}))
            success = SUCCESS.get((method, path))
            if success is not None:
                code, data, count = success
                envelope = _envelope(data, count=count)
                paged = PAGED.get((method, path), {})
                envelope["properties"].update(paged)
                envelope["required"] += list(paged)
                operation["responses"] = {
                    code: _json(envelope, "Done."),
                    **_error_responses(),
                }
                if not path.endswith("}"):
                    operation["responses"].pop("404")
                if "requestBody" in operation:
                    operation["responses"]["413"] = _json(
                        ERROR, "The body is larger than MAX_BODY_BYTES (refused unread)."
                    )
                document_alerts(operation, method, path)
            action = actions.get((method, path))
            if action is not None and _needs_token(action, policy):
                operation["security"] = [{"bearer": []}]
        paths[path] = operations
    health = paths.get("/healthz", {}).get("get")
    if health is not None:
        body = {
            "type": "object",
            "required": ["success", "data"],
            "properties": {"success": {"type": "boolean"}, "data": ANY_OBJECT},
        }
        health["responses"] = {
            "200": _json(body, "Serving (Redis answers); `data` says how the rest is."),
            "503": _json(body, "Redis is down.", headers=_error_responses()["503"]["headers"]),
        }
    ready = paths.get("/readyz", {}).get("get")
    if ready is not None:
        body = {
            "type": "object",
            "required": ["success", "data"],
            "properties": {"success": {"type": "boolean"}, "data": ANY_OBJECT},
        }
        ready["responses"] = {
            "200": _json(body, "Ready: Redis answers and the live mirror is loaded."),
            "503": _json(
                body,
                "Not ready: Redis does not answer, or the mirror is still loading.",
                headers=_error_responses()["503"]["headers"],
            ),
        }
    metrics = paths.get("/metrics", {}).get("get")
    if metrics is not None:
        metrics["responses"] = {
            "200": {
                "description": "Prometheus exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "401": _json(ERROR, "METRICS_TOKEN is set: send `Authorization: Bearer <it>`."),
        }
    document_csv(paths)
    document["paths"] = paths
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    for unused in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(unused, None)
    _fix_body(document)
    fix_rule_body(components.get("schemas", {}))
    return document


def install_openapi(app: FastAPI, policy: AccessPolicy) -> None:
    """Serve `document_api` at /openapi.json (built once, on first request)."""
    cached: list[JsonSchema] = []

    def openapi() -> JsonSchema:
        if not cached:
            cached.append(document_api(app, policy))
        return deepcopy(cached[0])

    setter: Callable[[], JsonSchema] = openapi
    app.openapi = setter  # type: ignore[method-assign]
