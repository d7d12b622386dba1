"""Alert rules over REST and GraphQL: CRUD, the admin role, scoped admins, validation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.api.conftest import AppFactory, LiveApp

RULES = "/api/queue-status/alerts/rules"
ADMIN = "admin-token-0123456789abcdef"
SALES_ADMIN = "sales-admin-token-0123456789ab"
SUPERVISOR = "supervisor-token-0123456789abc"
VIEWER = "viewer-token-0123456789abcdef"
TOKENS = f"viewer:{VIEWER},supervisor:{SUPERVISOR},admin:{ADMIN},admin:{SALES_ADMIN}:sales"
RULE_FIELDS = (
    "id name kind queue threshold windowMinutes reason clearSeconds clearMargin enabled webhookUrl"
)
SET_RULE = f"""
mutation Set($input: AlertRuleInput!) {{ setAlertRule(input: $input) {{ {RULE_FIELDS} }} }}
"""
RULES_QUERY = f"query {{ alertRules {{ {RULE_FIELDS} }} }}"
DELETE_RULE = "mutation Del($id: ID!) { deleteAlertRule(id: $id) { id name } }"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def running(live_app: AppFactory) -> AsyncIterator[LiveApp]:
    async with live_app(api_tokens=TOKENS) as app:
        yield app


async def graphql(
    app: LiveApp, query: str, token: str | None = ADMIN, **variables: Any
) -> dict[str, Any]:
    headers = bearer(token) if token else {}
    answer = await app.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def test_rest_crud_round_trip(running: LiveApp) -> None:
    client = running.client
    created = await client.post(
        RULES,
        json={"name": "Long wait", "kind": "longest_wait", "threshold": 60, "queue": "sales"},
        headers=bearer(ADMIN),
    )
    assert created.status_code == 201, created.text
    rule = created.json()["data"]
    assert {k: rule[k] for k in ("name", "kind", "queue", "threshold", "clearSeconds")} == {
        "name": "Long wait",
        "kind": "longest_wait",
        "queue": "sales",
        "threshold": 60.0,
        "clearSeconds": 10,
    }
    replaced = await client.put(
        f"{RULES}/{rule['id']}",
        json={
            "name": "SL",
            "kind": "service_level",
            "threshold": 80,
            "windowMinutes": 30,
            "enabled": False,
        },
        headers=bearer(ADMIN),
    )
    assert replaced.status_code == 200, replaced.text
    listed = (await client.get(RULES, headers=bearer(ADMIN))).json()
    assert [
        (r["id"], r["kind"], r["queue"], r["windowMinutes"], r["enabled"]) for r in listed["data"]
    ] == [(rule["id"], "service_level", None, 30, False)]
    deleted = await client.delete(f"{RULES}/{rule['id']}", headers=bearer(ADMIN))
    assert deleted.json()["data"]["name"] == "SL"
    assert (await client.get(RULES, headers=bearer(ADMIN))).json()["count"] == 0
    missing = await client.delete(f"{RULES}/{rule['id']}", headers=bearer(ADMIN))
    assert (missing.status_code, missing.json()["success"]) == (404, False)


async def test_rest_needs_an_admin_and_validates(running: LiveApp) -> None:
    client = running.client
    body = {"name": "Queue", "kind": "callers_waiting", "threshold": 3}
    assert (await client.post(RULES, json=body)).status_code == 401
    assert (await client.post(RULES, json=body, headers=bearer(SUPERVISOR))).status_code == 403
    assert (await client.get(RULES, headers=bearer(VIEWER))).status_code == 403
    bad = [
        {**body, "kind": "nonsense"},
        {**body, "threshold": -1},
        {**body, "kind": "service_level"},  # no window
        {**body, "reason": "lunch"},  # only for operator_paused
        {**body, "webhookUrl": "ftp://user:secret@example.com/"},
        {**body, "unknown": 1},
    ]
    for payload in bad:
        answer = await client.post(RULES, json=payload, headers=bearer(ADMIN))
        assert answer.status_code == 422, (payload, answer.text)
        assert answer.json()["success"] is False
        assert "secret" not in answer.text
    assert (await client.put(f"{RULES}/999", json=body, headers=bearer(ADMIN))).status_code == 404
    assert (await client.get("/api/queue-status/alerts", headers=bearer(VIEWER))).json() == {
        "success": True,
        "data": [],
        "count": 0,
    }


async def test_a_scoped_admin_keeps_to_its_queues(running: LiveApp) -> None:
    client = running.client
    every = {"name": "All", "kind": "callers_waiting", "threshold": 3}
    support = {**every, "name": "Support", "queue": "support"}
    sales = {**every, "name": "Sales", "queue": "sales"}
    for body in (every, support):
        assert (await client.post(RULES, json=body, headers=bearer(ADMIN))).status_code == 201
        refused = await client.post(RULES, json=body, headers=bearer(SALES_ADMIN))
        assert refused.status_code == 403
    own = await client.post(RULES, json=sales, headers=bearer(SALES_ADMIN))
    assert own.status_code == 201
    seen = (await client.get(RULES, headers=bearer(SALES_ADMIN))).json()["data"]
    assert [r["name"] for r in seen] == ["Sales"]
    all_rules = (await client.get(RULES, headers=bearer(ADMIN))).json()["data"]
    assert [r["name"] for r in all_rules] == ["All", "Support", "Sales"]
    support_id = all_rules[1]["id"]
    hidden = await client.delete(f"{RULES}/{support_id}", headers=bearer(SALES_ADMIN))
    assert hidden.status_code == 404


async def test_graphql_crud_and_error_codes(running: LiveApp) -> None:
    created = await graphql(
        running,
        SET_RULE,
        input={
            "name": "Paused",
            "kind": "OPERATOR_PAUSED",
            "threshold": 15,
            "reason": "lunch",
            "webhookUrl": "https://hooks.example.com/T/B/x",
        },
    )
    rule = created["data"]["setAlertRule"]
    assert (rule["kind"], rule["reason"], rule["queue"]) == ("OPERATOR_PAUSED", "lunch", None)
    updated = await graphql(
        running,
        SET_RULE,
        input={
            "id": rule["id"],
            "name": "Few agents",
            "kind": "AVAILABLE_OPERATORS",
            "threshold": 2,
        },
    )
    assert updated["data"]["setAlertRule"]["kind"] == "AVAILABLE_OPERATORS"
    # Without AMI nobody is available: the rule fires on every queue, seen by a viewer.
    firing = await active_alerts(running, lambda found: len(found) == 3)
    assert [(a["state"], a["subject"], a["value"]) for a in firing] == [
        ("FIRING", "billing", 0.0),
        ("FIRING", "sales", 0.0),
        ("FIRING", "support", 0.0),
    ]
    listed = await graphql(running, RULES_QUERY)
    assert [(r["id"], r["name"]) for r in listed["data"]["alertRules"]] == [
        (rule["id"], "Few agents")
    ]

    invalid = await graphql(
        running,
        SET_RULE,
        input={"name": "SL", "kind": "SERVICE_LEVEL", "threshold": 120, "windowMinutes": 5},
    )
    assert codes(invalid) == ["BAD_USER_INPUT"]
    forbidden = await graphql(running, RULES_QUERY, token=SUPERVISOR)
    assert codes(forbidden) == ["FORBIDDEN"]
    unauthenticated = await graphql(running, DELETE_RULE, token=None, id=rule["id"])
    assert codes(unauthenticated) == ["UNAUTHENTICATED"]
    scoped = await graphql(running, DELETE_RULE, token=SALES_ADMIN, id=rule["id"])
    assert codes(scoped) == ["NOT_FOUND"]
    not_a_number = await graphql(running, DELETE_RULE, id="abc")
    assert codes(not_a_number) == ["BAD_USER_INPUT"]

    deleted = await graphql(running, DELETE_RULE, id=rule["id"])
    assert deleted["data"]["deleteAlertRule"]["name"] == "Few agents"
    gone = await graphql(running, DELETE_RULE, id=rule["id"])
    assert codes(gone) == ["NOT_FOUND"]
    # Its alerts resolve with it.
    assert await active_alerts(running, lambda found: not found) == []


async def active_alerts(
    app: LiveApp, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """`activeAlerts` as a viewer sees it, once `done` says so (the engine reloads its
    rules right after a change, in its own task)."""
    async with asyncio.timeout(10):
        while True:
            body = await graphql(app, "{ activeAlerts { state subject value } }", token=VIEWER)
            found: list[dict[str, Any]] = body["data"]["activeAlerts"]
            if done(found):
                return found
            await asyncio.sleep(0.05)


async def test_openapi_documents_the_alert_routes(running: LiveApp) -> None:
    document = (await running.client.get("/openapi.json")).json()
    paths = document["paths"]
    expected = {
        ("get", RULES): {"200", "400", "401", "403", "503"},
        ("post", RULES): {"201", "400", "401", "403", "413", "422", "503"},
        ("put", RULES + "/{rule_id}"): {"200", "400", "401", "403", "404", "413", "422", "503"},
        ("delete", RULES + "/{rule_id}"): {"200", "400", "401", "403", "404", "422", "503"},
        ("get", "/api/queue-status/alerts"): {"200", "400", "401", "503"},
    }
    for (method, path), codes_ in expected.items():
        operation = paths[path][method]
        assert set(operation["responses"]) == codes_, (method, path)
        assert operation["security"] == [{"bearer": []}], (method, path)  # reads protected too
        done = operation["responses"]["201" if method == "post" else "200"]
        envelope = done["content"]["application/json"]["schema"]
        assert envelope["properties"]["success"] == {"const": True}
        assert ("count" in envelope["required"]) is (method == "get"), (method, path)
    body = document["components"]["schemas"]["RuleBody"]
    kinds = [variant["properties"]["kind"]["enum"] for variant in body["oneOf"]]
    assert sorted(k for [k] in kinds) == sorted(
        [
            "longest_wait",
            "callers_waiting",
            "service_level",
            "operator_paused",
            "available_operators",
        ]
    )
    service_level = next(
        v for v in body["oneOf"] if v["properties"]["kind"]["enum"] == ["service_level"]
    )
    assert "windowMinutes" in service_level["required"]
    assert service_level["properties"]["threshold"]["maximum"] == 100
    # A rule as served has every field the document lists as required.
    created = await running.client.post(
        RULES,
        json={"name": "Doc", "kind": "callers_waiting", "threshold": 2},
        headers=bearer(ADMIN),
    )
    rule_schema = paths[RULES]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert set(rule_schema["properties"]["data"]["required"]) == set(created.json()["data"])
