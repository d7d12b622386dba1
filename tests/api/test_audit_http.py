"""The audit log over HTTP: GET /audit and GraphQL `auditLog` (admin only, scoped admins see
their queues), its section of /healthz and its metrics; no token in any log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.audit import AuditTrail
from api.runtime import runtime_of
from tests.support.audit import TOKEN as ADMIN
from tests.support.audit import entry
from tests.support.proxy import FaultProxy
from tests.support.server import run_server
from tests.support.settings import test_settings as settings_of

AUDIT = "/api/queue-status/audit"
VIEWER = "viewer-token-0123456789abcdef"
SUPERVISOR = "supervisor-token-0123456789abc"
SALES_ADMIN = "sales-admin-token-0123456789ab"
TOKENS = f"viewer:{VIEWER},supervisor:{SUPERVISOR},admin:{ADMIN},admin:{SALES_ADMIN}:sales"
QUERY = """
query Audit($first: Int, $after: String, $queue: String, $from: DateTime) {
  auditLog(first: $first, after: $after, queue: $queue, from: $from) {
    count buffered pageInfo { endCursor hasNextPage }
    entries { id at role tokenFingerprint scope action queue memberId arguments outcome via
              asteriskMessage message durationMs }
  }
}
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Running:
    client: httpx.AsyncClient
    audit: AuditTrail

    async def graphql(self, token: str | None, **variables: Any) -> dict[str, Any]:
        headers = bearer(token) if token else {}
        answer = await self.client.post(
            "/graphql", json={"query": QUERY, "variables": variables}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


Start = Callable[..., AbstractAsyncContextManager[Running]]


@pytest.fixture
def start(key_prefix: str, runbook_db: str) -> Start:
    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Running]:
        overrides.setdefault("database_url", runbook_db)
        overrides.setdefault("api_tokens", TOKENS)
        settings = settings_of(prefix=key_prefix, **overrides)
        app = create_app(settings)
        async with (
            run_server(app, settings) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            yield Running(client, runtime_of(app).audit)

    return run


async def seeded(running: Running, count: int = 6) -> None:
    for n in range(count):
        running.audit.record(entry(n))
    assert await running.audit.flush()


async def test_rest_reads_pages_for_admins_only(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with start() as running:
        await seeded(running)
        client = running.client

        assert (await client.get(AUDIT)).status_code == 401
        for token in (VIEWER, SUPERVISOR):
            refused = await client.get(AUDIT, headers=bearer(token))
            assert refused.status_code == 403
            assert refused.json()["success"] is False and "admin" in refused.json()["error"]

        first = await client.get(AUDIT, params={"first": 4}, headers=bearer(ADMIN))
        assert first.status_code == 200
        body = first.json()
        assert body["success"] is True and body["count"] == 4 and body["buffered"] == 0
        assert body["pageInfo"]["hasNextPage"] is True
        newest = body["data"][0]
        assert newest["action"] == "pauseOperator" and newest["at"] == "2025-12-02T10:06:45+00:00"
        assert newest["tokenFingerprint"] == ADMIN_FINGERPRINT
        assert newest["arguments"] == {
            "memberId": "PJSIP/1002",
            "queue": "sales",
            "reason": "lunch",
        }

        rest = await client.get(
            AUDIT, params={"after": body["pageInfo"]["endCursor"]}, headers=bearer(ADMIN)
        )
        assert rest.json()["count"] == 2 and rest.json()["pageInfo"]["hasNextPage"] is False

        filtered = await client.get(
            AUDIT,
            params={"queue": "sales", "memberId": "PJSIP/1000", "from": "2025-12-02T10:06:40Z"},
            headers=bearer(ADMIN),
        )
        assert [e["memberId"] for e in filtered.json()["data"]] == ["PJSIP/1000", "PJSIP/1000"]
        empty = await client.get(AUDIT, params={"queue": "", "to": ""}, headers=bearer(ADMIN))
        assert empty.json()["count"] == 6  # an empty filter is no filter

        scoped = await client.get(AUDIT, headers=bearer(SALES_ADMIN))
        assert {e["queue"] for e in scoped.json()["data"]} == {"sales"}
        assert scoped.json()["count"] == 2

        for params, status in (
            ({"first": 0}, 422),
            ({"first": 501}, 422),
            ({"from": "yesterday"}, 422),
            ({"after": "not-a-cursor"}, 400),
        ):
            bad = await client.get(AUDIT, params=params, headers=bearer(ADMIN))
            assert bad.status_code == status, (params, bad.text)
            assert bad.json()["success"] is False

        document = (await client.get("/openapi.json")).json()
        operation = document["paths"][AUDIT]["get"]
        assert operation["security"] == [{"bearer": []}]
        assert (
            "pageInfo"
            in operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
        )
    assert_no_token_logged(caplog)


async def test_graphql_audit_log_for_admins_only(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with start() as running:
        await seeded(running)

        for token, code in (
            (None, "UNAUTHENTICATED"),
            (VIEWER, "FORBIDDEN"),
            (SUPERVISOR, "FORBIDDEN"),
        ):
            refused = await running.graphql(token)
            assert refused["data"] is None
            assert [e["extensions"]["code"] for e in refused["errors"]] == [code]

        page = await running.graphql(ADMIN, first=4)
        assert "errors" not in page, page
        log = page["data"]["auditLog"]
        assert log["count"] == 4 and log["buffered"] == 0
        assert log["pageInfo"]["hasNextPage"] is True
        newest = log["entries"][0]
        assert newest["at"] == "2025-12-02T10:06:45+00:00"
        assert newest["role"] == "admin" and newest["tokenFingerprint"] == ADMIN_FINGERPRINT
        assert newest["arguments"]["reason"] == "lunch" and newest["durationMs"] == 12
        assert newest["via"] == "ami" and newest["asteriskMessage"].startswith("Interface")

        rest = await running.graphql(ADMIN, after=log["pageInfo"]["endCursor"])
        ids = [e["id"] for e in log["entries"] + rest["data"]["auditLog"]["entries"]]
        assert len(ids) == len(set(ids)) == 6

        scoped = await running.graphql(SALES_ADMIN)
        assert {e["queue"] for e in scoped["data"]["auditLog"]["entries"]} == {"sales"}
        outside = await running.graphql(SALES_ADMIN, queue="support")
        assert outside["data"]["auditLog"]["entries"] == []

        since = await running.graphql(ADMIN, **{"from": "2025-12-02T10:06:44+00:00"})
        assert since["data"]["auditLog"]["count"] == 2

        bad = await running.graphql(ADMIN, first=0)
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        bad = await running.graphql(ADMIN, after="%%%")
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert_no_token_logged(caplog)


async def test_health_and_metrics_show_the_writer(start: Start) -> None:
    async with start(api_tokens="") as running:
        await seeded(running, 3)
        health = (await running.client.get("/healthz")).json()["data"]
        assert health["audit"] == {
            "status": "ok",
            "buffered": 0,
            "written": 3,
            "dropped": 0,
            "writeErrors": 0,
            "lastError": None,
        }
        assert health["status"] == "ok"
        metrics = (await running.client.get("/metrics")).text
        assert "queue_status_audit_rows_written_total 3.0" in metrics
        assert "queue_status_audit_rows_buffered 0.0" in metrics
        assert "queue_status_audit_rows_dropped_total 0.0" in metrics


async def test_an_audit_outage_shows_in_health_without_a_503(
    start: Start, runbook_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = FaultProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        url = runbook_db.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        async with start(database_url=url) as running:
            proxy.refuse()
            running.audit.record(entry(1))
            async with asyncio.timeout(10):
                while not running.audit.stats().write_errors:
                    await asyncio.sleep(0.05)
            answer = await running.client.get("/healthz")
            assert answer.status_code == 200  # Redis serves: the audit alone never makes it 503
            health = answer.json()["data"]
            assert health["status"] == "degraded"
            assert health["audit"]["status"] == "degraded" and health["audit"]["buffered"] == 1
            assert health["audit"]["lastError"].startswith("database unavailable")
            assert str(proxy.port) not in answer.text
            down = await running.client.get(AUDIT, headers=bearer(ADMIN))
            assert down.status_code == 503 and "database unavailable" in down.json()["error"]

            proxy.restore()
            assert await running.audit.flush(timeout=15)
            health = (await running.client.get("/healthz")).json()["data"]
            assert health["audit"]["status"] == "ok" and health["audit"]["written"] == 1
            page = (await running.client.get(AUDIT, headers=bearer(ADMIN))).json()
            assert page["count"] == 1
    finally:
        await proxy.stop()
    assert_no_token_logged(caplog)


ADMIN_FINGERPRINT = entry(0).token_fingerprint


def assert_no_token_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for record in caplog.records:
        line = record.getMessage()
        for token in (VIEWER, SUPERVISOR, ADMIN, SALES_ADMIN):
            assert token not in line, line
