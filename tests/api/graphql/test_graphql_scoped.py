"""GraphQL with tokens scoped to some queues: queries (compiled and executed, nested lookups),
the `access` query, and subscriptions over both WebSocket protocols, grouped or not.

The seed call centre: sales (Alice; Bob, paused for lunch there) and support
(Bob; Carol), Bob on a support call, a caller ringing in each queue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import orjson
import pytest
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

import api.service
from api.auth import AccessPolicy
from api.graphql.context import GraphQLContext
from api.graphql.fanout import Fanout
from api.service import QueueStatusService
from api.settings import parse_api_tokens
from ingest.patches import Patch
from ingest.store import StateStore
from tests.api.graphql.test_graphql_compiled import SCHEMAS, _compiled_plans
from tests.api.graphql.test_graphql_subscriptions import message, subscribe, ws_session
from tests.api.live_server import (
    JsonObject,
    LiveServer,
    Serve,
    seed,
    seed_support_calls,
    wait_for,
)

TOKENS = "supervisor:s-sales:sales:1009,admin:a-all"
PROTOCOLS = [
    pytest.param(WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, id="graphql-transport-ws"),
    pytest.param(WebsocketsTransport.APOLLO_SUBPROTOCOL, id="graphql-ws-legacy"),
]
SALES_OPERATORS = "{ operators { memberId queueName paused pausedReason queues { queueName } } }"
NESTED = """{ queues { name members { total } operators { memberId queues { queueName } }
  channels { name } } channels { name operator { memberId queues { queueName } } } }"""
ACCESS = """{ access { role queues extension canSupervise canManageMembers pauseReasons
  actionsEnabled } }"""
CHANGES = """subscription { changes {
  kind fromVersion toVersion
  snapshot { version operators { memberId queues { queueName } } queues { name } channels { name } }
  changes { version kind op id operator { memberId queues { queueName } } }
} }"""
OPERATOR_UPDATED = """subscription { operatorUpdated {
  kind fromVersion toVersion operators { memberId status queues { queueName } } removed { id } } }"""


async def _seeded(server: LiveServer) -> LiveServer:
    await seed(server.store)
    await seed_support_calls(server.store)
    latest = await server.store.version()
    await wait_for(lambda: server.broadcaster.feed.version == latest)
    return server


@pytest.fixture
async def scoped(serve: Serve) -> AsyncIterator[LiveServer]:
    """Reads open; a `sales` supervisor token and an unscoped admin token; fan-out on."""
    async with serve(api_tokens=TOKENS, pause_reasons="Lunch") as server:
        await wait_for(lambda: server.broadcaster.connected)
        yield await _seeded(server)


async def _apply(server: LiveServer, *patches: Patch) -> int:
    """Write as the ingest would; the version it reached."""
    await server.store.apply(list(patches))
    return await server.store.version()


# --- queries ------------------------------------------------------------------------------


async def test_a_sales_token_queries_sales_only(scoped: LiveServer) -> None:
    data = (await scoped.graphql(SALES_OPERATORS, token="s-sales"))["data"]
    assert data["operators"] == [
        {
            "memberId": "PJSIP/1001",
            "queueName": "sales",
            "paused": False,
            "pausedReason": "",
            "queues": [{"queueName": "sales"}],
        },
        {
            "memberId": "PJSIP/1002",
            "queueName": "sales",
            "paused": True,
            "pausedReason": "lunch",
            "queues": [{"queueName": "sales"}],
        },
    ]
    rest = await scoped.rest("GET", "/snapshot", headers={"Authorization": "Bearer s-sales"})
    snapshot = (
        await scoped.graphql(
            "{ snapshot { version queues { name } channels { name } } }", token="s-sales"
        )
    )["data"]["snapshot"]
    assert snapshot["queues"] == [{"name": "sales"}]
    assert [c["name"] for c in snapshot["channels"]] == [
        c["name"] for c in rest.json()["data"]["channels"]
    ]


async def test_what_is_outside_the_scope_is_not_found(scoped: LiveServer) -> None:
    answer = await scoped.graphql(
        '{ operator(memberId: "PJSIP/1003") { memberId } }', token="s-sales"
    )
    assert answer["data"] == {"operator": None}
    assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    queue = await scoped.graphql('{ queue(name: "support") { name } }', token="s-sales")
    assert queue["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    sync = await scoped.graphql("{ syncStatus { redisOperators } }", token="s-sales")
    assert sync["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_nested_lookups_see_what_the_root_fields_see(scoped: LiveServer) -> None:
    data = (await scoped.graphql(NESTED, token="s-sales"))["data"]
    assert data["queues"] == [
        {
            "name": "sales",
            "members": {"total": 2},
            "operators": [
                {"memberId": "PJSIP/1001", "queues": [{"queueName": "sales"}]},
                {"memberId": "PJSIP/1002", "queues": [{"queueName": "sales"}]},
            ],
            "channels": [{"name": "PJSIP/1001-00000001"}, {"name": "PJSIP/trunk-00000009"}],
        }
    ]
    bob_on_support = {"memberId": "PJSIP/1002", "queues": [{"queueName": "sales"}]}
    assert data["channels"] == [
        {
            "name": "PJSIP/1001-00000001",
            "operator": {"memberId": "PJSIP/1001", "queues": [{"queueName": "sales"}]},
        },
        {"name": "PJSIP/1002-00000003", "operator": bob_on_support},
        {"name": "PJSIP/trunk-00000009", "operator": None},
    ]


async def test_an_unscoped_token_queries_what_no_token_queries(
    scoped: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.service, "now_ms", lambda: 1_703_337_700_000)
    for query in (
        SALES_OPERATORS,
        NESTED,
        "{ snapshot { version generatedAt queues { name callers { waitSeconds } } } }",
    ):
        assert await scoped.graphql(query, token="a-all") == await scoped.graphql(query)


@pytest.mark.parametrize(
    "query",
    [
        SALES_OPERATORS,
        '{ operators(queue: "support") { memberId } }',
        '{ operator(memberId: "PJSIP/1002") { memberId paused queues { queueName paused } } }',
        '{ operator(memberId: "PJSIP/1003") { memberId } }',
        "{ queues { name members { total paused } callers { uniqueId } } }",
        '{ queue(name: "support") { name } }',
        "{ channels { name queueName memberId } }",
        "{ snapshot { version operators { memberId queueName } queues { name } channels { name } } }",
    ],
)
async def test_scoped_compiled_queries_answer_as_the_executor(
    store: StateStore, query: str
) -> None:
    await seed(store)
    await seed_support_calls(store)
    policy = AccessPolicy(parse_api_tokens(TOKENS), host_is_loopback=True)
    compiled, plain = SCHEMAS
    answered = _compiled_plans(compiled).answered
    bodies = []
    for schema in (compiled, plain):
        context = GraphQLContext(
            service=QueueStatusService(store, sync=None),  # type: ignore[arg-type]  # reads only
            policy=policy,
            authorization="Bearer s-sales",
        )
        result = await schema.execute(query, context_value=context)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        bodies.append(orjson.dumps(body))
    assert bodies[0] == bodies[1]
    assert b'"memberId":"PJSIP/1003"' not in bodies[0]
    assert (_compiled_plans(compiled).answered > answered) is (b'"errors"' not in bodies[1])


# --- access -------------------------------------------------------------------------------


async def test_the_access_query_per_token(scoped: LiveServer) -> None:
    supervisor = (await scoped.graphql(ACCESS, token="s-sales"))["data"]["access"]
    assert supervisor == {
        "role": "SUPERVISOR",
        "queues": ["sales"],
        "extension": "1009",
        "canSupervise": True,
        "canManageMembers": False,
        "pauseReasons": ["Lunch"],
        "actionsEnabled": False,  # this server runs without AMI: no action can reach Asterisk
    }
    admin = (await scoped.graphql(ACCESS, token="a-all"))["data"]["access"]
    assert (admin["role"], admin["queues"], admin["canManageMembers"]) == ("ADMIN", None, True)
    anonymous = (await scoped.graphql(ACCESS))["data"]["access"]
    assert (anonymous["role"], anonymous["canSupervise"], anonymous["actionsEnabled"]) == (
        None,
        False,
        False,
    )
    rest = await scoped.rest("GET", "/access", headers={"Authorization": "Bearer s-sales"})
    assert rest.json()["data"] == dict(supervisor, role="supervisor")


async def test_the_access_query_of_a_viewer_and_without_tokens(serve: Serve) -> None:
    async with serve(api_tokens="viewer:v-sales:sales,admin:a-all") as guarded:
        refused = await guarded.graphql(ACCESS)
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        viewer = (await guarded.graphql(ACCESS, token="v-sales"))["data"]["access"]
        assert viewer == {
            "role": "VIEWER",
            "queues": ["sales"],
            "extension": None,
            "canSupervise": False,
            "canManageMembers": False,
            "pauseReasons": [],
            "actionsEnabled": False,
        }
    async with serve() as open_server:
        everything = (await open_server.graphql(ACCESS))["data"]["access"]
        assert everything["role"] is None
        assert everything["canSupervise"] and everything["canManageMembers"]


# --- subscriptions --------------------------------------------------------------------------


@pytest.mark.parametrize("fanout", [True, False], ids=["grouped", "own-stream"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_changes_of_a_sales_token(serve: Serve, protocol: str, fanout: bool) -> None:
    async with serve(api_tokens=TOKENS, graphql_subscription_fanout=fanout) as server:
        await wait_for(lambda: server.broadcaster.connected)
        await _seeded(server)
        async with (
            ws_session(server, protocol, {"authorization": "Bearer s-sales"}) as session,
            aclosing(subscribe(session, CHANGES)) as stream,
        ):
            initial = await message(stream, "changes")
            snapshot = initial["snapshot"]
            assert [o["memberId"] for o in snapshot["operators"]] == ["PJSIP/1001", "PJSIP/1002"]
            assert snapshot["operators"][1]["queues"] == [{"queueName": "sales"}]
            assert snapshot["queues"] == [{"name": "sales"}]
            assert [c["name"] for c in snapshot["channels"]] == [
                "PJSIP/1001-00000001",
                "PJSIP/1002-00000003",
                "PJSIP/trunk-00000009",
            ]
            carol = await _apply(server, Patch("operator", "PJSIP/1003", {"status": "ringing"}))
            bob = await _apply(server, Patch("operator", "PJSIP/1002", {"status": "ringing"}))
            change = await message(stream, "changes")
            # Carol's change is not seen: a hole in the versions, no RESYNC.
            assert change["kind"] == "CHANGES"
            assert change["fromVersion"] == initial["toVersion"]
            assert change["toVersion"] == bob == carol + 1
            assert change["changes"] == [
                {
                    "version": bob,
                    "kind": "OPERATOR",
                    "op": "UPSERT",
                    "id": "PJSIP/1002",
                    "operator": {"memberId": "PJSIP/1002", "queues": [{"queueName": "sales"}]},
                }
            ]
            # Bob leaves sales: for this token he is gone.
            left = await _apply(
                server, Patch("operator", "PJSIP/1002", {"queues": {"sales": None}})
            )
            gone = await message(stream, "changes")
            assert gone["fromVersion"] == change["toVersion"]
            assert gone["changes"] == [
                {
                    "version": left,
                    "kind": "OPERATOR",
                    "op": "DELETE",
                    "id": "PJSIP/1002",
                    "operator": None,
                }
            ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_operator_updates_of_a_sales_token(scoped: LiveServer, protocol: str) -> None:
    async with (
        ws_session(scoped, protocol, {"authorization": "Bearer s-sales"}) as session,
        aclosing(subscribe(session, OPERATOR_UPDATED)) as stream,
    ):
        initial = await message(stream, "operatorUpdated")
        assert [o["memberId"] for o in initial["operators"]] == ["PJSIP/1001", "PJSIP/1002"]
        await _apply(scoped, Patch("operator", "PJSIP/1003", {"status": "ringing"}))
        bob = await _apply(scoped, Patch("operator", "PJSIP/1002", {"status": "in_call"}))
        change = await message(stream, "operatorUpdated")
    assert change == {
        "kind": "CHANGES",
        "fromVersion": initial["toVersion"],
        "toVersion": bob,
        "operators": [
            {"memberId": "PJSIP/1002", "status": "IN_CALL", "queues": [{"queueName": "sales"}]}
        ],
        "removed": [],
    }


@asynccontextmanager
async def _socket(server: LiveServer, token: str | None) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws socket after connection_init/ack with `token`."""
    payload = {"authorization": f"Bearer {token}"} if token else {}
    async with connect(server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        yield ws


async def _next(ws: ClientConnection) -> JsonObject:
    async with asyncio.timeout(5):
        while True:
            found: JsonObject = json.loads(await ws.recv())
            if found["type"] == "next":
                return found


async def test_two_scopes_never_share_a_group(scoped: LiveServer) -> None:
    hub = next(x for x in scoped.broadcaster.listeners if isinstance(x, Fanout))
    query = "subscription { queueUpdated { kind queues { name } } }"
    subscribe_message = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
    async with (
        _socket(scoped, "s-sales") as sales,
        _socket(scoped, "s-sales") as sales_again,
        _socket(scoped, "a-all") as admin,
        _socket(scoped, None) as anonymous,
    ):
        seen = {}
        for name, ws in (
            ("sales", sales),
            ("again", sales_again),
            ("admin", admin),
            ("anon", anonymous),
        ):
            await ws.send(subscribe_message)
            first = await _next(ws)
            seen[name] = [q["name"] for q in first["payload"]["data"]["queueUpdated"]["queues"]]
        assert hub.count == 4
        assert hub.groups == 2  # sales twice; every queue (admin, no token) once
        assert seen == {
            "sales": ["sales"],
            "again": ["sales"],
            "admin": ["sales", "support"],
            "anon": ["sales", "support"],
        }
        await _apply(scoped, Patch("queue", "support", {"completed": 8}))
        await _apply(scoped, Patch("queue", "sales", {"completed": 41}))
        update = (await _next(sales))["payload"]["data"]["queueUpdated"]
        assert [q["name"] for q in update["queues"]] == ["sales"]
        names: list[str] = []
        while "sales" not in names:  # one message or two, as the window coalesces them
            update = (await _next(admin))["payload"]["data"]["queueUpdated"]
            names += [q["name"] for q in update["queues"]]
        assert sorted(names) == ["sales", "support"]


async def test_channel_updates_of_a_sales_token(scoped: LiveServer) -> None:
    query = "subscription { channelUpdated { kind fromVersion toVersion channels { name } } }"
    protocol = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL
    async with (
        ws_session(scoped, protocol, {"authorization": "Bearer s-sales"}) as session,
        aclosing(subscribe(session, query)) as stream,
    ):
        initial = await message(stream, "channelUpdated")
        assert [c["name"] for c in initial["channels"]] == [
            "PJSIP/1001-00000001",
            "PJSIP/1002-00000003",
            "PJSIP/trunk-00000009",
        ]
        await _apply(scoped, Patch("channel", "PJSIP/trunk-00000010", {"state": "up"}))
        bob = await _apply(scoped, Patch("channel", "PJSIP/1002-00000003", {"state": "busy"}))
        change = await message(stream, "channelUpdated")
    assert change == {
        "kind": "CHANGES",
        "fromVersion": initial["toVersion"],
        "toVersion": bob,
        "channels": [{"name": "PJSIP/1002-00000003"}],
    }
