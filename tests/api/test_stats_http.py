"""KPIs over HTTP: GET /stats/queues, /stats/agents, /calls (JSON and CSV) and GraphQL's
queueStats, agentStats, calls — scope, bad input (422 / BAD_USER_INPUT), the database
down (503 / UNAVAILABLE, no hang). The runbook's queues give the service levels (sales 20 s,
support 30 s) through the live state."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.db.engine import make_engine
from ingest.records.model import CallOutcome, IntervalKind, Record
from ingest.records.repository import save_records
from tests.ingest.records.kpi_records import call, interval
from tests.support.server import run_server
from tests.support.settings import test_settings as settings_of

VIEWER = "viewer-token-0123456789abcdef"
SALES = "sales-viewer-token-0123456789a"
TOKENS = f"viewer:{VIEWER},viewer:{SALES}:sales"
DAY = {"from": "2026-12-02T00:00:00+01:00", "to": "2026-12-03T00:00:00+01:00"}
RECORDS: list[Record] = [
    call("c1", "2026-12-02 09:00:05", hold=5, talk=100, wrap_up_time=30),
    call("c2", "2026-12-02 09:10:00", hold=25, talk=200, member="PJSIP/1002"),
    call("c3", "2026-12-02 09:20:00", outcome=CallOutcome.ABANDONED, hold=3),
    call("c4", "2026-12-02 09:25:00", outcome=CallOutcome.ABANDONED, hold=40),
    call("c5", "2026-12-02 09:26:00", outcome=CallOutcome.ABANDONED, hold=41),
    call("s1", "2026-12-02 09:01:00", queue="support", hold=31, talk=50, member="PJSIP/1002"),
    interval(IntervalKind.LOGGED_IN, "2026-12-02 08:00:00", "2026-12-02 10:00:00"),
    interval(IntervalKind.PAUSED, "2026-12-02 08:30:00", "2026-12-02 08:40:00", reason="lunch"),
    interval(IntervalKind.PAUSED, "2026-12-02 08:50:00", "2026-12-02 08:55:00"),
    interval(IntervalKind.IN_CALL, "2026-12-02 09:00:10", "2026-12-02 09:01:50", uniqueid="c1"),
    interval(IntervalKind.WRAP_UP, "2026-12-02 09:01:50", "2026-12-02 09:02:20", uniqueid="c1"),
]
QUEUE_STATS = """
query Q($queue: String, $from: DateTime, $to: DateTime, $interval: Int) {
  queueStats(queue: $queue, from: $from, to: $to, interval: $interval) {
    queue from to offered answered completed abandoned timedOut shortAbandoned
    serviceLevelSeconds answeredWithinServiceLevel serviceLevel serviceLevelWithAbandons
    averageSpeedOfAnswer averageHandleTime longestWait
  }
}"""
AGENT_STATS = """
query A($memberId: String, $from: DateTime, $to: DateTime) {
  agentStats(memberId: $memberId, from: $from, to: $to) {
    memberId memberName queue callsTaken talkTime wrapUpTime pausedTime
    pauseTimeByReason { reason seconds } loggedInTime availableTime occupancy
  }
}"""
CALLS = """
query C($from: DateTime, $to: DateTime, $outcome: CallOutcome, $first: Int, $after: String) {
  calls(from: $from, to: $to, outcome: $outcome, first: $first, after: $after) {
    count pageInfo { endCursor hasNextPage }
    calls { uniqueid queue callerNumber wait position abandonPosition outcome answeredBy }
  }
}"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(key_prefix: str, runbook_db: str) -> AsyncIterator[httpx.AsyncClient]:
    engine = make_engine(runbook_db)
    try:
        await save_records(engine, RECORDS)
    finally:
        await engine.dispose()
    settings = settings_of(
        prefix=key_prefix,
        database_url=runbook_db,
        api_tokens=TOKENS,
        site_timezone="Europe/Paris",
    )
    async with (
        run_server(create_app(settings), settings) as url,
        httpx.AsyncClient(base_url=url, timeout=10, headers=bearer(VIEWER)) as http,
    ):
        yield http


async def graphql(
    http: httpx.AsyncClient, query: str, token: str = VIEWER, **variables: Any
) -> dict[str, Any]:
    answer = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=bearer(token) if token else {},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_queue_stats_rest_json_csv_and_graphql_agree(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/queue-status/stats/queues", params=DAY)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rows = {row["queue"]: row for row in body["data"]}
    assert set(rows) == {"sales", "support", "billing"}  # billing: live, no call
    sales = rows["sales"]
    assert (sales["offered"], sales["answered"], sales["abandoned"]) == (5, 2, 3)
    assert (sales["shortAbandoned"], sales["serviceLevelSeconds"]) == (1, 20)
    assert (sales["answeredWithinServiceLevel"], sales["serviceLevel"]) == (1, 50.0)
    assert sales["serviceLevelWithAbandons"] == 25.0  # 1 / (2 + 2)
    assert sales["averageHandleTime"] == 165.0  # (100 + 30 + 200) / 2
    assert rows["billing"]["offered"] == 0

    as_csv = await client.get(
        "/api/queue-status/stats/queues", params=DAY, headers={"Accept": "text/csv"}
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [line["queue"] for line in table] == ["billing", "sales", "support"]
    assert table[1]["serviceLevelWithAbandons"] == "25.0"
    assert table[0]["serviceLevel"] == ""  # null

    found = await graphql(client, QUEUE_STATS, queue="sales", **DAY, interval=900)
    assert "errors" not in found, found
    buckets = found["data"]["queueStats"]
    assert len(buckets) == 96
    assert sum(b["offered"] for b in buckets) == 5
    nine = next(b for b in buckets if b["from"].startswith("2026-12-02T09:00"))
    assert (nine["offered"], nine["answered"], nine["serviceLevel"]) == (2, 2, 50.0)


async def test_agent_stats(client: httpx.AsyncClient) -> None:
    found = await graphql(client, AGENT_STATS, memberId="PJSIP/1001", **DAY)
    assert "errors" not in found, found
    (alice,) = found["data"]["agentStats"]
    assert alice == {
        "memberId": "PJSIP/1001",
        "memberName": "Alice",
        "queue": "sales",
        "callsTaken": 1,
        "talkTime": 100.0,
        "wrapUpTime": 30.0,
        "pausedTime": 900.0,
        "pauseTimeByReason": [
            {"reason": "", "seconds": 300.0},
            {"reason": "lunch", "seconds": 600.0},
        ],
        "loggedInTime": 7200.0,
        "availableTime": 7200.0 - 900 - 130,
        "occupancy": round(100 * 130 / (130 + 6170), 2),
    }
    rest = await client.get(
        "/api/queue-status/stats/agents", params={**DAY, "memberId": "PJSIP/1002"}
    )
    assert [(r["queue"], r["callsTaken"]) for r in rest.json()["data"]] == [
        ("sales", 1),
        ("support", 1),
    ]


async def test_calls_pages_and_csv(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    after = None
    while True:
        found = await graphql(
            client,
            CALLS,
            **DAY,
            outcome="ABANDONED",
            first=2,
            **({"after": after} if after else {}),
        )
        assert "errors" not in found, found
        page = found["data"]["calls"]
        seen += [c["uniqueid"] for c in page["calls"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == ["c5", "c4", "c3"]  # newest first
    rest = await client.get(
        "/api/queue-status/calls", params={**DAY, "outcome": "abandoned", "first": 1}
    )
    first = rest.json()
    assert first["data"][0]["callerNumber"] == "0600c5"
    assert (first["data"][0]["wait"], first["data"][0]["abandonPosition"]) == (41, 1)
    assert first["pageInfo"]["hasNextPage"] is True
    as_csv = await client.get(
        "/api/queue-status/calls", params=DAY, headers={"Accept": "text/csv, application/json"}
    )
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(lines) == 6
    assert lines[0]["uniqueid"] == "c5"


async def test_scope_sees_only_its_queues(client: httpx.AsyncClient) -> None:
    rows = (
        await client.get("/api/queue-status/stats/queues", params=DAY, headers=bearer(SALES))
    ).json()["data"]
    assert {row["queue"] for row in rows} == {"sales"}
    out = await client.get(
        "/api/queue-status/stats/queues",
        params={**DAY, "queue": "support"},
        headers=bearer(SALES),
    )
    assert out.json()["data"] == []
    agents = await graphql(client, AGENT_STATS, token=SALES, memberId="PJSIP/1002", **DAY)
    assert [r["queue"] for r in agents["data"]["agentStats"]] == ["sales"]
    calls = await graphql(client, CALLS, token=SALES, **DAY)
    assert {c["queue"] for c in calls["data"]["calls"]["calls"]} == {"sales"}
    refused = await client.get("/api/queue-status/stats/queues", headers={"Authorization": ""})
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("/stats/queues", {"from": DAY["to"], "to": DAY["from"]}, "'to' must be later"),
        ("/stats/queues", {"interval": "30"}, "interval"),
        ("/stats/agents", {"from": "2026-01-01T00:00:00Z", "interval": "60"}, "too many"),
        # 3 queues × 4,001 days: each part allowed, the answer too large to build.
        (
            "/stats/queues",
            {"from": "2015-12-02T00:00:00Z", "to": "2026-12-03T00:00:00Z", "interval": "86400"},
            "rows",
        ),
        ("/calls", {"outcome": "vanished"}, "unknown outcome"),
        ("/calls", {"after": "x1"}, "cursor"),
    ],
)
async def test_bad_input_is_422(
    client: httpx.AsyncClient, path: str, params: dict[str, str], words: str
) -> None:
    answer = await client.get(f"/api/queue-status{path}", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["success"] is False
    assert words in answer.text


async def test_bad_input_in_graphql(client: httpx.AsyncClient) -> None:
    found = await graphql(client, QUEUE_STATS, interval=10)
    assert found["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "interval" in found["errors"][0]["message"]


async def test_database_down_is_503_without_a_hang(key_prefix: str) -> None:
    settings = settings_of(
        prefix=key_prefix, database_url="postgresql://postgres:secret-pw@127.0.0.1:9/none"
    )
    async with (
        run_server(create_app(settings), settings) as url,
        httpx.AsyncClient(base_url=url, timeout=20) as http,
    ):
        started = datetime.now(UTC)
        answer = await http.get("/api/queue-status/stats/queues")
        found = await graphql(http, "{ calls { count } }", token="")
        elapsed = datetime.now(UTC) - started
    assert answer.status_code == 503
    assert "secret-pw" not in answer.text
    assert answer.headers["Retry-After"]
    assert found["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert elapsed < timedelta(seconds=15)
