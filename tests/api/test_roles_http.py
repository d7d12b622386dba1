"""`serve --role`: what each process serves and what its /healthz and /metrics say.

Three apps on one Redis prefix and one simulator: `all` (leads the ingest),
`ingest` (a standby candidate: only the operational routes), `api` (no ingest,
no candidacy, however AMI is configured).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.leadership_runtime import Role
from simulator import AmiSimulator, CallCentre, CentreConfig
from tests.support.ami import SECRET
from tests.support.server import run_server
from tests.support.settings import test_settings as make_settings

BASE = "/api/queue-status"

Start = Callable[[Role], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    """The lab, quiet."""
    async with AmiSimulator(
        secret=SECRET, model=CallCentre(CentreConfig.lab(), seed=1), realtime=False
    ) as simulator:
        yield simulator


@pytest.fixture
def start(key_prefix: str, runbook_db: str, sim: AmiSimulator) -> Start:
    """An app of `role` on the test's prefix, AMI pointed at the simulator."""

    @asynccontextmanager
    async def running(role: Role) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(
            prefix=key_prefix,
            database_url=runbook_db,
            ami_enabled=True,
            ami_port=sim.port,
            ami_username="admin",
            ami_secret=SECRET,
        )
        app = create_app(settings, role=role)
        async with (
            run_server(app, settings) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            yield client

    return running


async def _health(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/healthz")).json()
    assert body["success"] is True
    data: dict[str, Any] = body["data"]
    return data


def _metric(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


async def test_the_leader_the_standby_candidate_and_the_api_replica_say_what_they_are(
    start: Start,
) -> None:
    async with start("all") as leader, start("ingest") as standby, start("api") as replica:
        lead, stand, api = await _health(leader), await _health(standby), await _health(replica)

        assert (lead["role"], lead["leadership"], lead["epoch"]) == ("all", "leader", 1)
        assert lead["ami"]["amiConnected"] is True
        assert (stand["role"], stand["leadership"], stand["epoch"]) == ("ingest", "standby", 1)
        assert stand["ami"] == {"amiEnabled": True, "standby": True}
        assert stand["status"] == "ok", "a standby waits: it is not degraded"
        assert (api["role"], api["leadership"], api["epoch"]) == ("api", None, None)
        assert api["ami"] == {"enabled": False}

        lead_metrics = (await leader.get("/metrics")).text
        stand_metrics = (await standby.get("/metrics")).text
        assert _metric(lead_metrics, "queue_status_ingest_leader") == 1
        assert _metric(stand_metrics, "queue_status_ingest_leader") == 0
        assert _metric(stand_metrics, "queue_status_ingest_epoch") == 1
        assert _metric(stand_metrics, "queue_status_ingest_stale_writes_total") == 0
        assert "queue_status_ingest_failovers_total" in stand_metrics
        assert "queue_status_ingest_leader" not in (await replica.get("/metrics")).text
        # What the Redis watches saw, on every role (api/redis_runtime.py).
        for client, health in ((leader, lead), (standby, stand), (replica, api)):
            text = (await client.get("/metrics")).text
            assert _metric(text, "queue_status_redis_failovers_total") == 0
            assert _metric(text, "queue_status_redis_state_losses_total") == 0
            assert health["redis"] == {
                "ok": True,
                "failovers": 0,
                "stateLosses": 0,
                "lastStateLoss": None,
            }
        assert _metric(lead_metrics, "queue_status_ingest_epoch_losses_total") == 0
        assert stand["staleWritesRefused"] == 0 and stand["epochLosses"] == 0

        # Readiness: Redis answers everywhere; the API's live mirror where it is served.
        for client, role, mirror in (
            (leader, "all", True),
            (standby, "ingest", None),
            (replica, "api", True),
        ):
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["data"] == {
                "ready": True,
                "role": role,
                "redis": True,
                "mirrorLoaded": mirror,
            }

        # The ingest-only process serves the operational routes and nothing of the API.
        assert (await standby.get(f"{BASE}/operators")).status_code == 404
        assert (await standby.post("/graphql", json={"query": "{__typename}"})).status_code == 404
        assert (await replica.get(f"{BASE}/operators")).status_code == 200
