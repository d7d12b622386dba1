"""Every command of the runbook, with the documented bodies and response shapes."""

from __future__ import annotations

import logging

import pytest
from redis.asyncio import Redis

from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.pipeline import EventPipeline
from ingest.store import StateStore
from ingest.traces import load_jsonl
from tests.api.conftest import AppFactory, LiveApp, execute

BASE = "/api/queue-status"
RUNBOOK_POST = {
    "memberId": "PJSIP/1001",
    "memberName": "PJSIP/1001",
    "queueName": "sales",
    "paused": False,
    "status": "in_call",
    "currentCallId": "1234567890.1",
    "updatedAt": 1703337600000,
}


async def test_all_operators_have_the_documented_shape(app: LiveApp) -> None:
    response = await app.client.get(f"{BASE}/operators")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["count"] == len(body["data"]) == 4
    alice = next(op for op in body["data"] if op["memberId"] == "PJSIP/1001")
    for field in ("memberId", "memberName", "queueName", "paused", "status", "updatedAt"):
        assert field in alice
    assert alice["memberName"] == "Alice"
    assert alice["queueName"] == "sales"
    assert alice["paused"] is False
    assert isinstance(alice["updatedAt"], int)


async def test_operator_in_two_queues_keeps_both_memberships(app: LiveApp) -> None:
    body = (await app.client.get(f"{BASE}/operators/PJSIP%2F1002")).json()
    queues = body["data"]["queues"]
    assert set(queues) == {"sales", "support"}
    assert queues["support"]["penalty"] == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("queue=support", {"PJSIP/1002", "PJSIP/1003"}),
        ("queue=billing", {"PJSIP/1004"}),
        ("status=unknown", {"PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004"}),
        ("status=in_call", set()),
        ("paused=true", {"PJSIP/1003"}),
    ],
)
async def test_operator_filters(app: LiveApp, query: str, expected: set[str]) -> None:
    body = (await app.client.get(f"{BASE}/operators?{query}")).json()
    assert {op["memberId"] for op in body["data"]} == expected
    assert body["count"] == len(expected)


async def test_imitated_ami_event_changes_the_operator(app: LiveApp) -> None:
    posted = await app.client.post(f"{BASE}/operators", json=RUNBOOK_POST)
    assert posted.status_code == 201
    assert posted.json()["success"] is True
    after = (await app.client.get(f"{BASE}/operators/PJSIP%2F1001")).json()
    operator = after["data"]
    assert operator["status"] == "in_call"
    assert operator["currentCallId"] == "1234567890.1"
    assert operator["queueName"] == "sales"
    # The server stamps its own time: the body's old timestamp is not kept.
    assert operator["updatedAt"] > RUNBOOK_POST["updatedAt"]


async def test_snapshot_has_everything_and_a_version(app: LiveApp) -> None:
    body = (await app.client.get(f"{BASE}/snapshot")).json()
    data = body["data"]
    assert body["success"] is True
    assert {op["memberId"] for op in data["operators"]} >= {"PJSIP/1001", "PJSIP/1004"}
    assert {q["name"] for q in data["queues"]} == {"sales", "support", "billing"}
    assert data["channels"] == []
    assert data["version"] >= 7
    assert isinstance(data["generatedAt"], int)
    support = next(q for q in data["queues"] if q["name"] == "support")
    assert support["members"]["total"] == 2
    assert support["members"]["paused"] == 1


async def test_sync_status_reports_the_five_counts(app: LiveApp) -> None:
    body = (await app.client.get(f"{BASE}/sync/status")).json()
    data = body["data"]
    assert (
        data["dbMembers"],
        data["dbQueues"],
        data["redisOperators"],
        data["redisQueues"],
        data["redisChannels"],
    ) == (5, 3, 4, 3, 0)
    assert data["inSync"] is True


async def test_resync_applies_added_changed_and_removed_rows_and_keeps_live_status(
    app: LiveApp,
) -> None:
    await app.client.post(f"{BASE}/operators", json=RUNBOOK_POST)
    url = app.settings.database_url.get_secret_value()
    await execute(url, "UPDATE queue_members SET penalty = 5 WHERE interface = 'PJSIP/1001'")
    await execute(url, "DELETE FROM queue_members WHERE interface = 'PJSIP/1004'")
    await execute(
        url, "DELETE FROM queue_members WHERE interface = 'PJSIP/1002' AND queue_name = 'sales'"
    )
    await execute(
        url,
        "INSERT INTO queue_members (queue_name, interface, membername, uniqueid)"
        " VALUES ('billing', 'PJSIP/1005', 'Eve', 6)",
    )
    status = (await app.client.get(f"{BASE}/sync/status")).json()["data"]
    assert status["inSync"] is False
    assert status["differences"]["operatorsMissingInRedis"] == ["PJSIP/1005"]
    assert status["differences"]["operatorsNotInDb"] == ["PJSIP/1004"]

    response = await app.client.post(f"{BASE}/sync/resync")
    assert response.status_code == 200
    report = response.json()["data"]
    assert report["removedOperators"] == ["PJSIP/1004"]
    assert report["removedMemberships"] == ["PJSIP/1002@sales"]

    alice = (await app.client.get(f"{BASE}/operators/PJSIP%2F1001")).json()["data"]
    assert alice["queues"]["sales"]["penalty"] == 5
    assert alice["status"] == "in_call"  # live fields survive a resync
    assert alice["currentCallId"] == "1234567890.1"
    bob = (await app.client.get(f"{BASE}/operators/PJSIP%2F1002")).json()["data"]
    assert set(bob["queues"]) == {"support"}
    assert bob["queueName"] == "support"
    gone = await app.client.get(f"{BASE}/operators/PJSIP%2F1004")
    assert gone.status_code == 404
    status = (await app.client.get(f"{BASE}/sync/status")).json()["data"]
    assert status["inSync"] is True
    assert (status["dbMembers"], status["redisOperators"]) == (4, 4)


async def test_clear_removes_our_keys_then_resync_reloads(
    app: LiveApp, redis_client: Redis, key_prefix: str
) -> None:
    foreign = f"{key_prefix}not-ours"
    await redis_client.set(foreign, "1")
    response = await app.client.delete(f"{BASE}/clear")
    assert response.status_code == 200
    assert response.json()["data"] == {"operators": 4, "queues": 3, "channels": 0}
    assert (await app.client.get(f"{BASE}/operators")).json()["count"] == 0
    assert await redis_client.get(foreign) == b"1"
    await app.client.post(f"{BASE}/sync/resync")
    assert (await app.client.get(f"{BASE}/operators")).json()["count"] == 4


def _decoded(values: set[bytes | str]) -> set[str]:
    return {v.decode() if isinstance(v, bytes) else v for v in values}


async def test_redis_keys_a_support_engineer_reads(app: LiveApp, redis_client: Redis) -> None:
    keys = KeySchema(app.settings.redis_key_prefix)
    members = _decoded(await redis_client.smembers(keys.index("operator")))
    assert members == {"PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004"}
    raw = await redis_client.get(keys.operator("PJSIP/1001"))
    assert raw is not None and b'"memberName":"Alice"' in raw
    assert _decoded(await redis_client.smembers(keys.index("queue"))) == {
        "sales",
        "support",
        "billing",
    }
    assert await redis_client.get(keys.queue("sales")) is not None


async def test_bookkeeping_stays_out_of_every_answer_mid_call(
    app: LiveApp, redis_client: Redis
) -> None:
    """An answered call stages the counts it will add (AgentConnect): nothing of that
    shows in REST, in GraphQL or in the Redis JSON the runbook reads."""
    keys = KeySchema(app.settings.redis_key_prefix)
    store = StateStore(redis_client, keys)
    await store.apply([Patch("operator", "PJSIP/1001", {"queues": {"sales": {"callsTaken": 2}}})])
    connect = {**load_jsonl("c_ringnoanswer")[122][1], "Queue": "sales"}
    connect["Interface"] = "PJSIP/1001"
    assert await EventPipeline(store).apply([connect]) == 1
    alice = await redis_client.get(keys.operator("PJSIP/1001"))
    assert alice is not None and b'"inCall":true' in alice
    staged = await redis_client.hget(keys.staged("operator"), "PJSIP/1001")
    assert staged == b'{"callsAfterCall":{"sales":3}}'

    answers = [
        (await app.client.get(f"{BASE}{path}")).text
        for path in ("/operators", "/operators/PJSIP%2F1001", "/snapshot")
    ]
    query = "{ operators { memberId queueName queues { queueName callsTaken inCall } } }"
    graphql = await app.client.post("/graphql", json={"query": query})
    for text in [str(alice), *answers, graphql.text]:
        assert "callsAfterCall" not in text
    assert '"inCall":true' in answers[1]


async def test_startup_logs_the_runbook_lines(
    live_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with live_app():
        pass
    lines = [r.getMessage() for r in caplog.records]
    expected = [
        "Starting queue data synchronization from DB to Redis",
        "Syncing 5 queue members to Redis",
        "Syncing 3 queues to Redis",
        "Queue data synchronization completed successfully",
    ]
    indexes = [lines.index(line) for line in expected]
    assert indexes == sorted(indexes)
    running = [line for line in lines if line.startswith("Application is running on: http://")]
    assert running and lines.index(running[0]) > indexes[-1]


async def test_health_and_metrics(app: LiveApp) -> None:
    health = await app.client.get("/healthz")
    assert health.status_code == 200
    data = health.json()["data"]
    assert data["redis"]["ok"] is True and data["database"]["ok"] is True
    assert data["status"] == "ok"
    await app.client.get(f"{BASE}/operators")
    metrics = await app.client.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert (
        'queue_status_http_requests_total{method="GET",route="/api/queue-status/operators",status="200"}'
        in text
    )
    assert 'queue_status_sync_runs_total{result="ok"} 1.0' in text
