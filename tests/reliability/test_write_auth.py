"""Item 13: every write, over HTTP and over both WebSocket protocols, without the right to.

With tokens configured (viewer, supervisor, admin), each write — the runbook's
POST, resync and clear over REST; setOperatorStatus, resync and clear over
GraphQL HTTP and over both WebSocket protocols — is sent with no token, with a
token of too low a role, with the admin token in a cookie only, and with the
admin token but from a foreign web Origin. Without tokens on loopback (every
write open to local clients), the foreign Origin is tried again: the CSRF
case. The alert rules' writes (REST POST/PUT/DELETE /alerts/rules, setAlertRule and
deleteAlertRule: admin only) are tried the same ways. Every attempt must be refused
and neither Redis nor the rules' table may change at all.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.reliability.conftest import AppFactory, RunningApp, unique
from tests.reliability.env import record
from tests.reliability.wsclient import PROTOCOLS, GqlSocket, errors_of

BASE = "/api/queue-status"
FOREIGN = "https://evil.example"
TOKENS = {role: unique(role) for role in ("viewer", "supervisor", "admin")}
REST_WRITES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("supervisor", "POST", f"{BASE}/operators", {"memberId": "PJSIP/1001", "status": "busy"}),
    ("admin", "POST", f"{BASE}/sync/resync", None),
    ("admin", "DELETE", f"{BASE}/clear", None),
]
RULE = {"name": "Wait", "kind": "longest_wait", "threshold": 60, "queue": "sales"}
# Alert rules live in PostgreSQL (admin only): the seeded rule is rule 1.
REST_WRITES += [
    ("admin", "POST", f"{BASE}/alerts/rules", RULE),
    ("admin", "PUT", f"{BASE}/alerts/rules/1", {**RULE, "threshold": 1}),
    ("admin", "DELETE", f"{BASE}/alerts/rules/1", None),
]
GQL_WRITES = [
    (
        "supervisor",
        'mutation { setOperatorStatus(input: {memberId: "PJSIP/1001", status: BUSY}) '
        "{ memberId } }",
    ),
    ("admin", "mutation { resync { changes } }"),
    ("admin", "mutation { clear { operators } }"),
    (
        "admin",
        'mutation { setAlertRule(input: {name: "W", kind: LONGEST_WAIT, threshold: 1}) { id } }',
    ),
    ("admin", 'mutation { deleteAlertRule(id: "1") { id } }'),
]
LOWER = {"supervisor": "viewer", "admin": "supervisor"}


def bearer(role: str) -> str:
    return f"Bearer {TOKENS[role]}"


async def redis_dump(redis: Redis, prefix: str) -> dict[bytes, bytes | None]:
    """Every key of the test and its serialized value."""
    keys = sorted([key async for key in redis.scan_iter(match=f"{prefix}*")])
    return {key: await redis.dump(key) for key in keys}


def credentials(needed: str) -> dict[str, dict[str, str]]:
    """Attempt name → HTTP headers."""
    return {
        "no token": {},
        "wrong role": {"Authorization": bearer(LOWER[needed])},
        "cookie": {"Cookie": f"Authorization={bearer('admin')}; token={TOKENS['admin']}"},
        "foreign Origin": {"Authorization": bearer("admin"), "Origin": FOREIGN},
    }


async def alert_rules(database_url: str) -> list[tuple[object, ...]]:
    """Every alert rule row, as stored."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT * FROM queue_status_alert_rules ORDER BY id")
    finally:
        await connection.close()
    return [tuple(row.values()) for row in rows]


async def http_attempts(running: RunningApp, *, open_mode: bool) -> int:
    tries = 0
    for needed, method, path, body in REST_WRITES:
        for name, headers in credentials(needed).items():
            if open_mode and name != "foreign Origin":
                continue
            if open_mode:
                headers = {"Origin": FOREIGN}
            for content_type in ("application/json", "text/plain"):
                tries += 1
                response = await running.http.request(
                    method,
                    path,
                    content=None if body is None else json.dumps(body),
                    headers={**headers, "Content-Type": content_type},
                )
                assert response.status_code in (400, 401, 403), (name, path, response.text)
                assert response.json()["success"] is False
    for needed, query in GQL_WRITES:
        for name, headers in credentials(needed).items():
            if open_mode and name != "foreign Origin":
                continue
            if open_mode:
                headers = {"Origin": FOREIGN}
            tries += 1
            response = await running.http.post("/graphql", json={"query": query}, headers=headers)
            if response.status_code == 200:
                codes = {e["extensions"]["code"] for e in response.json()["errors"]}
                assert codes <= {"UNAUTHENTICATED", "FORBIDDEN"}, (name, query, codes)
                assert response.json().get("data") is None
            else:
                assert response.status_code in (401, 403), (name, query, response.text)
    return tries


async def ws_attempts(running: RunningApp, *, open_mode: bool) -> int:
    tries = 0
    for protocol in PROTOCOLS:
        for needed, query in GQL_WRITES:
            attempts: dict[str, tuple[dict[str, Any], str | None, dict[str, str] | None]] = {
                "no token": ({}, None, None),
                "wrong role": ({"authorization": bearer(LOWER[needed])}, None, None),
                "cookie": ({}, None, {"Cookie": f"Authorization={bearer('admin')}"}),
                "foreign Origin": ({"authorization": bearer("admin")}, FOREIGN, None),
            }
            for name, (payload, origin, headers) in attempts.items():
                if open_mode and name != "foreign Origin":
                    continue
                tries += 1
                try:
                    sock = await GqlSocket.open(
                        running.ws_url,
                        protocol,
                        origin=origin,
                        headers=headers,
                        init=False,
                    )
                except InvalidStatus as refused:
                    handshake = refused.response.status_code
                    sock = None
                if sock is None:
                    assert handshake == 403, (name, handshake)
                    continue
                try:
                    answer = await sock.init(payload)
                except ConnectionClosed:
                    assert sock.close_code == 4403, (name, sock.close_code)
                    continue
                if answer.get("type") != "connection_ack":
                    assert await sock.closed() == 4403, answer
                    continue
                await sock.subscribe("w", query)
                result = await sock.result("w")
                codes = {e.get("extensions", {}).get("code") for e in errors_of(result)}
                assert codes and codes <= {"UNAUTHENTICATED", "FORBIDDEN"}, (name, result)
                await sock.close()
    return tries


@pytest.mark.parametrize("mode", ["tokens", "open loopback"])
async def test_every_write_without_the_right_is_refused(
    app_factory: AppFactory, lab_db: str, redis_client: Redis, key_prefix: str, mode: str
) -> None:
    open_mode = mode == "open loopback"
    tokens = "" if open_mode else ",".join(f"{role}:{token}" for role, token in TOKENS.items())
    async with app_factory(database_url=lab_db, api_tokens=tokens) as running:
        headers = {} if open_mode else {"Authorization": bearer("admin")}
        seeded = await running.http.post(
            f"{BASE}/operators",
            json={"memberId": "PJSIP/1001", "status": "idle", "queueName": "sales"},
            headers=headers,
        )
        assert seeded.status_code == 201, seeded.text
        rule = await running.http.post(f"{BASE}/alerts/rules", json=RULE, headers=headers)
        assert (rule.status_code, rule.json()["data"]["id"]) == (201, 1), rule.text
        before = await redis_dump(redis_client, key_prefix)
        rules_before = await alert_rules(lab_db)
        tries = await http_attempts(running, open_mode=open_mode)
        tries += await ws_attempts(running, open_mode=open_mode)
        after = await redis_dump(redis_client, key_prefix)
        assert after == before, "a refused write changed Redis"
        assert await alert_rules(lab_db) == rules_before, "a refused write changed a rule"
        # The same writes with the right credentials (and no Origin) do work.
        allowed = await running.http.post(f"{BASE}/sync/resync", headers=headers)
        assert allowed.status_code == 200
    record(
        "13" if not open_mode else "13b",
        "every write (REST, GraphQL HTTP, both WS protocols): no token, wrong role, cookie, "
        "foreign Origin"
        if not open_mode
        else "every write from a foreign web Origin, no tokens on loopback (CSRF)",
        "all refused (401/403, UNAUTHENTICATED/FORBIDDEN, 4403), Redis byte-for-byte unchanged",
        attempts=tries,
        redisKeys=len(before),
        changed=0,
    )
