"""A full ingest queue stops the reading (TCP backpressure); nothing is lost or reordered.

Real TCP and real Redis: a peer writes recorded busy-queue traffic (`bench.burst_stream`,
each message numbered by a `Seq` header the reducer ignores) as fast as the socket
takes it, into an ingest whose queue is small and whose consumer is slowed. The queue
never passes its bound, the reading is paused and resumed (counted), every message is
applied once, in order, and the state equals the same messages applied directly. A
Ping, an action and a snapshot asked while the reading is paused all complete: the
heartbeat does not take the pause for a dead peer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from bench.burst_stream import burst_messages
from ingest.ami.connection import AmiEndpoint
from ingest.ami.relevance import ASYNC_ANSWERS, WANTED_EVENTS
from ingest.keys import KeySchema
from ingest.pipeline import EventPipeline
from ingest.runners.ami_runner import AmiIngest, EventApplier
from ingest.store import StateStore
from simulator.wire import serialize
from tests.support.ami import LiveIngest, running_ingest, until
from tests.support.expected import channel_view, state_view, without_fields

MESSAGES = 3000
QUEUE_MAX = 200
_LISTS = {
    "queuestatus": "QueueStatus",
    "queuesummary": "QueueSummary",
    "coreshowchannels": "CoreShowChannels",
    "devicestatelist": "DeviceStateList",
}


class BurstPeer:
    """An AMI peer: answers the session, writes `messages` when `burst` is called."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.payload = b"".join(serialize(m) for m in messages)
        self.pings = 0
        self.lists = 0
        self.logged_in = asyncio.Event()
        self.written = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def burst(self) -> None:
        """Write everything as fast as the socket takes it."""
        await self.logged_in.wait()
        writer = self._writer
        assert writer is not None
        for start in range(0, len(self.payload), 64 * 1024):
            writer.write(self.payload[start : start + 64 * 1024])
            await writer.drain()
        self.written.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                request = {}
                for line in raw.decode().split("\r\n"):
                    key, colon, value = line.partition(":")
                    if colon:
                        request[key.strip().lower()] = value.strip()
                writer.write(self._answer(request))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def _answer(self, request: dict[str, str]) -> bytes:
        action = request.get("action", "").lower()
        head = f"Response: Success\r\nActionID: {request.get('actionid', '')}\r\n"
        if action == "login":
            self.logged_in.set()
            return f"{head}Message: Authentication accepted\r\n\r\n".encode()
        if action == "ping":
            self.pings += 1
            return f"{head}Ping: Pong\r\n\r\n".encode()
        name = _LISTS.get(action)
        if name is not None:
            self.lists += 1
            return (
                f"{head}EventList: start\r\nMessage: {name} will follow\r\n\r\n"
                f"Event: {name}Complete\r\nActionID: {request.get('actionid', '')}\r\n"
                "EventList: Complete\r\nListItems: 0\r\n\r\n"
            ).encode()
        return f"{head}\r\n".encode()


def is_wanted(message: dict[str, Any]) -> bool:
    """What the raw pre-filter lets through (`ingest.ami.relevance`)."""
    return "ActionID" in message or message.get("Event") in WANTED_EVENTS | ASYNC_ANSWERS


def numbered(count: int) -> list[dict[str, Any]]:
    """Recorded busy-queue events, each with its place in the stream as `Seq`."""
    return [{**message, "Seq": str(seq)} for seq, message in enumerate(burst_messages(count))]


class SlowPipeline(EventPipeline):
    """The real pipeline, each batch delayed by `gate` (the test decides how long)."""

    def __init__(self, store: StateStore, gate: Callable[[], Awaitable[None]]) -> None:
        super().__init__(store)
        self.gate = gate
        self.seqs: list[int] = []

    async def apply(
        self,
        messages: Any,
        now: int | None = None,
        *,
        writer: tuple[str, int] | None = None,
    ) -> int:
        await self.gate()
        applied = await super().apply(messages, now, writer=writer)
        self.seqs.extend(int(m["Seq"]) for m in messages if "Seq" in m)
        return applied


@asynccontextmanager
async def ingest_with(
    store: StateStore, peer: BurstPeer, pipeline: EventPipeline, **options: Any
) -> AsyncIterator[LiveIngest]:
    await peer.start()
    try:
        async with running_ingest(
            store, peer.port, pipeline=pipeline, max_queue=QUEUE_MAX, **options
        ) as live:
            await live.settled(reconciliations=1)
            yield live
    finally:
        await peer.stop()


async def test_a_full_queue_pauses_reading_and_every_event_is_applied_in_order(
    store: StateStore, key_prefix: str
) -> None:
    messages = numbered(MESSAGES)
    peer = BurstPeer(messages)

    async def slowly() -> None:
        await asyncio.sleep(0.002)

    pipeline = SlowPipeline(store, slowly)
    async with ingest_with(store, peer, pipeline) as live:
        # The recording's unused kinds (VarSet, Newexten, …) never get past the pre-filter.
        wanted = [seq for seq, message in enumerate(messages) if is_wanted(message)]
        await peer.burst()
        await until(lambda: pipeline.seqs[-1:] == wanted[-1:], 60, "the whole burst")
        status = live.status
        assert status.queue_depth_max <= QUEUE_MAX
        assert status.read_pauses >= 1 and not status.reading_paused
        assert status.paused_seconds() > 0
        assert status.events_dropped == 0 and status.reconnects == 0
        assert pipeline.seqs == wanted  # each once, in order
        health = status.as_json()
        assert health["ingestQueueMax"] == QUEUE_MAX
        assert health["ingestQueueDepthMax"] == status.queue_depth_max
        assert health["ingestReadPauses"] == status.read_pauses

    # The same messages applied directly, in one go each batch: the same state.
    reference = StateStore(store.redis, KeySchema(f"{key_prefix}reference:"))
    direct = EventPipeline(reference)
    for start in range(0, MESSAGES, 500):
        await direct.apply(messages[start : start + 500])
    ours, theirs = await store.snapshot(), await reference.snapshot()
    # LastCall is stamped with the ingest's clock at AgentComplete (no event carries it).
    assert without_fields(state_view(ours), "last_call") == without_fields(
        state_view(theirs), "last_call"
    )
    assert channel_view(ours) == channel_view(theirs)


async def test_ping_action_and_snapshot_complete_while_reading_is_paused(
    store: StateStore,
) -> None:
    messages = numbered(QUEUE_MAX * 4)
    wanted = [seq for seq, message in enumerate(messages) if is_wanted(message)]
    peer = BurstPeer(messages)
    opened = asyncio.Event()

    async def until_opened() -> None:
        await opened.wait()

    pipeline = SlowPipeline(store, until_opened)
    # The heartbeat pings every 0.1 s and waits 0.1 s for each answer.
    async with ingest_with(store, peer, pipeline, ping_interval=0.1) as live:
        status = live.status
        burst = asyncio.create_task(peer.burst())
        await until(lambda: status.reading_paused, 20, "the reading paused")
        pings_before = peer.pings
        action = asyncio.create_task(live.ingest.send_action({"Action": "Ping"}, timeout=30))
        live.ingest.request_reconcile("asked during the pause")
        await asyncio.sleep(1.0)  # ten heartbeats without an answer read
        assert status.reading_paused and status.connected and status.reconnects == 0
        assert not action.done()
        opened.set()
        answer = await action
        assert answer.get("Response") == "Success"
        await burst
        await live.settled(events=len(wanted), reconciliations=2)
        await until(lambda: peer.pings > pings_before + 1, 10, "the heartbeat answered again")
        assert status.reconnects == 0 and status.events_dropped == 0
        assert pipeline.seqs == wanted
        # (Reading went on while the snapshot's lists were awaited: the bound may pass.)
        assert not status.reading_paused


async def test_past_the_last_resort_bound_events_are_dropped_and_reconciled() -> None:
    """Events that still arrive past the bound (reading goes on only while a snapshot's
    lists are awaited) queue up to `hard_max`; beyond, with Redis taking nothing, they
    are dropped, the state marked stale and a reconciliation asked (a last resort)."""

    async def nothing(*_: Any, **__: Any) -> int:
        return 0

    async def no_queues() -> set[str]:
        return set()

    ingest = AmiIngest(
        AmiEndpoint("127.0.0.1", 1, "admin", "unused"),
        EventApplier(nothing, nothing),
        known_queues=no_queues,
        max_queue=10,
        hard_max=30,
    )
    ingest.status.stale = False
    deliver = ingest.connection._on_event  # what the protocol calls for each event
    for seq in range(40):
        deliver({"Event": "VarSet", "Seq": str(seq)})
    status = ingest.status
    assert ingest.connection.reading_held and status.reading_paused and status.read_pauses == 1
    assert status.queue_depth == status.queue_depth_max == 30
    assert status.events_received == 40 and status.events_dropped == 10 and status.stale
