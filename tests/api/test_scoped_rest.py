"""REST reads with tokens scoped to some queues (API_TOKENS `role:token:queues:extension`),
and GET /access: what a token grants.

The seed call centre: sales (Alice; Bob, paused for lunch there) and support
(Bob; Carol), Bob on a support call, a caller ringing in each queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import api.service
from api.runtime import runtime_of
from tests.api.live_server import LiveServer, Serve, seed, seed_support_calls, wait_for

NOW = 1_703_337_700_000
# Reads open (no viewer token): a scoped token presented anyway still scopes what it sees.
TOKENS = "supervisor:s-sales:sales:1009,admin:a-all,viewer:v-support:support"
OPEN_READS = "supervisor:s-sales:sales:1009,admin:a-all"


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header of `token` (none for None)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _seeded(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setattr(api.service, "now_ms", lambda: NOW)
    await seed(server.store)
    await seed_support_calls(server.store)
    latest = await server.store.version()
    await wait_for(lambda: server.broadcaster.feed.version == latest)
    return server


@pytest.fixture
async def open_reads(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveServer]:
    """Reads open, a `sales` supervisor token and an unscoped admin token."""
    async with serve(api_tokens=OPEN_READS, pause_reasons="Lunch,Training") as server:
        yield await _seeded(server, monkeypatch)


async def get(server: LiveServer, path: str, token: str | None = None) -> httpx.Response:
    """GET a REST path with `token`."""
    return await server.rest("GET", path, headers=bearer(token))


def ids(body: Any, key: str = "memberId") -> list[str]:
    """The ids of a list answer's data."""
    return [item[key] for item in body["data"]]


@pytest.mark.parametrize(
    "path",
    [
        "/operators",
        "/operators?queue=support",
        "/operators/PJSIP%2F1003",
        "/snapshot",
        "/queues",
        "/queues/support",
        "/channels",
        "/channels?queue=support",
    ],
)
async def test_an_unscoped_token_reads_what_no_token_reads(
    open_reads: LiveServer, path: str
) -> None:
    anonymous = await get(open_reads, path)
    admin = await get(open_reads, path, "a-all")
    assert anonymous.status_code == admin.status_code == 200
    assert admin.content == anonymous.content


async def test_a_sales_token_sees_sales_operators_with_their_sales_membership_only(
    open_reads: LiveServer,
) -> None:
    body = (await get(open_reads, "/operators", "s-sales")).json()
    assert ids(body) == ["PJSIP/1001", "PJSIP/1002"]
    assert body["count"] == 2
    bob = body["data"][1]
    assert list(bob["queues"]) == ["sales"]
    # Paused in every queue it is seen in: for sales, Bob is paused (lunch).
    assert (bob["queueName"], bob["paused"], bob["pausedReason"]) == ("sales", True, "lunch")
    one = await get(open_reads, "/operators/PJSIP%2F1002", "s-sales")
    assert one.json()["data"] == bob
    # Filters apply to what the token sees.
    assert ids((await get(open_reads, "/operators?queue=support", "s-sales")).json()) == []
    paused = await get(open_reads, "/operators?paused=true", "s-sales")
    assert ids(paused.json()) == ["PJSIP/1002"]


async def test_an_operator_outside_the_scope_is_absent(open_reads: LiveServer) -> None:
    outside = await get(open_reads, "/operators/PJSIP%2F1003", "s-sales")
    absent = await get(open_reads, "/operators/PJSIP%2F9999", "s-sales")
    assert outside.status_code == absent.status_code == 404
    assert outside.json()["error"] == "operator 'PJSIP/1003' not found"


async def test_a_sales_token_sees_the_sales_queue_only(open_reads: LiveServer) -> None:
    body = (await get(open_reads, "/queues", "s-sales")).json()
    assert ids(body, "name") == ["sales"]
    assert body["data"][0]["members"]["total"] == 2
    assert (await get(open_reads, "/queues/sales", "s-sales")).json()["data"] == body["data"][0]
    support = await get(open_reads, "/queues/support", "s-sales")
    assert support.status_code == 404
    assert support.json()["error"] == "queue 'support' not found"


async def test_a_sales_token_sees_sales_channels_and_the_calls_of_its_operators(
    open_reads: LiveServer,
) -> None:
    body = (await get(open_reads, "/channels", "s-sales")).json()
    # Bob's support call is seen (Bob is), the support caller ringing is not.
    assert ids(body, "name") == [
        "PJSIP/1001-00000001",
        "PJSIP/1002-00000003",
        "PJSIP/trunk-00000009",
    ]
    support = (await get(open_reads, "/channels?queue=support", "s-sales")).json()
    assert ids(support, "name") == ["PJSIP/1002-00000003"]


async def test_a_scoped_snapshot_is_its_lists_at_the_store_version(open_reads: LiveServer) -> None:
    snapshot = (await get(open_reads, "/snapshot", "s-sales")).json()["data"]
    assert list(snapshot) == ["operators", "queues", "channels", "version", "generatedAt"]
    assert snapshot["version"] == await open_reads.store.version()
    assert snapshot["generatedAt"] == NOW
    for key, path in (
        ("operators", "/operators"),
        ("queues", "/queues"),
        ("channels", "/channels"),
    ):
        assert snapshot[key] == (await get(open_reads, path, "s-sales")).json()["data"]


@pytest.mark.parametrize(
    "path", ["/operators", "/operators/PJSIP%2F1002", "/snapshot", "/queues", "/channels"]
)
async def test_scoped_reads_from_the_mirror_are_those_from_redis(
    open_reads: LiveServer, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_mirror = await get(open_reads, path, "s-sales")
    monkeypatch.setattr(runtime_of(open_reads.app).default, "mirror", None)
    from_redis = await get(open_reads, path, "s-sales")
    assert from_mirror.status_code == from_redis.status_code == 200
    assert from_mirror.content == from_redis.content


async def test_sync_status_is_refused_to_a_scoped_token(open_reads: LiveServer) -> None:
    refused = await get(open_reads, "/sync/status", "s-sales")
    assert refused.status_code == 403
    assert "scoped" in refused.json()["error"]
    assert (await get(open_reads, "/sync/status", "a-all")).status_code == 200


async def test_access_says_what_each_token_grants(open_reads: LiveServer) -> None:
    supervisor = (await get(open_reads, "/access", "s-sales")).json()
    assert supervisor == {
        "success": True,
        "data": {
            "role": "supervisor",
            "queues": ["sales"],
            "extension": "1009",
            "canSupervise": True,
            "canManageMembers": False,
            "pauseReasons": ["Lunch", "Training"],
            "actionsEnabled": False,  # this server runs without AMI
        },
    }
    admin = (await get(open_reads, "/access", "a-all")).json()["data"]
    assert (admin["role"], admin["queues"], admin["extension"]) == ("admin", None, None)
    assert admin["canSupervise"] and admin["canManageMembers"]
    # Tokens configured, none presented: reads open, no write allowed without one.
    anonymous = (await get(open_reads, "/access")).json()["data"]
    assert anonymous["role"] is None
    assert not anonymous["canSupervise"] and not anonymous["canManageMembers"]
    assert not anonymous["actionsEnabled"]
    unknown = await get(open_reads, "/access", "nope")
    assert unknown.status_code == 401


async def test_access_without_tokens_on_loopback_is_everything(server: LiveServer) -> None:
    data = (await get(server, "/access")).json()["data"]
    assert data == {
        "role": None,
        "queues": None,
        "extension": None,
        "canSupervise": True,
        "canManageMembers": True,
        "pauseReasons": [],
        "actionsEnabled": False,  # AMI is off here
    }


async def test_access_without_tokens_beyond_loopback_enables_no_action(serve: Serve) -> None:
    async with serve(host="0.0.0.0") as server:
        data = (await get(server, "/access")).json()["data"]
    assert data["role"] is None
    assert not (data["canSupervise"] or data["canManageMembers"] or data["actionsEnabled"])


async def test_a_viewer_protected_server_scopes_its_viewer(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(api_tokens=TOKENS) as server:
        await _seeded(server, monkeypatch)
        assert (await get(server, "/operators")).status_code == 401
        assert (await get(server, "/access")).status_code == 401
        # The bare fast path of /operators and /snapshot serves the viewer its scope.
        viewer = (await get(server, "/operators", "v-support")).json()
        assert ids(viewer) == ["PJSIP/1002", "PJSIP/1003"]
        assert list(viewer["data"][0]["queues"]) == ["support"]
        snapshot = (await get(server, "/snapshot", "v-support")).json()["data"]
        assert [q["name"] for q in snapshot["queues"]] == ["support"]
        assert [c["name"] for c in snapshot["channels"]] == [
            "PJSIP/1002-00000003",
            "PJSIP/trunk-00000010",
        ]
        access = (await get(server, "/access", "v-support")).json()["data"]
        assert (access["role"], access["queues"]) == ("viewer", ["support"])
        assert not (access["canSupervise"] or access["canManageMembers"])
        full = (await get(server, "/operators", "a-all")).json()
        assert ids(full) == ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003"]
