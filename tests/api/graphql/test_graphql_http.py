"""Queries and mutations over HTTP on the real app: field by field against the REST answers.

GraphQL conventions differ from the REST JSON in form only: enum values are
upper case names, per-queue memberships are a list instead of an object keyed
by queue, and every Timestamp is in milliseconds (Asterisk's epoch seconds are
converted; 0, "never", is null). The `as_graphql_*` functions state exactly
that mapping, and fail on any REST field they do not know.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from tests.api.live_server import JsonObject, LiveServer, Serve, seed

MEMBERSHIP_FIELDS = (
    "queueName penalty paused pausedReason callsTaken lastCall lastPause loginTime "
    "wrapupTime wrapupUntil membership inCall ringinuse"
)
OPERATOR_FIELDS = (
    "memberId memberName stateInterface status paused pausedReason queueName currentCallId "
    f"currentChannel statusSince updatedAt version queues {{ {MEMBERSHIP_FIELDS} }}"
)
QUEUE_FIELDS = (
    "name strategy callsWaiting longestWaitSeconds holdTime talkTime completed abandoned "
    "serviceLevel serviceLevelPerf wrapupTime timeout maxLen weight updatedAt version "
    "members { total available inCall ringing paused unavailable } "
    "callers { position uniqueId channel callerIdNum callerIdName joinedAt waitSeconds }"
)
CHANNEL_FIELDS = (
    "name uniqueId linkedId state callerIdNum callerIdName connectedLineNum "
    "connectedLineName context exten queueName memberId createdAt answeredAt updatedAt version"
)
SYNC_REPORT_FIELDS = (
    "members queues operators removedOperators removedQueues removedMemberships changes "
    "version durationMs finishedAt authoritative"
)
SYNC_STATUS_KEYS = {
    "dbMembers",
    "dbQueues",
    "redisOperators",
    "redisQueues",
    "redisChannels",
    "inSync",
    "databaseError",
    "differences",
    "lastSync",
    "lastSyncError",
}
SYNC_STATUS_FIELDS = (
    "dbMembers dbQueues redisOperators redisQueues redisChannels inSync databaseError "
    "differences { operatorsMissingInRedis operatorsNotInDb queuesMissingInRedis "
    f"queuesNotInDb }} lastSync {{ {SYNC_REPORT_FIELDS} }} lastSyncError ingest"
)


def _enum(value: Any) -> Any:
    return None if value is None else str(value).upper()


def _ms(seconds: Any) -> Any:
    return seconds * 1000 if seconds else None


def _only(rest: JsonObject, known: set[str]) -> None:
    unknown = set(rest) - known
    assert not unknown, f"REST fields without a GraphQL equivalent: {sorted(unknown)}"


def as_graphql_membership(name: str, rest: JsonObject) -> JsonObject:
    """A REST membership as GraphQL shows it."""
    mapped = {
        "queueName": rest.get("queueName", name),
        "penalty": rest.get("penalty"),
        "paused": bool(rest.get("paused")),
        "pausedReason": rest.get("pausedReason"),
        "callsTaken": rest.get("callsTaken"),
        "lastCall": _ms(rest.get("lastCall")),
        "lastPause": _ms(rest.get("lastPause")),
        "loginTime": _ms(rest.get("loginTime")),
        "wrapupTime": rest.get("wrapupTime"),
        "wrapupUntil": _ms(rest.get("wrapupUntil")),
        "membership": _enum(rest.get("membership")),
        "inCall": rest.get("inCall"),
        "ringinuse": rest.get("ringinuse"),
    }
    _only(rest, set(mapped))
    return mapped


def as_graphql_operator(rest: JsonObject) -> JsonObject:
    """A REST operator as GraphQL shows it."""
    queues = rest.get("queues") or {}
    mapped = {
        "memberId": rest["memberId"],
        "memberName": rest["memberName"],
        "stateInterface": rest.get("stateInterface"),
        "status": _enum(rest["status"]),
        "paused": rest["paused"],
        "pausedReason": rest.get("pausedReason"),
        "queueName": rest.get("queueName"),
        "currentCallId": rest.get("currentCallId"),
        "currentChannel": rest.get("currentChannel"),
        "statusSince": rest.get("statusSince"),
        "updatedAt": rest.get("updatedAt"),
        "version": rest.get("version"),
        "queues": [as_graphql_membership(name, queues[name]) for name in sorted(queues)],
    }
    _only(rest, set(mapped))
    return mapped


def as_graphql_queue(rest: JsonObject) -> JsonObject:
    """A REST queue as GraphQL shows it."""
    mapped = {
        key: rest.get(key)
        for key in [
            "name",
            "strategy",
            "callsWaiting",
            "longestWaitSeconds",
            "holdTime",
            "talkTime",
            "completed",
            "abandoned",
            "serviceLevel",
            "serviceLevelPerf",
            "wrapupTime",
            "timeout",
            "maxLen",
            "weight",
            "updatedAt",
            "version",
            "members",
        ]
    }
    mapped["callers"] = [
        {key: caller.get(key) for key in caller} for caller in rest.get("callers") or []
    ]
    _only(rest, set(mapped))
    return mapped


def as_graphql_channel(rest: JsonObject) -> JsonObject:
    """A REST channel as GraphQL shows it."""
    mapped = {key: rest.get(key) for key in CHANNEL_FIELDS.split()}
    mapped["state"] = _enum(rest.get("state"))
    _only(rest, set(mapped))
    return mapped


def same_queues(graphql: list[JsonObject], rest: list[JsonObject]) -> None:
    """Equal, but wait times may tick over a second between the two requests."""
    expected = [as_graphql_queue(q) for q in rest]
    assert len(graphql) == len(expected)
    for got, want in zip(graphql, expected, strict=True):
        assert abs(got.pop("longestWaitSeconds") - want.pop("longestWaitSeconds")) <= 1
        for got_caller, want_caller in zip(got["callers"], want["callers"], strict=True):
            assert abs(got_caller.pop("waitSeconds") - want_caller.pop("waitSeconds")) <= 1
        assert got == want


async def rest_data(server: LiveServer, path: str, **params: Any) -> Any:
    """The `data` of a successful REST GET."""
    response = await server.rest("GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def data_of(server: LiveServer, query: str, variables: JsonObject | None = None) -> Any:
    """The `data` of a GraphQL answer without errors."""
    body = await server.graphql(query, variables)
    assert "errors" not in body, body
    return body["data"]


def codes(body: JsonObject) -> list[str]:
    """The extensions.code of each error."""
    return [error["extensions"]["code"] for error in body.get("errors", [])]


@pytest.fixture
async def seeded(server: LiveServer) -> LiveServer:
    """The server with the seed call centre in Redis."""
    await seed(server.store)
    return server


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"queue": "sales"},
        {"queue": "support"},
        {"status": "idle"},
        {"paused": True},
        {"paused": False, "queue": "sales"},
    ],
)
async def test_operators_match_rest(seeded: LiveServer, filters: dict[str, Any]) -> None:
    rest_params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in filters.items()}
    rest = await rest_data(seeded, "/operators", **rest_params)
    variables = {k: v.upper() if k == "status" else v for k, v in filters.items()}
    data = await data_of(
        seeded,
        "query($queue: String, $status: OperatorStatus, $paused: Boolean) {"
        f" operators(queue: $queue, status: $status, paused: $paused) {{ {OPERATOR_FIELDS} }} }}",
        variables,
    )
    assert rest, "the seed should match every filter of this table"
    assert data["operators"] == [as_graphql_operator(op) for op in rest]


async def test_operator_matches_rest_and_not_found_is_an_error(seeded: LiveServer) -> None:
    rest = await rest_data(seeded, "/operators/PJSIP%2F1001")
    query = f"query($id: String!) {{ operator(memberId: $id) {{ {OPERATOR_FIELDS} }} }}"
    data = await data_of(seeded, query, {"id": "PJSIP/1001"})
    assert data["operator"] == as_graphql_operator(rest)
    assert data["operator"]["queues"][0]["lastCall"] == 1_703_337_000_000

    missing = await seeded.graphql(query, {"id": "PJSIP/9999"})
    assert missing["data"] == {"operator": None}
    assert codes(missing) == ["NOT_FOUND"]
    assert (await seeded.rest("GET", "/operators/PJSIP%2F9999")).status_code == 404


async def test_queues_match_rest(seeded: LiveServer) -> None:
    rest = await rest_data(seeded, "/queues")
    data = await data_of(seeded, f"{{ queues {{ {QUEUE_FIELDS} }} }}")
    same_queues(data["queues"], rest)
    assert data["queues"][0]["members"] == {
        "total": 2,
        "available": 0,
        "inCall": 1,
        "ringing": 0,
        "paused": 1,
        "unavailable": 0,
    }


async def test_queue_matches_rest(seeded: LiveServer) -> None:
    rest = await rest_data(seeded, "/queues/sales")
    data = await data_of(seeded, f'{{ queue(name: "sales") {{ {QUEUE_FIELDS} }} }}')
    same_queues([data["queue"]], [rest])
    missing = await seeded.graphql('{ queue(name: "nope") { name } }')
    assert codes(missing) == ["NOT_FOUND"]


@pytest.mark.parametrize("queue", [None, "sales", "support"])
async def test_channels_match_rest(seeded: LiveServer, queue: str | None) -> None:
    rest = await rest_data(seeded, "/channels", **({"queue": queue} if queue else {}))
    data = await data_of(
        seeded,
        f"query($queue: String) {{ channels(queue: $queue) {{ {CHANNEL_FIELDS} }} }}",
        {"queue": queue},
    )
    assert data["channels"] == [as_graphql_channel(c) for c in rest]


async def test_snapshot_matches_rest(seeded: LiveServer) -> None:
    rest = await rest_data(seeded, "/snapshot")
    data = await data_of(
        seeded,
        f"{{ snapshot {{ version generatedAt operators {{ {OPERATOR_FIELDS} }} "
        f"queues {{ {QUEUE_FIELDS} }} channels {{ {CHANNEL_FIELDS} }} }} }}",
    )
    snapshot = data["snapshot"]
    assert snapshot["version"] == rest["version"] == await seeded.store.version()
    assert abs(snapshot["generatedAt"] - rest["generatedAt"]) < 5_000
    assert snapshot["operators"] == [as_graphql_operator(op) for op in rest["operators"]]
    same_queues(snapshot["queues"], rest["queues"])
    assert snapshot["channels"] == [as_graphql_channel(c) for c in rest["channels"]]
    assert set(rest) == {"operators", "queues", "channels", "version", "generatedAt"}


async def test_sync_status_matches_rest(seeded: LiveServer) -> None:
    rest = await rest_data(seeded, "/sync/status")
    data = await data_of(seeded, f"{{ syncStatus {{ {SYNC_STATUS_FIELDS} }} }}")
    status = data["syncStatus"]
    for key in ("dbMembers", "dbQueues", "redisOperators", "redisQueues", "redisChannels"):
        assert status[key] == rest[key], key
    assert (status["dbMembers"], status["redisOperators"], status["redisChannels"]) == (0, 3, 2)
    assert status["inSync"] is rest["inSync"] is False
    assert status["differences"] == rest["differences"]
    assert status["lastSync"] == rest["lastSync"]
    assert status["lastSyncError"] == rest["lastSyncError"]
    ingest = {k: v for k, v in rest.items() if k not in SYNC_STATUS_KEYS}
    assert status["ingest"] == (ingest or None)


SET_STATUS = f"""
mutation($input: SetOperatorStatusInput!) {{ setOperatorStatus(input: $input) {{ {OPERATOR_FIELDS} }} }}
"""


async def test_set_operator_status_takes_the_rest_path(seeded: LiveServer) -> None:
    body = {
        "queueName": "sales",
        "memberName": "Eve",
        "paused": True,
        "pausedReason": "training",
        "currentCallId": "1703337600.5",
    }
    response = await seeded.rest(
        "POST", "/operators", json={"memberId": "PJSIP/2001", "status": "in_call", **body}
    )
    assert response.status_code == 201
    rest = response.json()["data"]
    data = await data_of(
        seeded,
        SET_STATUS,
        {"input": {"memberId": "PJSIP/2002", "status": "IN_CALL", **body}},
    )
    graphql = data["setOperatorStatus"]
    assert graphql["version"] == rest["version"] + 1 == await seeded.store.version()
    expected = as_graphql_operator(rest)
    for volatile in ("memberId", "version", "updatedAt", "statusSince"):
        graphql.pop(volatile)
        expected.pop(volatile)
    for membership in (*graphql["queues"], *expected["queues"]):
        membership.pop("lastPause")  # stamped with the time of each request
    assert graphql == expected
    stored = await seeded.store.get("operator", "PJSIP/2002")
    assert stored is not None and stored["status"] == "in_call" and stored["paused"] is True


@pytest.mark.parametrize(
    ("input_", "message"),
    [
        ({"memberId": "", "status": "IDLE"}, "memberId"),
        ({"memberId": "PJSIP/\r\n1", "status": "IDLE"}, "CR, LF or NUL"),
        ({"memberId": "P" * 257, "status": "IDLE"}, "memberId"),
        ({"memberId": "PJSIP/1001", "status": "IDLE", "queueName": "q" * 129}, "queueName"),
        ({"memberId": "PJSIP/1001", "status": "nope"}, "OperatorStatus"),
        ({"status": "IDLE"}, "memberId"),
    ],
)
async def test_invalid_input_is_bad_user_input_and_writes_nothing(
    seeded: LiveServer, input_: JsonObject, message: str
) -> None:
    before = await seeded.store.version()
    answer = await seeded.graphql(SET_STATUS, {"input": input_})
    assert codes(answer) == ["BAD_USER_INPUT"]
    assert message in answer["errors"][0]["message"]
    assert await seeded.store.version() == before


async def test_resync_matches_rest(seeded: LiveServer) -> None:
    query = f"mutation {{ resync {{ {SYNC_REPORT_FIELDS} }} }}"
    first = (await data_of(seeded, query))["resync"]
    # The database is empty and AMI is off, so it decides: the seeded live state goes.
    assert sorted(first["removedOperators"]) == ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003"]
    assert first["authoritative"] is True
    response = await seeded.rest("POST", "/sync/resync")
    rest = response.json()["data"]
    second = (await data_of(seeded, query))["resync"]
    for report in (rest, second):
        report.pop("durationMs")
        report.pop("finishedAt")
    assert second == rest


async def test_clear_matches_rest(seeded: LiveServer) -> None:
    data = await data_of(seeded, "mutation { clear { operators queues channels } }")
    assert data["clear"] == {"operators": 3, "queues": 2, "channels": 2}
    response = await seeded.rest("DELETE", "/clear")
    assert response.json()["data"] == {"operators": 0, "queues": 0, "channels": 0}
    assert await seeded.store.counts() == {"operator": 0, "queue": 0, "channel": 0}


async def test_queries_over_get_and_graphiql(seeded: LiveServer) -> None:
    response = await seeded.http.get("/graphql", params={"query": "{ queues { name } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"queues": [{"name": "sales"}, {"name": "support"}]}}
    page = await seeded.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    mutation = await seeded.http.get("/graphql", params={"query": "mutation { clear { queues } }"})
    assert mutation.status_code == 400
    assert await seeded.store.counts() != {"operator": 0, "queue": 0, "channel": 0}


async def test_cors_preflight_allows_the_configured_origin(server: LiveServer) -> None:
    headers = {
        "Origin": "http://localhost:4200",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    allowed = await server.http.options("/graphql", headers=headers)
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:4200"
    refused = await server.http.options(
        "/graphql", headers={**headers, "Origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in refused.headers


async def test_redis_down_is_unavailable(serve: Serve) -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        async with serve(redis=down) as running:
            answer = await running.graphql("{ operators { memberId } }")
    finally:
        await down.aclose()
    assert codes(answer) == ["UNAVAILABLE"]
    assert answer["errors"][0]["extensions"]["retryAfterSeconds"] == 5
    assert answer["errors"][0]["message"] == "Redis is unavailable; retry shortly"
