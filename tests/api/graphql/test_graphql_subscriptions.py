"""Subscriptions over a real WebSocket to a real uvicorn server, with gql as the client.

Both protocols: gql's WebsocketsTransport speaks the legacy `graphql-ws`
(subscriptions-transport-ws) and `graphql-transport-ws`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import orjson
import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.websockets import WebsocketsTransport
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from ingest.patches import Patch
from tests.api.live_server import REDIS_URL, JsonObject, LiveServer, Serve, seed, wait_for

PROTOCOLS = [
    pytest.param(WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, id="graphql-transport-ws"),
    pytest.param(WebsocketsTransport.APOLLO_SUBPROTOCOL, id="graphql-ws-legacy"),
]

OPERATORS = """
subscription($memberId: String, $queue: String, $initial: Boolean! = true) {
  operatorUpdated(memberId: $memberId, queue: $queue, initial: $initial) {
    kind fromVersion toVersion reason
    operators { memberId status version }
    removed { id version }
  }
}
"""
SET_STATUS = """
mutation($id: String!, $status: OperatorStatus!) {
  setOperatorStatus(input: {memberId: $id, status: $status}) { version }
}
"""


@asynccontextmanager
async def ws_session(
    server: LiveServer, protocol: str, init_payload: JsonObject | None = None
) -> AsyncIterator[AsyncClientSession]:
    """A gql session over one WebSocket with `protocol`."""
    transport = WebsocketsTransport(
        url=server.ws_url,
        subprotocols=[protocol],
        init_payload=init_payload or {},
        connect_timeout=5,
        close_timeout=2,
        ack_timeout=5,
    )
    async with Client(transport=transport) as session:
        assert isinstance(session, AsyncClientSession)
        yield session


def subscribe(
    session: AsyncClientSession, query: str, **variables: Any
) -> AsyncGenerator[JsonObject, None]:
    """A subscription's messages (their `data`)."""
    return session.subscribe(GraphQLRequest(query, variable_values=variables))


async def message(stream: AsyncGenerator[JsonObject, None], field: str) -> JsonObject:
    """The next message of a subscription, within five seconds."""
    async with asyncio.timeout(5):
        data = await anext(stream)
    update: JsonObject = data[field]
    return update


async def set_status(server: LiveServer, member_id: str, status: str) -> int:
    """setOperatorStatus over HTTP; the version it took."""
    body = await server.graphql(SET_STATUS, {"id": member_id, "status": status})
    assert "errors" not in body, body
    version: int = body["data"]["setOperatorStatus"]["version"]
    return version


@pytest.fixture
async def seeded(server: LiveServer) -> LiveServer:
    """The server with the seed call centre in Redis and in its live mirror."""
    await seed(server.store)
    latest = await server.store.version()
    await wait_for(lambda: server.broadcaster.feed.version == latest)
    return server


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_initial_state_then_a_change_with_a_higher_version(
    seeded: LiveServer, protocol: str
) -> None:
    async with (
        ws_session(seeded, protocol) as session,
        aclosing(subscribe(session, OPERATORS)) as stream,
    ):
        initial = await message(stream, "operatorUpdated")
        assert initial["kind"] == "INITIAL"
        assert initial["fromVersion"] == 0
        assert initial["toVersion"] == await seeded.store.version()
        assert [o["memberId"] for o in initial["operators"]] == [
            "PJSIP/1001",
            "PJSIP/1002",
            "PJSIP/1003",
        ]
        version = await set_status(seeded, "PJSIP/1002", "RINGING")
        change = await message(stream, "operatorUpdated")
    assert change == {
        "kind": "CHANGES",
        "fromVersion": initial["toVersion"],
        "toVersion": version,
        "reason": None,
        "operators": [{"memberId": "PJSIP/1002", "status": "RINGING", "version": version}],
        "removed": [],
    }
    assert version > initial["toVersion"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_filters_deliver_only_what_matches(seeded: LiveServer, protocol: str) -> None:
    queue_query = """
    subscription { queueUpdated(name: "sales") {
      kind fromVersion toVersion queues { name members { inCall available ringing } } } }
    """
    channel_query = """
    subscription { channelUpdated(queue: "support") {
      kind toVersion channels { name state } removed { id } } }
    """
    async with (
        ws_session(seeded, protocol) as session,
        aclosing(subscribe(session, OPERATORS, memberId="PJSIP/1001")) as alice,
        aclosing(subscribe(session, queue_query)) as sales,
        aclosing(subscribe(session, channel_query)) as support,
    ):
        first = await message(alice, "operatorUpdated")
        assert [o["memberId"] for o in first["operators"]] == ["PJSIP/1001"]
        assert (await message(sales, "queueUpdated"))["queues"][0]["members"]["inCall"] == 1
        assert (await message(support, "channelUpdated"))["channels"] == []

        await set_status(seeded, "PJSIP/1003", "IDLE")  # not Alice, not in sales
        version = await set_status(seeded, "PJSIP/1001", "IDLE")
        await seeded.store.apply(
            [
                Patch("channel", "PJSIP/9-1", {"queueName": "sales", "state": "up"}),
                Patch("channel", "PJSIP/9-2", {"queueName": "support", "state": "ring"}),
            ]
        )
        change = await message(alice, "operatorUpdated")
        counts = await message(sales, "queueUpdated")
        channels = await message(support, "channelUpdated")

    # Alice's message covers the other operator's change too: nothing of hers was skipped.
    assert change["fromVersion"] == first["toVersion"]
    assert change["toVersion"] == version
    assert change["operators"] == [{"memberId": "PJSIP/1001", "status": "IDLE", "version": version}]
    assert counts["kind"] == "CHANGES"
    assert counts["queues"] == [
        {"name": "sales", "members": {"inCall": 0, "available": 1, "ringing": 0}}
    ]
    assert channels["channels"] == [{"name": "PJSIP/9-2", "state": "RING"}]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_initial_false_sends_only_changes(seeded: LiveServer, protocol: str) -> None:
    async with (
        ws_session(seeded, protocol) as session,
        aclosing(subscribe(session, OPERATORS, initial=False)) as stream,
    ):
        at = await seeded.store.version()
        # gql sends the subscription when the stream is first read.
        first_message = asyncio.create_task(message(stream, "operatorUpdated"))
        await wait_for(lambda: seeded.broadcaster.subscriber_count == 1)
        version = await set_status(seeded, "PJSIP/1001", "BUSY")
        first = await first_message
    assert first["kind"] == "CHANGES"
    assert first["fromVersion"] == at
    assert first["toVersion"] == version


async def test_changes_sends_a_snapshot_then_every_version_in_order(seeded: LiveServer) -> None:
    query = """
    subscription { changes {
      kind fromVersion toVersion
      snapshot { version operators { memberId } queues { name } channels { name } }
      changes { version kind op id operator { status } channel { name } queue { name } }
    } }
    """
    async with (
        ws_session(seeded, WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL) as session,
        aclosing(subscribe(session, query)) as stream,
    ):
        initial = await message(stream, "changes")
        snapshot = initial["snapshot"]
        assert initial["kind"] == "INITIAL" and initial["changes"] == []
        assert snapshot["version"] == initial["toVersion"]
        assert len(snapshot["operators"]) == 3 and len(snapshot["channels"]) == 2
        await seeded.store.apply(
            [
                Patch("operator", "PJSIP/1001", {"status": "on_hold"}),
                Patch("channel", "PJSIP/trunk-00000009", {}, delete=True),
            ]
        )
        batch = await message(stream, "changes")
    start = initial["toVersion"]
    assert (batch["kind"], batch["fromVersion"], batch["toVersion"]) == (
        "CHANGES",
        start,
        start + 2,
    )
    assert batch["snapshot"] is None
    assert batch["changes"] == [
        {
            "version": start + 1,
            "kind": "OPERATOR",
            "op": "UPSERT",
            "id": "PJSIP/1001",
            "operator": {"status": "ON_HOLD"},
            "channel": None,
            "queue": None,
        },
        {
            "version": start + 2,
            "kind": "CHANNEL",
            "op": "DELETE",
            "id": "PJSIP/trunk-00000009",
            "operator": None,
            "channel": None,
            "queue": None,
        },
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_pubsub_restart_resends_the_current_state(
    serve: Serve, key_prefix: str, protocol: str
) -> None:
    name = f"qs-test-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL, client_name=name)
    try:
        async with serve(redis=redis) as server:
            await seed(server.store)
            async with (
                ws_session(server, protocol) as session,
                aclosing(subscribe(session, OPERATORS)) as stream,
            ):
                initial = await message(stream, "operatorUpdated")
                loads = server.broadcaster.loads
                ours = [
                    c["id"] for c in await redis.client_list(_type="pubsub") if c["name"] == name
                ]
                await redis.client_kill_filter(_id=ours[0])
                # Likely published while the pub/sub connection is down: lost, then re-sent.
                lost = await set_status(server, "PJSIP/1003", "IDLE")
                update = await message(stream, "operatorUpdated")
                while update["kind"] != "RESYNC":
                    update = await message(stream, "operatorUpdated")
                assert server.broadcaster.loads == loads + 1
                assert update["reason"] == "Redis pub/sub reconnected"
                assert update["toVersion"] >= lost
                statuses = {o["memberId"]: o["status"] for o in update["operators"]}
                assert statuses["PJSIP/1003"] == "IDLE"
                version = await set_status(server, "PJSIP/1001", "RINGING")
                after = await message(stream, "operatorUpdated")
        assert after["kind"] == "CHANGES"
        assert after["fromVersion"] == update["toVersion"]
        assert after["toVersion"] == version > initial["toVersion"]
    finally:
        await redis.aclose()


async def test_a_version_gap_resends_the_current_state(
    seeded: LiveServer, redis_client: Redis
) -> None:
    async with (
        ws_session(seeded, WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL) as session,
        aclosing(subscribe(session, OPERATORS)) as stream,
    ):
        initial = await message(stream, "operatorUpdated")
        at = initial["toVersion"]
        # A batch whose predecessors never arrived.
        lost = [{"version": at + 3, "kind": "operator", "op": "upsert", "id": "X", "data": {}}]
        await redis_client.publish(seeded.store.keys.changes, orjson.dumps(lost))
        update = await message(stream, "operatorUpdated")
    assert update["kind"] == "RESYNC"
    assert update["reason"] == f"missed versions {at + 1}..{at + 2}"
    assert update["fromVersion"] == at
    assert len(update["operators"]) == 3


async def test_clear_resends_an_empty_state(seeded: LiveServer) -> None:
    async with (
        ws_session(seeded, WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL) as session,
        aclosing(subscribe(session, OPERATORS)) as stream,
    ):
        await message(stream, "operatorUpdated")
        body = await seeded.graphql("mutation { clear { operators } }")
        assert body["data"]["clear"]["operators"] == 3
        update = await message(stream, "operatorUpdated")
    assert (update["kind"], update["reason"], update["operators"]) == (
        "RESYNC",
        "live state cleared",
        [],
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_disconnects_free_everything(seeded: LiveServer, protocol: str) -> None:
    limits = seeded.ws_limits()
    baseline = len(asyncio.all_tasks())
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    for _ in range(2):
        sockets = [
            await connect(seeded.ws_url, subprotocols=[Subprotocol(protocol)]) for _ in range(2)
        ]
        for ws in sockets:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            for n in range(2):
                payload = {"query": OPERATORS}
                await ws.send(json.dumps({"id": str(n), "type": start, "payload": payload}))
                frame = json.loads(await ws.recv())
                while frame["type"] == "ka":  # the legacy protocol's keep-alive
                    frame = json.loads(await ws.recv())
                assert frame["type"] in ("next", "data")
        assert seeded.broadcaster.subscriber_count == 4
        assert limits.open == 2
        for ws in sockets:  # gone without completing their subscriptions
            await ws.close()
        await wait_for(lambda: seeded.broadcaster.subscriber_count == 0 and limits.open == 0)
    await wait_for(lambda: len(asyncio.all_tasks()) <= baseline)


async def test_a_slow_subscriber_is_cut_off_while_a_fast_one_keeps_receiving(
    serve: Serve,
) -> None:
    async with serve(graphql_subscriber_buffer=4) as server:
        await seed(server.store)
        big = "x" * 65_536
        fast_query = 'subscription { operatorUpdated(memberId: "PJSIP/1001") { toVersion } }'
        slow_query = (
            'subscription { operatorUpdated(memberId: "PJSIP/1001") '
            "{ toVersion operators { memberName } } }"
        )
        # A client that stops reading: tiny receive buffer, one frame of read-ahead.
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", server.port))
        raw.setblocking(False)
        async with (
            connect(
                server.ws_url,
                sock=raw,
                subprotocols=[Subprotocol("graphql-transport-ws")],
                max_queue=1,
                ping_interval=None,
            ) as slow,
            ws_session(server, WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL) as session,
            aclosing(subscribe(session, fast_query)) as fast,
        ):
            await slow.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await slow.recv())["type"] == "connection_ack"
            await slow.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": slow_query}})
            )
            assert json.loads(await slow.recv())["type"] == "next"
            await message(fast, "operatorUpdated")

            sent = 0
            while server.broadcaster.overflows == 0:
                assert sent < 2_000, "the slow client was never cut off"
                sent += 1
                version = await rename_big(server, sent, big)
                # The fast subscriber gets every change, in step.
                assert (await message(fast, "operatorUpdated"))["toVersion"] == version
            assert server.broadcaster.subscriber_count == 1

            # The slow client reads again: its backlog, then the reason it was cut off.
            frames: list[JsonObject] = []
            async with asyncio.timeout(10):
                while not frames or frames[-1]["type"] == "next":
                    frames.append(json.loads(await slow.recv()))
        errors = [f for f in frames if f.get("payload", {}).get("errors")]
        assert frames[-1] == {"id": "1", "type": "complete"}
        assert len(errors) == 1
        (error,) = errors[0]["payload"]["errors"]
        assert error["extensions"] == {"code": "SUBSCRIBER_TOO_SLOW"}
        assert "more than 4 updates behind" in error["message"]


async def rename_big(server: LiveServer, n: int, name: str) -> int:
    """Rename Alice with a 64 KiB name; the version it took."""
    changes = await server.store.apply(
        [Patch("operator", "PJSIP/1001", {"memberName": f"{n:06d}{name}"})],
        return_changes=True,
    )
    return changes[0].version
