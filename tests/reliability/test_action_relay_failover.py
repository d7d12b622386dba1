"""Item 27: supervisor actions from an `api` process while the ingest leader is killed.

Real processes on the shared Redis (the test's prefix): two `serve --role ingest`
candidates, each logged in to the simulator through its own recording proxy, and
one `serve --role api`. Three supervisors pause (each with a reason of its own)
and unpause members of sales without a break while the leader is `kill -9`ed.
Every action is answered — 200 once a leader runs it, 503 when none took it
within ACTION_RELAY_TIMEOUT, 504 when the dead leader took it and never
answered — and none reaches Asterisk twice: each 200's pause is on the wire
exactly once, each 503's never.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from ingest.keys import KeySchema
from simulator import AmiSimulator, CallCentre, CentreConfig
from tests.api.console.conftest import RecordingProxy
from tests.reliability.conftest import AMI_SECRET
from tests.reliability.env import record, timing_goal
from tests.reliability.procs import ServiceProcess

LEASE = "1.5"
RELAY_TIMEOUT = "3"
TOKEN = "relay-supervisor-token-27"
MEMBERS = ("Local/1001@agents/n", "Local/1002@agents/n", "Local/1003@agents/n")
FIRST_OK_GOAL = 6.0
"""Seconds from the kill to the first action (made after it) done by the successor."""


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    """The lab, quiet: only the supervisors' actions change it."""
    model = CallCentre(CentreConfig.lab(), seed=3)
    async with AmiSimulator(secret=AMI_SECRET, model=model, realtime=False) as simulator:
        yield simulator


def _service(role: str, port: int, key_prefix: str, database_url: str) -> ServiceProcess:
    service = ServiceProcess(
        {
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "REDIS_KEY_PREFIX": key_prefix,
            "DATABASE_URL": database_url,
            "AMI_HOST": "127.0.0.1",
            "AMI_PORT": str(port),
            "AMI_USERNAME": "admin",
            "AMI_SECRET": AMI_SECRET,
            "INGEST_LEASE_SECONDS": LEASE,
            "ACTION_RELAY_TIMEOUT": RELAY_TIMEOUT,
            "API_TOKENS": f"supervisor:{TOKEN}",
            "LOG_LEVEL": "INFO",
        },
        harness=False,
    )
    service.command += ["--role", role]
    return service


async def _leading(client: httpx.AsyncClient, service: ServiceProcess) -> None:
    async with asyncio.timeout(15):
        while True:
            health = (await client.get(f"{service.url}/healthz")).json()["data"]
            if health["leadership"] == "leader" and health["ami"].get("reconciliations", 0):
                return
            await asyncio.sleep(0.05)


class Supervisors:
    """Three supervisors acting without a break; every answer kept with its reason."""

    def __init__(self, client: httpx.AsyncClient, api: ServiceProcess) -> None:
        self._client = client
        self._api = api
        self.answers: list[tuple[str, int, float, float]] = []
        """(pause reason, status, sent, answered) of every pause; unpauses are only counted."""
        self.statuses: Counter[int] = Counter()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        await asyncio.gather(*(self._one(n, member) for n, member in enumerate(MEMBERS)))

    def stop(self) -> None:
        self._stop.set()

    async def _one(self, n: int, member: str) -> None:
        path = f"{self._api.url}/api/queue-status/operators/{member.replace('/', '%2F')}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        count = 0
        while not self._stop.is_set():
            count += 1
            reason = f"s{n}-{count}"
            sent = time.perf_counter()
            paused = await self._client.post(
                f"{path}/pause", json={"queue": "sales", "reason": reason}, headers=headers
            )
            self.statuses[paused.status_code] += 1
            self.answers.append((reason, paused.status_code, sent, time.perf_counter()))
            unpaused = await self._client.post(
                f"{path}/unpause", json={"queue": "sales"}, headers=headers
            )
            self.statuses[unpaused.status_code] += 1


@pytest.mark.slow  # about 20 s of real processes: `make test` has the in-process version
async def test_actions_relayed_across_a_killed_leader_reach_asterisk_at_most_once(
    sim: AmiSimulator, key_prefix: str, lab_db: str, redis_client: Redis
) -> None:
    proxies = [RecordingProxy("127.0.0.1", sim.port) for _ in range(2)]
    for proxy in proxies:
        await proxy.start()
    first, second = (_service("ingest", p.port, key_prefix, lab_db) for p in proxies)
    api = _service("api", proxies[0].port, key_prefix, lab_db)
    async with httpx.AsyncClient(timeout=30) as client:
        try:
            await first.start()
            await _leading(client, first)
            await second.start()
            await api.start()
            supervisors = Supervisors(client, api)
            acting = asyncio.create_task(supervisors.run())
            await asyncio.sleep(2.0)
            assert first.process is not None
            first.process.kill()  # kill -9: no release, the lease runs out
            killed_at = time.perf_counter()
            await _leading(client, second)
            await asyncio.sleep(3.0)  # the successor serves the clicks for a while
            supervisors.stop()
            await acting
            stream = KeySchema(key_prefix).actions("requests")
            async with asyncio.timeout(10):
                while await redis_client.xlen(stream):
                    await asyncio.sleep(0.05)
            api_metrics = (await client.get(f"{api.url}/metrics")).text
        finally:
            for service in (first, second, api):
                await service.close()
            for proxy in proxies:
                await proxy.stop()

    sent: Counter[str] = Counter()
    for proxy in proxies:
        for action in proxy.actions("QueuePause"):
            if action.get("Reason"):
                sent[action["Reason"]] += 1
    by_status: dict[int, list[str]] = {}
    for reason, status, _, _ in supervisors.answers:
        by_status.setdefault(status, []).append(reason)
    assert set(supervisors.statuses) <= {200, 503, 504}, supervisors.statuses
    assert all(sent[reason] == 1 for reason in by_status.get(200, [])), "a done pause not sent"
    assert all(sent[reason] == 0 for reason in by_status.get(503, [])), "a refused pause sent"
    assert max(sent.values()) == 1, "a pause reached Asterisk twice"
    done_after = [
        answered - killed_at
        for _, status, sent_at, answered in supervisors.answers
        if sent_at > killed_at and status == 200
    ]
    assert done_after, "the successor did no action"
    first_ok = min(done_after)
    slowest = max(answered - sent_at for _, _, sent_at, answered in supervisors.answers)
    timing_goal(first_ok < FIRST_OK_GOAL, f"first action after the kill took {first_ok:.2f} s")
    assert "queue_status_action_relay_requests_total" in api_metrics
    record(
        "27",
        "supervisor actions from an api process while the ingest leader is killed (-9)",
        "every action answered (200, 503 not taken: never sent, 504 taken by the dead leader); "
        "none reaches Asterisk twice",
        **_figures(supervisors, sent, first_ok, slowest),
    )


def _figures(
    supervisors: Supervisors, sent: Counter[str], first_ok: float, slowest: float
) -> dict[str, Any]:
    return {
        "actions": sum(supervisors.statuses.values()),
        "ok": supervisors.statuses[200],
        "not_taken_503": supervisors.statuses[503],
        "timed_out_504": supervisors.statuses[504],
        "pauses_sent_twice": sum(1 for n in sent.values() if n > 1),
        "first_ok_after_kill_s": round(first_ok, 2),
        "slowest_pause_s": round(slowest, 2),
        "lease_s": float(LEASE),
    }
