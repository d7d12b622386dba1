"""Who may do what, over HTTP and both WebSocket protocols; origins; connection caps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, aclosing

import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from tests.api.live_server import JsonObject, LiveServer, Serve
from tests.support.graphql_ws import graphql_ws_session

TOKENS = "viewer:v-token,supervisor:s-token,admin:a-token"
SET_STATUS = 'mutation { setOperatorStatus(input: {memberId: "PJSIP/7", status: IDLE}) { status } }'
SUBSCRIPTION = "subscription { operatorUpdated { kind } }"
TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")


def codes(body: JsonObject) -> list[str]:
    """The extensions.code of each error."""
    return [error["extensions"]["code"] for error in body.get("errors", [])]


@pytest.fixture
async def guarded(serve: Serve) -> AsyncIterator[LiveServer]:
    """A server with viewer, supervisor and admin tokens (so reads need a token too)."""
    async with serve(api_tokens=TOKENS) as server:
        yield server


@pytest.mark.parametrize(
    ("operation", "token", "expected"),
    [
        ("{ queues { name } }", None, ["UNAUTHENTICATED"]),
        ("{ queues { name } }", "nope", ["UNAUTHENTICATED"]),
        ("{ queues { name } }", "v-token", []),
        (SET_STATUS, "v-token", ["FORBIDDEN"]),
        (SET_STATUS, "s-token", []),
        ("mutation { clear { queues } }", "s-token", ["FORBIDDEN"]),
        ("mutation { clear { queues } }", "a-token", []),
    ],
)
async def test_http_follows_the_policy(
    guarded: LiveServer, operation: str, token: str | None, expected: list[str]
) -> None:
    before = await guarded.store.version()
    answer = await guarded.graphql(operation, token=token)
    assert codes(answer) == expected
    if expected and operation.startswith("mutation"):
        assert await guarded.store.version() == before  # refused writes write nothing


async def _init(ws: ClientConnection, payload: JsonObject) -> JsonObject:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    answer: JsonObject = json.loads(await ws.recv())
    return answer


async def test_transport_ws_without_a_token_is_closed_with_4403(guarded: LiveServer) -> None:
    async with connect(guarded.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        with pytest.raises(ConnectionClosed):
            await _init(ws, {})
    assert ws.close_code == 4403


async def test_legacy_ws_without_a_token_gets_connection_error_then_4403(
    guarded: LiveServer,
) -> None:
    async with connect(guarded.ws_url, subprotocols=[LEGACY_WS]) as ws:
        error = await _init(ws, {"authorization": "Bearer nope"})
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert error == {
        "type": "connection_error",
        "payload": {"message": "unknown token", "code": "UNAUTHENTICATED"},
    }
    assert ws.close_code == 4403


def session(
    server: LiveServer, protocol: str, token: str
) -> AbstractAsyncContextManager[AsyncClientSession]:
    """A gql session authenticated in connection_init."""
    return graphql_ws_session(server.ws_url, protocol, token)


@pytest.mark.parametrize(
    "protocol", [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]
)
async def test_a_viewer_token_in_connection_init_may_subscribe(
    guarded: LiveServer, protocol: str
) -> None:
    async with (
        session(guarded, protocol, "v-token") as opened,
        aclosing(opened.subscribe(GraphQLRequest(SUBSCRIPTION))) as stream,
    ):
        assert await anext(stream) == {"operatorUpdated": {"kind": "INITIAL"}}


async def test_writes_over_a_websocket_follow_the_policy(guarded: LiveServer) -> None:
    protocol = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL
    async with session(guarded, protocol, "v-token") as viewer:
        with pytest.raises(TransportQueryError) as refused:
            await viewer.execute(GraphQLRequest(SET_STATUS))
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    async with session(guarded, protocol, "s-token") as supervisor:
        assert await supervisor.execute(GraphQLRequest(SET_STATUS)) == {
            "setOperatorStatus": {"status": "IDLE"}
        }


async def test_websockets_from_other_origins_are_refused(server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            server.ws_url, subprotocols=[TRANSPORT_WS], origin=Origin("http://evil.example")
        ):
            pass  # pragma: no cover
    assert refused.value.response.status_code == 403
    async with connect(
        server.ws_url, subprotocols=[TRANSPORT_WS], origin=Origin("http://localhost:4200")
    ) as ws:
        assert (await _init(ws, {}))["type"] == "connection_ack"


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (
            {"graphql_ws_max_connections_per_client": 2},
            "Too many WebSocket connections from this address (limit 2)",
        ),
        (
            {"graphql_ws_max_connections": 2},
            "Too many WebSocket connections on this server (limit 2)",
        ),
    ],
)
async def test_websocket_connections_are_capped_with_a_clear_reason(
    serve: Serve, settings: dict[str, int], reason: str
) -> None:
    async with (
        serve(**settings) as server,
        connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as first,
        connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as second,
    ):
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as third:
            with pytest.raises(ConnectionClosed):
                await third.recv()
        assert (third.close_code, third.close_reason) == (1013, reason)
        assert third.subprotocol == TRANSPORT_WS
        await second.close()
        # A freed slot is usable again.
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as again:
            assert (await _init(again, {}))["type"] == "connection_ack"
        assert (await _init(first, {}))["type"] == "connection_ack"
