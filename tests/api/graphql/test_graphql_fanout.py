"""The subscription fan-out: identical subscriptions as one group, coalesced messages,
sends that never wait for a slow socket — over real WebSockets on the real app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

import api.graphql.fanout
from api.graphql.fanout import Fanout
from api.graphql.members import Envelope, Member, _Resume
from api.live import EntityChange, LiveBatch, merge_batches
from ingest.patches import Patch
from tests.api.live_server import LiveServer, Serve, seed, wait_for

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
CHANGES = """subscription($initial: Boolean! = false) { changes(initial: $initial) {
  kind fromVersion toVersion changes { version kind id operator { status } } } }"""
OPERATOR = 'subscription { operatorUpdated(memberId: "PJSIP/1001") { kind toVersion } }'


def fanout(server: LiveServer) -> Fanout:
    """The app's fan-out."""
    found = [x for x in server.broadcaster.listeners if isinstance(x, Fanout)]
    assert len(found) == 1
    return found[0]


@asynccontextmanager
async def socket(
    server: LiveServer, protocol: str = TRANSPORT_WS
) -> AsyncIterator[ClientConnection]:
    """A WebSocket after connection_init/ack."""
    async with connect(server.ws_url, subprotocols=[Subprotocol(protocol)]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        yield ws


async def start(ws: ClientConnection, operation_id: str, query: str, **variables: Any) -> None:
    """Subscribe (graphql-transport-ws)."""
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))


async def frame(ws: ClientConnection) -> dict[str, Any]:
    """The next message that is not a keep-alive, within five seconds."""
    async with asyncio.timeout(5):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] != "ka":
                return message


@pytest.fixture
async def seeded(serve: Serve) -> AsyncIterator[LiveServer]:
    """A server with the fan-out switched on and the seed call centre in its live mirror."""
    async with serve(graphql_subscription_fanout=True) as server:
        await wait_for(lambda: server.broadcaster.connected)
        await seed(server.store)
        latest = await server.store.version()
        await wait_for(lambda: server.broadcaster.feed.version == latest)
        yield server


async def test_identical_subscriptions_share_one_group(seeded: LiveServer) -> None:
    hub = fanout(seeded)
    async with socket(seeded) as first, socket(seeded) as second:
        await start(first, "a", CHANGES)
        await start(second, "b", CHANGES)
        await start(second, "c", CHANGES, initial=False)  # the same, spelled out: own group
        await start(second, "d", OPERATOR)
        await wait_for(lambda: hub.count == 4)
        assert hub.groups == 3
        assert seeded.broadcaster.subscriber_count == 4
        version = (
            await seeded.store.apply(
                [Patch("operator", "PJSIP/1001", {"status": "busy"})], return_changes=True
            )
        )[0].version
        got_a, got_b = await frame(first), await frame(second)
        assert got_a["id"] == "a" and got_a["type"] == "next"
        assert got_a["payload"] == next(
            f["payload"]
            for f in [got_b, await frame(second), await frame(second)]
            if f["id"] == "b"
        )
        assert got_a["payload"]["data"]["changes"]["toVersion"] == version
        await first.send(json.dumps({"id": "a", "type": "complete"}))
        await wait_for(lambda: hub.count == 3)
    await wait_for(lambda: hub.count == 0 and hub.groups == 0)


async def test_batches_in_a_window_become_one_message_with_every_version(
    seeded: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window grows with the subscriptions; as a thousand would have it, for one.
    monkeypatch.setattr(api.graphql.fanout, "SENDS_PER_SECOND", 25)
    async with socket(seeded) as ws:
        await start(ws, "1", CHANGES)
        await wait_for(lambda: fanout(seeded).count == 1)
        start_version = await seeded.store.version()
        for n in range(30):
            await seeded.store.apply(
                [Patch("operator", "PJSIP/1001", {"status": "busy" if n % 2 else "idle"})]
            )
        end_version = await seeded.store.version()
        messages = []
        at = start_version
        while at < end_version:
            batch = (await frame(ws))["payload"]["data"]["changes"]
            assert batch["kind"] == "CHANGES" and batch["fromVersion"] == at
            assert [c["version"] for c in batch["changes"]] == list(
                range(batch["fromVersion"] + 1, batch["toVersion"] + 1)
            )
            at = batch["toVersion"]
            messages.append(batch)
    assert at == end_version
    assert len(messages) < 30  # coalesced: 30 batches, fewer messages


async def test_the_legacy_protocol_is_grouped_too(seeded: LiveServer) -> None:
    async with socket(seeded, LEGACY_WS) as ws:
        payload = {"query": OPERATOR}
        await ws.send(json.dumps({"id": "7", "type": "start", "payload": payload}))
        first = await frame(ws)
        assert first["type"] == "data" and first["id"] == "7"
        assert first["payload"]["data"]["operatorUpdated"]["kind"] == "INITIAL"
        assert fanout(seeded).count == 1
        await ws.send(json.dumps({"id": "7", "type": "stop"}))
        assert await frame(ws) == {"type": "complete", "id": "7"}
        await wait_for(lambda: fanout(seeded).count == 0)


async def test_variables_that_do_not_coerce_take_strawberrys_path(seeded: LiveServer) -> None:
    query = "subscription($m: String!) { operatorUpdated(memberId: $m) { kind } }"
    async with socket(seeded) as ws:
        await start(ws, "1", query, m=5)
        answer = await frame(ws)
    assert answer["type"] == "error"
    assert fanout(seeded).count == 0


async def test_stopping_completes_every_grouped_subscription(seeded: LiveServer) -> None:
    async with socket(seeded) as ws:
        await start(ws, "1", OPERATOR)
        assert (await frame(ws))["type"] == "next"
        await seeded.broadcaster.stop()
        assert await frame(ws) == {"id": "1", "type": "complete"}


def change(version: int, member: str) -> EntityChange:
    """An operator change."""
    return EntityChange(version, "operator", member, {"memberId": member}, None)


def test_merged_batches_keep_every_change_and_each_queues_last_view() -> None:
    queue = EntityChange(2, "queue", "sales", {"name": "sales", "n": 1}, None)
    later = EntityChange(3, "queue", "sales", {"name": "sales", "n": 2}, None)
    other = EntityChange(3, "queue", "billing", None, None)
    first = LiveBatch(0, 2, (change(1, "a"), change(2, "b")), (queue,))
    second = LiveBatch(2, 3, (change(3, "a"),), (later, other))
    merged = merge_batches([first, second])
    assert (merged.from_version, merged.to_version) == (0, 3)
    assert [c.version for c in merged.changes] == [1, 2, 3]
    assert merged.queues == (other, later)
    assert merge_batches([first]) is first


async def test_a_send_that_waits_finishes_in_a_task_and_keeps_the_order() -> None:
    sent: list[str] = []
    gate = asyncio.get_running_loop().create_future()

    async def send(text: str) -> None:
        if "slow" in text:
            await gate  # a socket whose buffer is full
        sent.append(text)

    ended: list[bool] = []
    member = Member(envelope_for("1"), send, limit=3, on_end=lambda: ended.append(True))
    assert member.deliver("fast")
    assert sent == ['{"id":"1","type":"next","payload":fast}'] and member.writer is None
    assert member.deliver("slow")
    assert member.writer is not None  # only now a task
    assert member.deliver("after") and member.deliver("later")
    assert member.deliver("more")
    assert not member.deliver("too many")  # more than `limit` waiting: cut off
    gate.set_result(None)
    await member.writer
    payloads = [text.removeprefix('{"id":"1","type":"next","payload":') for text in sent]
    assert payloads == ["fast}", "slow}", "after}", "later}", "more}"]


def envelope_for(operation_id: str) -> Envelope:
    """graphql-transport-ws framing."""
    return Envelope.transport_ws(operation_id)


async def test_resume_delivers_a_cancellation_into_the_coroutine() -> None:
    gate = asyncio.get_running_loop().create_future()
    cleaned: list[bool] = []

    async def waits() -> None:
        try:
            await gate
        finally:
            cleaned.append(True)

    coroutine = waits()
    waiting = coroutine.send(None)

    async def resume() -> None:
        await _Resume(coroutine, waiting)

    task = asyncio.create_task(resume())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]
