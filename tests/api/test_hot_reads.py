"""The hot reads answered ahead of the middleware stack: the stack's bytes, headers and
counters, and every request a middleware would judge left to the stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

import api.service
from api.hot_reads import HotReads
from tests.api.live_server import LiveServer, Serve, seed, wait_for

NOW = 1_703_337_700_000
BASE = "/api/queue-status"


def _front(server: LiveServer) -> HotReads:
    front = server.app.middleware_stack
    assert isinstance(front, HotReads)
    return front


def _through_the_stack(server: LiveServer) -> httpx.AsyncClient:
    """A client of the app without its front layer: every request through the stack."""
    stack = _front(server).app

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = server.app
        await stack(scope, receive, send)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def _current(server: LiveServer) -> LiveServer:
    await seed(server.store)
    latest = await server.store.version()
    await wait_for(lambda: server.broadcaster.feed.version == latest)
    return server


@pytest.fixture
async def current(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setattr(api.service, "now_ms", lambda: NOW)  # /snapshot's wait times
    return await _current(server)


@pytest.fixture
async def guarded(serve: Serve) -> AsyncIterator[LiveServer]:
    async with serve(api_tokens="viewer:v-all,supervisor:s-sales:sales") as server:
        await wait_for(lambda: server.broadcaster.connected)
        yield await _current(server)


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "server")]


@pytest.mark.parametrize("path", ["/operators", "/snapshot"])
async def test_a_hot_read_is_the_stacks_answer(current: LiveServer, path: str) -> None:
    hot = await current.http.get(f"{BASE}{path}")
    async with _through_the_stack(current) as stack:
        slow = await stack.get(f"{BASE}{path}")
    assert hot.status_code == slow.status_code == 200
    assert hot.content == slow.content
    assert _headers(hot) == _headers(slow)


async def test_hot_reads_are_counted_under_their_route(current: LiveServer) -> None:
    for _ in range(3):
        await current.http.get(f"{BASE}/operators")
    metrics = (await current.http.get("/metrics")).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("queue_status_http_requests_total")
        and f'route="{BASE}/operators"' in line
        and 'method="GET"' in line
    )
    assert line.endswith(" 3.0")


async def test_what_a_middleware_judges_goes_through_the_stack(current: LiveServer) -> None:
    wrong_host = await current.http.get(f"{BASE}/operators", headers={"Host": "evil.example"})
    assert wrong_host.status_code == 400
    cross = await current.http.get(f"{BASE}/operators", headers={"Origin": "http://localhost:4200"})
    assert cross.headers["access-control-allow-origin"] == "http://localhost:4200"
    repeated = await current.http.get(f"{BASE}/operators?queue=a&queue=b")
    assert repeated.status_code == 400
    head = await current.http.head(f"{BASE}/operators")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0


async def test_refusals_and_scopes_are_the_stacks(guarded: LiveServer) -> None:
    async with _through_the_stack(guarded) as stack:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer s-sales"}):
            hot = await guarded.http.get(f"{BASE}/operators", headers=headers)
            slow = await stack.get(f"{BASE}/operators", headers=headers)
            assert (hot.status_code, hot.content) == (slow.status_code, slow.content)
            assert _headers(hot) == _headers(slow)
    refused = await guarded.http.get(f"{BASE}/operators")
    assert refused.status_code == 401
    scoped = (
        await guarded.http.get(f"{BASE}/operators", headers={"Authorization": "Bearer s-sales"})
    ).json()
    assert {op["memberId"] for op in scoped["data"]} == {"PJSIP/1001", "PJSIP/1002"}


GRAPHQL = {"query": "{ operators { memberId status queues { queueName paused } } }"}


async def test_a_kept_graphql_answer_is_the_stacks_answer(current: LiveServer) -> None:
    answers = [await current.http.post("/graphql", json=GRAPHQL) for _ in range(3)]
    hits = _front(current)._answers
    assert hits is not None and hits.cache.hits == 1  # the third, answered here
    async with _through_the_stack(current) as stack:
        slow = await stack.post("/graphql", json=GRAPHQL)
    assert hits.cache.hits == 2  # the stack's route served it from the cache too
    assert answers[2].content == answers[0].content == slow.content
    assert _headers(answers[2]) == _headers(slow) == _headers(answers[0])
    # With an Origin the stack answers (CORS), from the same kept answer.
    cross = await current.http.post(
        "/graphql", json=GRAPHQL, headers={"Origin": "http://localhost:4200"}
    )
    assert cross.content == slow.content and hits.cache.hits == 3
    assert cross.headers["access-control-allow-origin"] == "http://localhost:4200"


async def test_graphql_refusals_are_the_stacks(guarded: LiveServer) -> None:
    for _ in range(3):
        await guarded.http.post("/graphql", json=GRAPHQL, headers={"Authorization": "Bearer v-all"})
    async with _through_the_stack(guarded) as stack:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer s-sales"}):
            hot = await guarded.http.post("/graphql", json=GRAPHQL, headers=headers)
            slow = await stack.post("/graphql", json=GRAPHQL, headers=headers)
            assert (hot.status_code, hot.content) == (slow.status_code, slow.content)
            assert _headers(hot) == _headers(slow)
