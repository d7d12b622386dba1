"""Supervisor actions from an `api` process, relayed to the elected ingest: two apps on one
Redis prefix and one database, the ingest logged in to the simulator through a recording
proxy (what reached Asterisk is what went through it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.app import create_app
from api.leadership_runtime import Role
from ingest.keys import KeySchema
from simulator import AmiSimulator, CallCentre, CentreConfig, Privileges
from tests.api.console.conftest import ALICE, API_TOKENS, BASE, TOKENS, RecordingProxy, quoted
from tests.support.ami import SECRET
from tests.support.server import run_server
from tests.support.settings import test_settings as make_settings

SUPERVISOR = {"Authorization": f"Bearer {TOKENS['supervisor']}"}
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}

Start = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def asterisk(privileges: Privileges | None = None) -> AsyncIterator[RecordingProxy]:
    """The lab centre behind a recording proxy."""
    model = CallCentre(CentreConfig.lab(), seed=3)
    async with AmiSimulator(
        secret=SECRET, model=model, realtime=False, privileges=privileges
    ) as sim:
        proxy = RecordingProxy("127.0.0.1", sim.port)
        await proxy.start()
        try:
            yield proxy
        finally:
            await proxy.stop()


@pytest.fixture
def start(key_prefix: str, runbook_db: str) -> Start:
    """An app of `role` on the test's prefix and database, AMI through `proxy`."""

    @asynccontextmanager
    async def running(
        role: Role, proxy: RecordingProxy, **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(
            prefix=key_prefix,
            database_url=runbook_db,
            ami_enabled=True,
            ami_port=proxy.port,
            ami_username="admin",
            ami_secret=SECRET,
            api_tokens=API_TOKENS,
            **overrides,
        )
        async with (
            run_server(create_app(settings, role=role), settings) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as client,
        ):
            if role != "api":
                await _reconciled(client)
            yield client

    return running


async def _reconciled(ingest: httpx.AsyncClient) -> None:
    async with asyncio.timeout(20):
        while True:
            health = (await ingest.get("/healthz")).json()["data"]
            if health["leadership"] == "leader" and health["ami"].get("reconciliations", 0) > 0:
                return
            await asyncio.sleep(0.05)


async def _health(client: httpx.AsyncClient) -> dict[str, Any]:
    data: dict[str, Any] = (await client.get("/healthz")).json()["data"]
    return data


async def _audit(api: httpx.AsyncClient, action: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            rows = (await api.get(f"{BASE}/audit", headers=ADMIN)).json().get("data", [])
            found = [row for row in rows if row["action"] == action]
            if found:
                row: dict[str, Any] = found[0]
                return row
            await asyncio.sleep(0.05)


def _metric(text: str, line_start: str) -> float:
    found = [line for line in text.splitlines() if line.startswith(line_start + " ")]
    return float(found[0].split()[1]) if found else 0.0


def _pause(api: httpx.AsyncClient, member: str = ALICE, reason: str = "lunch") -> Any:
    return api.post(
        f"{BASE}/operators/{quoted(member)}/pause",
        json={"queue": "sales", "reason": reason},
        headers=SUPERVISOR,
    )


async def test_a_pause_from_the_api_replica_reaches_asterisk_through_the_leader(
    start: Start,
) -> None:
    async with asterisk() as proxy, start("ingest", proxy) as ingest, start("api", proxy) as api:
        answer = await _pause(api)
        body = answer.json()
        assert answer.status_code == 200, body
        assert (body["pending"], body["via"]) == (False, "ami")
        assert body["asteriskMessage"] == "Interface paused successfully"
        membership = body["data"]["operator"]["queues"]["sales"]
        assert (membership["paused"], membership["pausedReason"]) == (True, "lunch")
        (sent,) = proxy.actions("QueuePause")
        assert (sent["Interface"], sent["Queue"], sent["Reason"]) == (ALICE, "sales", "lunch")
        # The state every reader sees shows it too.
        state = (await api.get(f"{BASE}/operators/{quoted(ALICE)}", headers=SUPERVISOR)).json()
        assert state["data"]["queues"]["sales"]["pausedReason"] == "lunch"

        row = await _audit(api, "pauseOperator")
        assert (row["outcome"], row["via"]) == ("ok", "relay:ami")
        access = (await api.get(f"{BASE}/access", headers=SUPERVISOR)).json()["data"]
        assert access["actionsEnabled"] is True

        replica, leader = await _health(api), await _health(ingest)
        assert replica["actions"]["path"] == "relay"
        assert replica["actions"]["relay"] is True
        assert replica["actions"]["serving"] is False
        assert leader["actions"]["serving"] is True
        assert leader["actions"]["pending"] == 0
        replica_metrics = (await api.get("/metrics")).text
        leader_metrics = (await ingest.get("/metrics")).text
        assert _metric(replica_metrics, "queue_status_action_relay_requests_total") == 1
        outcome = 'queue_status_action_relay_outcomes_total{outcome="ok"}'
        assert _metric(replica_metrics, outcome) == 1
        assert _metric(leader_metrics, 'queue_status_action_relay_served_total{outcome="ok"}') == 1
        assert _metric(leader_metrics, "queue_status_action_relay_pending") == 0


async def test_asterisk_refusing_the_least_privileged_user_comes_back_in_its_words(
    start: Start,
) -> None:
    no_agent_class = Privileges.parse(write="call,originate,system,reporting")
    async with (
        asterisk(no_agent_class) as proxy,
        start("ingest", proxy) as _ingest,
        start("api", proxy) as api,
    ):
        answer = await _pause(api)
        assert answer.status_code == 403, answer.text
        assert answer.json() == {
            "success": False,
            "error": "Asterisk refused QueuePause: Permission denied (the AMI user needs "
            "write = agent in manager.conf)",
            "asteriskMessage": "Permission denied",
        }
        row = await _audit(api, "pauseOperator")
        assert (row["outcome"], row["via"], row["asteriskMessage"]) == (
            "rejected",
            "relay",
            "Permission denied",
        )


async def test_without_a_leader_the_action_is_503_and_never_sent_later(
    start: Start, redis_client: Redis, keys: KeySchema
) -> None:
    async with asterisk() as proxy:
        async with start("api", proxy, action_relay_timeout=0.5) as api:
            answer = await _pause(api)
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"]
            message = answer.json()["error"]
            assert message.startswith("no ingest leader took the action within 0.5 s")
            assert "was not sent to Asterisk and will not be" in message
            row = await _audit(api, "pauseOperator")
            assert (row["outcome"], row["via"]) == ("failed", "relay")
            metrics = (await api.get("/metrics")).text
            timeouts = 'queue_status_action_relay_timeouts_total{stage="take"}'
            assert _metric(metrics, timeouts) == 1
        stream = keys.actions("requests")
        assert await redis_client.xlen(stream) == 1

        # A leader comes: it reads the request, finds it too old, and closes it unsent.
        async with start("ingest", proxy) as ingest:
            async with asyncio.timeout(10):
                while await redis_client.xlen(stream):
                    await asyncio.sleep(0.05)
            expired = 'queue_status_action_relay_served_total{outcome="expired"}'
            assert _metric((await ingest.get("/metrics")).text, expired) == 1
            assert (await _health(ingest))["actions"]["pending"] == 0
        assert proxy.actions("QueuePause") == []
        operator = await redis_client.get(keys.operator(ALICE))
        assert operator is not None and b'"paused":true' not in operator


async def test_an_action_pending_while_the_leader_changes_runs_once_on_the_new_one(
    start: Start, redis_client: Redis, keys: KeySchema
) -> None:
    async with (
        asterisk() as proxy,
        start("api", proxy, action_relay_timeout=20, ingest_lease_seconds=1) as api,
    ):
        async with start("ingest", proxy, ingest_lease_seconds=1):
            first = await _pause(api, reason="lunch")
            assert first.status_code == 200, first.text
        # The first leader stopped (its lease given up); no other runs yet.
        waiting = asyncio.create_task(_pause(api, member="Local/1002@agents/n", reason="coffee"))
        async with asyncio.timeout(10):
            while await redis_client.xlen(keys.actions("requests")) == 0:
                await asyncio.sleep(0.02)
        assert not waiting.done()
        async with start("ingest", proxy, ingest_lease_seconds=1) as successor:
            second = await waiting
            assert second.status_code == 200, second.text
            membership = second.json()["data"]["operator"]["queues"]["sales"]
            assert (membership["paused"], membership["pausedReason"]) == (True, "coffee")
            assert (await _health(successor))["epoch"] == 2
        paused = [sent["Interface"] for sent in proxy.actions("QueuePause")]
        assert paused == [ALICE, "Local/1002@agents/n"], "each action reached Asterisk once"
