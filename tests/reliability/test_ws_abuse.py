"""Item 12: WebSocket abuse, on both subprotocols.

Each abuse must end with the code the protocol gives it (or, where the
protocol refuses one operation and not the socket, with that operation's
error), and once every socket is gone, the server's tasks and WebSocket count
must be back to where they were.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from api.graphql.connections import WebSocketLimits
from tests.reliability.conftest import AppFactory, RunningApp
from tests.reliability.env import record
from tests.reliability.wsclient import LEGACY_WS, PROTOCOLS, TRANSPORT_WS, GqlSocket, errors_of

SUBSCRIPTION = "subscription { operatorUpdated { kind } }"
INIT_TIMEOUT = 1.0
MAX_SUBSCRIPTIONS = 2
PER_CLIENT = 4
RESULTS: dict[str, dict[str, str]] = {}


def limits_of(running: RunningApp) -> WebSocketLimits:
    node = running.app.middleware_stack
    while node is not None:
        if isinstance(node, WebSocketLimits):
            return node
        node = getattr(node, "app", None)
    raise AssertionError("no WebSocketLimits")


async def raw(running: RunningApp, protocol: str) -> GqlSocket:
    return await GqlSocket.open(running.ws_url, protocol, init=False)


async def no_init(running: RunningApp, protocol: str) -> str:
    sock = await raw(running, protocol)
    await sock.subscribe("1", SUBSCRIPTION)
    return f"close {await sock.closed()}"


async def repeated_init(running: RunningApp, protocol: str) -> str:
    sock = await GqlSocket.open(running.ws_url, protocol)
    await sock.send({"type": "connection_init", "payload": {}})
    return f"close {await sock.closed()}"


async def too_many_subscriptions(running: RunningApp, protocol: str) -> str:
    sock = await GqlSocket.open(running.ws_url, protocol)
    for n in range(MAX_SUBSCRIPTIONS):
        await sock.subscribe(str(n), SUBSCRIPTION)
        assert (await sock.result(str(n)))["type"] == sock.data_type
    await sock.subscribe("over", SUBSCRIPTION)
    try:
        answer = await sock.result("over", timeout=5)
    except ConnectionClosed:
        return f"close {sock.close_code}"
    errors = errors_of(answer)
    assert errors, answer
    assert all(e.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR" for e in errors)
    # The socket and its other subscriptions go on.
    await sock.close()
    return f"error '{errors[0]['message']}'"


async def huge_frame(running: RunningApp, protocol: str) -> str:
    sock = await GqlSocket.open(running.ws_url, protocol, max_size=None)
    await sock.subscribe("1", "subscription { operatorUpdated { kind } }" + " " * (2 << 20))
    return f"close {await sock.closed()}"


async def not_json(running: RunningApp, protocol: str) -> str:
    sock = await GqlSocket.open(running.ws_url, protocol)
    await sock.ws.send("this is { not json")
    return f"close {await sock.closed()}"


async def not_a_message(running: RunningApp, protocol: str) -> str:
    sock = await GqlSocket.open(running.ws_url, protocol)
    await sock.ws.send(json.dumps([{"type": "start"}, 42]))
    return f"close {await sock.closed()}"


async def idle_without_init(running: RunningApp, protocol: str) -> str:
    sock = await raw(running, protocol)
    code = await sock.closed(timeout=INIT_TIMEOUT + 10)
    return f"close {code}"


async def foreign_origin(running: RunningApp, protocol: str) -> str:
    try:
        sock = await GqlSocket.open(running.ws_url, protocol, origin="https://evil.example")
    except InvalidStatus as refused:
        return f"http {refused.response.status_code}"
    return f"close {await sock.closed()}"


async def over_the_cap(running: RunningApp, protocol: str) -> str:
    held = [await GqlSocket.open(running.ws_url, protocol) for _ in range(PER_CLIENT)]
    try:
        async with connect(running.ws_url, subprotocols=[Subprotocol(protocol)]) as ws:
            closed = False
            try:  # the server may close before or after this frame arrives
                await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                await ws.recv()
            except ConnectionClosed:
                closed = True
            assert closed, "a connection over the cap was served"
        return f"close {ws.close_code}"
    finally:
        for sock in held:
            await sock.close()


CASES: dict[str, Callable[[RunningApp, str], Awaitable[str]]] = {
    "no init": no_init,
    "repeated init": repeated_init,
    "too many subscriptions": too_many_subscriptions,
    "2 MiB frame": huge_frame,
    "not JSON": not_json,
    "JSON, not a message": not_a_message,
    "idle past the init timeout": idle_without_init,
    "foreign Origin": foreign_origin,
    "more connections than the cap": over_the_cap,
}
EXPECTED: dict[str, dict[str, str]] = {
    TRANSPORT_WS: {
        "no init": "close 4401",
        "repeated init": "close 4429",
        "too many subscriptions": "error 'Subscription limit reached'",
        "2 MiB frame": "close 1009",
        "not JSON": "close 4400",
        "JSON, not a message": "close 4400",
        "idle past the init timeout": "close 4408",
        "foreign Origin": "http 403",
        "more connections than the cap": "close 1013",
    },
    LEGACY_WS: {
        "no init": "close 4401",
        "repeated init": "close 4429",
        "too many subscriptions": "error 'Subscription limit reached'",
        "2 MiB frame": "close 1009",
        "not JSON": "close 4400",
        "JSON, not a message": "close 4400",
        "idle past the init timeout": "close 4408",
        "foreign Origin": "http 403",
        "more connections than the cap": "close 1013",
    },
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_abuse_is_closed_with_its_code(
    app_factory: AppFactory, empty_db: str, protocol: str
) -> None:
    async with app_factory(
        database_url=empty_db,
        graphql_ws_init_timeout=INIT_TIMEOUT,
        graphql_ws_max_subscriptions=MAX_SUBSCRIPTIONS,
        graphql_ws_max_connections_per_client=PER_CLIENT,
    ) as running:
        limits = limits_of(running)
        baseline = len(asyncio.all_tasks())
        seen: dict[str, str] = {}
        for name, case in CASES.items():
            seen[name] = await asyncio.wait_for(case(running, protocol), timeout=30)
        async with asyncio.timeout(10):
            while limits.open or len(asyncio.all_tasks()) > baseline:
                await asyncio.sleep(0.02)
        tasks_after = len(asyncio.all_tasks())
    RESULTS[protocol] = seen
    assert seen == EXPECTED[protocol]
    if len(RESULTS) == len(PROTOCOLS):
        record(
            "12",
            "no init, repeated init, too many subscriptions, 2 MiB frame, not JSON, idle past "
            "the init timeout, foreign Origin, over the connection cap — both subprotocols",
            "each closed with its code (or that operation refused), tasks back to baseline",
            **{f"{p} {name}": how for p, cases in RESULTS.items() for name, how in cases.items()},
            tasksBaseline=baseline,
            tasksAfter=tasks_after,
        )
