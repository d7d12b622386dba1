"""The GraphQL answer cache: exact, per scope, never for errors or the clock, bounded.

A cacheable query is answered by Strawberry the first time (the document is
classified), kept the second, served from the cache after that; every
answer it serves must be the executor's bytes and headers at the same store
version, for the caller's scope only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from graphql import parse

import api.graphql.answer_route
import api.service
from api.graphql.answer_route import CachedAnswers
from api.graphql.answers import Answer, AnswerCache, cacheable
from api.graphql.schema import schema
from api.settings import SettingsError, load_settings
from ingest.patches import Patch
from tests.api.graphql.test_graphql_compiled import WRITTEN, _suite_queries
from tests.api.live_server import JsonObject, LiveServer, Serve, seed, wait_for
from tests.api.test_two_pbxes import ADMIN, EAST_VIEWER, TwoPbxes, two  # noqa: F401  # the fixture

TOKENS = "supervisor:s-sales:sales:1009,supervisor:s-sales-2:sales,admin:a-all"
OPERATORS = "{ operators { memberId status queues { queueName paused } } }"


def _answers(server: LiveServer) -> CachedAnswers:
    for route in server.app.router.routes:
        endpoint = getattr(route, "endpoint", None)
        if isinstance(endpoint, CachedAnswers):
            return endpoint
    raise AssertionError("the answer cache is not mounted")


async def _post(
    server: LiveServer,
    query: str,
    variables: JsonObject | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: JsonObject = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return await server.http.post("/graphql", json=body, headers=headers)


async def _current(server: LiveServer) -> LiveServer:
    latest = await server.store.version()
    await wait_for(lambda: server.broadcaster.feed.version == latest)
    return server


@pytest.fixture
async def seeded(serve: Serve) -> AsyncIterator[LiveServer]:
    async with serve() as server:
        await wait_for(lambda: server.broadcaster.connected)
        await seed(server.store)
        yield await _current(server)


@pytest.fixture
async def scoped(serve: Serve) -> AsyncIterator[LiveServer]:
    async with serve(api_tokens=TOKENS) as server:
        await wait_for(lambda: server.broadcaster.connected)
        await seed(server.store)
        yield await _current(server)


# --- the rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        (OPERATORS, True),
        ('{ operator(memberId: "PJSIP/1001") { memberId } }', True),
        ("{ channels { name state } queues { name members { total } } }", True),
        ("query A { operators { memberId } } query B { channels { name } }", True),
        ("{ snapshot { version operators { memberId } } }", True),
        # The clock: wait times and the snapshot's time are made per answer.
        ("{ queues { name callers { uniqueId waitSeconds } } }", False),
        ("{ queues { name longestWaitSeconds } }", False),
        ("{ snapshot { generatedAt } }", False),
        ("{ q: queues { ...Waits } } fragment Waits on Queue { wait: longestWaitSeconds }", False),
        ("{ snapshot { queues { callers { ... on Caller { waitSeconds } } } } }", False),
        # Not the live store, or not projected from it.
        ("{ syncStatus { redisOperators } }", False),
        ("{ access { role } }", False),
        ("{ pbxes { name } }", False),
        ("{ operators { memberId } syncStatus { redisOperators } }", False),
        ('{ operator(memberId: "PJSIP/1001") { channel { name } } }', False),
        ("{ __schema { queryType { name } } }", False),
        ('mutation { setOperatorStatus(memberId: "x", status: IDLE) { memberId } }', False),
        ("subscription { operatorUpdated { kind } }", False),
    ],
)
def test_the_rule_keeps_store_reads_without_the_clock(query: str, kept: bool) -> None:
    assert (
        cacheable(schema._schema, parse(query), "A" if "query A" in query else None) is not None
    ) is kept


def test_the_cache_is_bounded_in_entries_and_bytes() -> None:
    cache = AnswerCache(max_entries=2, max_bytes=10)
    for key in "abc":
        cache.put(key, Answer(200, (), b"1234"))
    assert (len(cache), cache.evictions, cache.get("a")) == (2, 1, None)
    cache.put("big", Answer(200, (), b"12345678"))
    assert (len(cache), cache.bytes, cache.evictions) == (1, 8, 3)
    cache.put("huge", Answer(200, (), b"x" * 11))  # larger than the whole budget: not kept
    assert cache.get("huge") is None and cache.get("big") is not None


@pytest.mark.parametrize(
    ("setting", "value"), [("graphql_answer_cache", -1), ("graphql_answer_cache_bytes", -5)]
)
def test_the_cache_settings_are_checked(setting: str, value: int) -> None:
    with pytest.raises(SettingsError, match=setting.upper()):
        load_settings(**{setting: value})


# --- exactness ----------------------------------------------------------------------------


def _cases() -> list[tuple[str, dict[str, Any] | None]]:
    cases: dict[str, dict[str, Any] | None] = {query: variables for query, variables, _ in WRITTEN}
    for query, variables in _suite_queries():
        cases.setdefault(query, variables)
    return list(cases.items())


async def test_every_suite_query_answers_from_the_cache_as_the_executor(
    seeded: LiveServer,
) -> None:
    answers = _answers(seeded)
    kept = 0
    for query, variables in _cases():
        first = await _post(seeded, query, variables)  # the executor; classified
        await _post(seeded, query, variables)  # the executor again; kept when cacheable
        hits = answers.cache.hits
        third = await _post(seeded, query, variables)
        served = answers.cache.hits == hits + 1
        document = cacheable(schema._schema, parse(query), None)
        assert served is (document is not None and b'"errors"' not in first.content), query
        if served:
            kept += 1
            assert third.content == first.content, query
            assert _headers(third) == _headers(first), query
            assert third.status_code == first.status_code == 200
    assert kept >= 10  # the suites' store reads are cacheable, not only a corner of them


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(name, value) for name, value in response.headers.items() if name != "date"]


async def test_a_store_change_is_never_answered_from_an_older_version(seeded: LiveServer) -> None:
    for _ in range(3):
        before = (await _post(seeded, OPERATORS)).json()
    assert _answers(seeded).cache.hits >= 1
    await seeded.store.apply([Patch("operator", "PJSIP/1002", {"status": "in_call"})])
    await _current(seeded)
    after = (await _post(seeded, OPERATORS)).json()
    statuses = {op["memberId"]: op["status"] for op in after["data"]["operators"]}
    assert statuses["PJSIP/1002"] == "IN_CALL" != _status(before, "PJSIP/1002")


def _status(answer: JsonObject, member_id: str) -> str:
    return str(
        next(op["status"] for op in answer["data"]["operators"] if op["memberId"] == member_id)
    )


async def test_errors_are_never_kept(seeded: LiveServer) -> None:
    answers = _answers(seeded)
    missing = '{ operator(memberId: "PJSIP/none") { memberId } }'
    for _ in range(3):
        answer = (await _post(seeded, missing)).json()
        assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (answers.cache.hits, len(answers.cache)) == (0, 0)


async def test_concurrent_misses_of_one_key_all_get_the_answer(seeded: LiveServer) -> None:
    answers = _answers(seeded)
    first = await _post(seeded, OPERATORS)  # classified
    for round_ in range(3):  # the store moves between rounds: every round misses first
        await seeded.store.apply([Patch("operator", "PJSIP/1003", {"penalty": round_})])
        await _current(seeded)
        before = answers.cache.hits + answers.cache.misses
        replies = await asyncio.gather(*(_post(seeded, OPERATORS) for _ in range(20)))
        assert {reply.status_code for reply in replies} == {200}
        assert len({reply.content for reply in replies}) == 1
        assert replies[0].content != b"" and first.status_code == 200
        assert answers.cache.hits + answers.cache.misses == before + 20
        assert not answers._flights  # every computation finished and let go of its key


async def test_answers_the_state_moved_under_are_not_kept_nor_shared(
    seeded: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def store_moved(_: object) -> bool:
        return False  # as if a change landed while each answer was computed

    monkeypatch.setattr(api.graphql.answer_route, "_unchanged", store_moved)
    monkeypatch.setattr(api.graphql.answer_route, "_mirrors_still_at", lambda _: False)
    answers = _answers(seeded)
    await _post(seeded, OPERATORS)  # classified
    replies = await asyncio.gather(*(_post(seeded, OPERATORS) for _ in range(20)))
    assert {reply.status_code for reply in replies} == {200}
    assert len({reply.content for reply in replies}) == 1
    assert (answers.cache.hits, len(answers.cache), answers._flights) == (0, 0, {})


async def test_collections_are_computed_at_the_pinned_version(
    seeded: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document of collections is read from the mirrors pinned at the key's version:
    kept while they are still there, whatever the store did meanwhile; one with
    `operator` (read from Redis) needs the store unmoved."""

    async def store_moved(_: object) -> bool:
        return False

    monkeypatch.setattr(api.graphql.answer_route, "_unchanged", store_moved)
    answers = _answers(seeded)
    single = '{ operator(memberId: "PJSIP/1001") { memberId } }'
    for query in (OPERATORS, single):
        await _post(seeded, query)  # classified
    round_trips = 0
    redis = api.service.QueueStatusService._redis

    def counted(self: api.service.QueueStatusService) -> Any:
        nonlocal round_trips
        round_trips += 1
        return redis(self)

    monkeypatch.setattr(api.service.QueueStatusService, "_redis", counted)
    await _post(seeded, OPERATORS)
    assert round_trips == 0  # computed from the pinned mirror, no version read
    await _post(seeded, single)
    assert round_trips == 1  # the operator, from Redis
    assert len(answers.cache) == 1  # the collections' answer; not the operator's
    hits = answers.cache.hits
    await _post(seeded, OPERATORS)
    assert answers.cache.hits == hits + 1


# --- scope --------------------------------------------------------------------------------


async def test_a_scope_never_sees_another_scopes_answer(scoped: LiveServer) -> None:
    answers = _answers(scoped)

    async def members(token: str | None) -> set[str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = (await _post(scoped, OPERATORS, headers=headers)).json()
        return {op["memberId"] for op in body["data"]["operators"]}

    for _ in range(3):
        sales = await members("s-sales")
    assert answers.cache.hits == 1
    everyone = await members("a-all")
    anonymous = await members(None)
    assert sales == {"PJSIP/1001", "PJSIP/1002"}
    assert everyone == anonymous == {"PJSIP/1001", "PJSIP/1002", "PJSIP/1003"}
    assert await members("a-all") == everyone  # kept for its own scope
    hits = answers.cache.hits
    # Another token with the same scope (role and queues) shares the sales answer.
    assert await members("s-sales-2") == sales
    assert answers.cache.hits == hits + 1


# --- the same guards as before ------------------------------------------------------------


async def _refusals(server: LiveServer) -> list[tuple[int, bytes]]:
    for _ in range(3):  # kept, for the requests below to find if they got that far
        await _post(server, OPERATORS, headers={"Authorization": "Bearer v-all"})
    body = orjson.dumps({"query": OPERATORS})
    viewer = {"Authorization": "Bearer v-all"}
    requests: list[tuple[dict[str, str], bytes]] = [
        ({}, body),
        ({"Authorization": "Bearer nope"}, body),
        ({"Authorization": "Basic abc"}, body),
        ({**viewer, "Origin": "https://evil.example"}, body),
        ({**viewer, "Host": "evil.example"}, body),
        (viewer, body + b" " * 70_000),  # over MAX_BODY_BYTES
    ]
    answers = []
    for extra, content in requests:
        headers = {"Content-Type": "application/json", **extra}
        response = await server.http.post("/graphql", content=content, headers=headers)
        answers.append((response.status_code, response.content))
    get = await server.http.get("/graphql", params={"query": OPERATORS})
    answers.append((get.status_code, get.content))
    return answers


async def test_refusals_are_the_same_with_and_without_the_cache(serve: Serve) -> None:
    seen = []
    for size in (1000, 0):
        async with serve(
            api_tokens="viewer:v-all,admin:a-all", graphql_answer_cache=size
        ) as server:
            await wait_for(lambda: server.broadcaster.connected)
            await seed(server.store)
            await _current(server)
            seen.append(await _refusals(server))
            metrics = (await server.http.get("/metrics")).text
            # Counted under the route with the cache on or off (never an empty label).
            assert 'method="POST",route="/graphql",status="200"} ' in metrics
            assert 'route=""' not in metrics
    assert seen[0] == seen[1]
    statuses = [status for status, _ in seen[0]]
    assert statuses == [200, 200, 200, 403, 400, 413, 200]
    assert all(b'"errors"' in body or b'"success":false' in body for _, body in seen[0])


async def test_the_cache_is_counted_at_metrics(seeded: LiveServer) -> None:
    for _ in range(4):
        await _post(seeded, OPERATORS)
    await _post(seeded, '{ operator(memberId: "PJSIP/none") { memberId } }')
    text = (await seeded.http.get("/metrics")).text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("queue_status_graphql_answer_cache")
    }
    assert values["queue_status_graphql_answer_cache_hits_total"] == 2
    assert values["queue_status_graphql_answer_cache_misses_total"] == 1
    assert values["queue_status_graphql_answer_cache_entries"] == 1
    assert values["queue_status_graphql_answer_cache_bytes"] > 0
    assert 'route="/graphql"' in text


async def test_each_pbx_keeps_its_own_answers(two: TwoPbxes) -> None:  # noqa: F811
    by_variable = "query($p: String!) { operators(pbx: $p) { memberId } }"
    seen: dict[str, set[str]] = {}
    for pbx in ("east", "west", "east", "west", "east", "west"):
        answer = await two.client.post(
            "/graphql",
            json={"query": by_variable, "variables": {"p": pbx}},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        members = {op["memberId"] for op in answer.json()["data"]["operators"]}
        assert seen.setdefault(pbx, members) == members
        rest = (await two.get("/operators", pbx=pbx)).json()["data"]
        assert members == {op["memberId"] for op in rest}
    assert seen["east"] != seen["west"]
    metrics = (await two.client.get("/metrics")).text
    hits = next(
        line
        for line in metrics.splitlines()
        if line.startswith("queue_status_graphql_answer_cache_hits")
    )
    assert float(hits.split(" ")[-1]) >= 2  # the third east and west requests were kept ones
    for _ in range(3):  # a token of the other PBX never gets the kept west answer
        refused = await two.graphql('{ operators(pbx: "west") { memberId } }', EAST_VIEWER)
        assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
