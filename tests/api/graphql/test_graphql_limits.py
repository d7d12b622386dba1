"""Query limits, production switches, and the WebSocket protocols' edge cases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.api.live_server import JsonObject, LiveServer, Serve

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
PROTOCOLS = [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]


def nested(depth: int) -> str:
    """A query `depth` levels deep: queues → operators → channel → operator → …"""
    steps = ["queues", "operators"] + ["channel", "operator"] * depth
    body = "memberId"
    for step in reversed(steps[:depth]):
        body = f"{step} {{ {body} }}"
    return "{ " + body + " }"


def error_of(body: JsonObject) -> JsonObject:
    """The one error of an answer."""
    (error,) = body["errors"]
    assert isinstance(error, dict)
    return error


async def test_a_too_deep_query_is_rejected_with_a_clear_error(server: LiveServer) -> None:
    assert "errors" not in await server.graphql(nested(10))
    error = error_of(await server.graphql(nested(11)))
    assert error["message"] == "'anonymous' exceeds maximum operation depth of 10"
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_too_many_aliases_are_rejected(server: LiveServer) -> None:
    ok = " ".join(f"a{n}: queues {{ name }}" for n in range(30))
    assert "errors" not in await server.graphql("{ " + ok + " }")
    error = error_of(await server.graphql("{ " + ok + " a30: queues { name } }"))
    assert error["message"] == "31 aliases found. Allowed: 30"
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_too_many_tokens_are_rejected_before_parsing_ends(server: LiveServer) -> None:
    error = error_of(await server.graphql("{" + " __typename" * 2_100 + " }"))
    assert "Document contains more than 2000 tokens" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    # Comments count too: a flood of them is cut short as well.
    flood = error_of(await server.graphql("#\n" * 2_100 + "{ __typename }"))
    assert flood["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


@asynccontextmanager
async def ws_session(server: LiveServer, protocol: str) -> AsyncIterator[AsyncClientSession]:
    """A gql session."""
    transport = WebsocketsTransport(url=server.ws_url, subprotocols=[protocol], close_timeout=2)
    async with Client(transport=transport) as opened:
        assert isinstance(opened, AsyncClientSession)
        yield opened


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_too_large_subscription_fails_alone(server: LiveServer, protocol: str) -> None:
    huge = "subscription { operatorUpdated {" + " kind" * 2_100 + " } }"
    small = "subscription { operatorUpdated { kind } }"
    async with ws_session(server, protocol) as opened:
        with pytest.raises(TransportQueryError, match="more than 2000 tokens"):
            async with aclosing(opened.subscribe(GraphQLRequest(huge))) as rejected:
                await anext(rejected)
        # The socket is still open and serves the next subscription.
        async with aclosing(opened.subscribe(GraphQLRequest(small))) as stream:
            assert await anext(stream) == {"operatorUpdated": {"kind": "INITIAL"}}


async def test_introspection_and_graphiql_can_be_switched_off(serve: Serve) -> None:
    async with serve(graphql_introspection=False, graphiql=False) as server:
        answer = await server.graphql("{ __schema { queryType { name } } }")
        assert answer["errors"][0]["message"].startswith("GraphQL introspection has been disabled")
        assert {e["extensions"]["code"] for e in answer["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
        typo = error_of(await server.graphql("{ queuez { name } }"))
        assert "Did you mean" not in typo["message"]  # no schema hints either
        page = await server.http.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 404
        assert "errors" not in await server.graphql("{ queues { name } }")


async def test_introspection_works_by_default(server: LiveServer) -> None:
    from graphql import get_introspection_query

    answer = await server.graphql(get_introspection_query(descriptions=True))
    assert "errors" not in answer
    assert answer["data"]["__schema"]["subscriptionType"]["name"] == "Subscription"


async def _init(ws: ClientConnection) -> str:
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    answer = json.loads(await ws.recv())
    kind: str = answer["type"]
    return kind


async def _drain(ws: ClientConnection) -> None:
    while True:  # the legacy protocol may send a keep-alive first
        await ws.recv()


async def test_the_legacy_protocol_can_be_switched_off(serve: Serve) -> None:
    async with serve(graphql_legacy_protocol=False) as server:
        async with connect(server.ws_url, subprotocols=[LEGACY_WS]) as ws:
            with pytest.raises(ConnectionClosed):
                await _init(ws)
        assert ws.close_code == 4406
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
            assert await _init(ws) == "connection_ack"


@pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_repeated_connection_init_closes_with_4429(
    server: LiveServer, subprotocol: Subprotocol
) -> None:
    async with connect(server.ws_url, subprotocols=[subprotocol]) as ws:
        assert await _init(ws) == "connection_ack"
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(ConnectionClosed):
            await _drain(ws)
    assert (ws.close_code, ws.close_reason) == (4429, "Too many initialisation requests")


async def test_subscriptions_per_connection_are_capped(serve: Serve) -> None:
    query = "subscription { operatorUpdated { kind } }"
    async with (
        serve(graphql_ws_max_subscriptions=1) as server,
        ws_session(server, WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL) as opened,
        aclosing(opened.subscribe(GraphQLRequest(query))) as first,
    ):
        assert await anext(first) == {"operatorUpdated": {"kind": "INITIAL"}}
        with pytest.raises(TransportQueryError, match="Subscription limit reached"):
            async with aclosing(opened.subscribe(GraphQLRequest(query))) as second:
                await anext(second)
