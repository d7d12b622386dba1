"""The fan-out's ready-made frames and direct writes, the lean WebSocket protocol, the
coalescing window's formula."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

import api.graphql.fanout
from api.graphql.fanout import SENDS_PER_SECOND, WINDOW, window_for
from api.graphql.frames import SharedFrames, text_frame
from api.graphql.members import Envelope, Member
from api.websocket_protocol import Flag, Inbox, LeanWebSocketProtocol
from ingest.patches import Patch
from tests.api.graphql.test_graphql_fanout import (
    CHANGES,
    LEGACY_WS,
    fanout,
    frame,
    seeded,
    socket,
    start,
)
from tests.api.live_server import LiveServer, wait_for

__all__ = ["seeded"]  # the fixture, shared with the fan-out's tests


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70_000])
def test_a_frame_is_byte_for_byte_what_websockets_writes(size: int) -> None:
    text = ("é" + "x" * size)[: max(size, 1)] if size else ""
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
    assert text_frame(text) == expected
    # ... and what uvicorn's connection object would have queued for it.
    server = ServerProtocol()
    server.state = server.state.OPEN
    server.send_text(text.encode())
    assert b"".join(server.data_to_send()) == expected


def test_a_message_is_framed_once_per_operation_id() -> None:
    frames = SharedFrames('{"data":{"x":1}}')
    first = frames.frame(Envelope.transport_ws("1"))
    again = frames.frame(Envelope.transport_ws("1"))
    other = frames.frame(Envelope.transport_ws("b"))
    legacy = frames.frame(Envelope.legacy_ws("1"))
    assert again is first
    assert first == text_frame('{"id":"1","type":"next","payload":{"data":{"x":1}}}')
    assert other == text_frame('{"id":"b","type":"next","payload":{"data":{"x":1}}}')
    assert legacy == text_frame('{"type":"data","id":"1","payload":{"data":{"x":1}}}')


def test_the_window_grows_with_the_subscriptions_up_to_its_bound() -> None:
    assert window_for(0) == 0.0  # nobody waits: every batch at once
    assert window_for(10) == pytest.approx(10 / SENDS_PER_SECOND)
    assert window_for(1000) == pytest.approx(1000 / SENDS_PER_SECOND)
    assert window_for(100_000) == WINDOW
    assert window_for(100_000, limit=0.01) == 0.01
    # Frames a second across the process stay within the budget, up to the bound.
    for subscriptions in (1, 100, 1000, 3000):
        assert subscriptions / window_for(subscriptions) == pytest.approx(SENDS_PER_SECOND)
    counts = [1, 10, 100, 1000, 5000, 20_000]
    windows = [window_for(count) for count in counts]
    assert windows == sorted(windows)


def unreachable_send(text: str) -> Any:
    raise AssertionError(f"went through the server's send: {text}")


class Sink:
    """A socket taking ready-made frames, or not (over its high-water mark)."""

    def __init__(self, *, takes: bool = True) -> None:
        self.takes = takes
        self.written: list[bytes] = []
        self.writable = asyncio.Event()

    def write_frame(self, frame: bytes) -> bool:
        if self.takes:
            self.written.append(frame)
        return self.takes

    async def wait_writable(self) -> None:
        await self.writable.wait()
        self.takes = True


def test_a_member_writes_the_shared_frame_when_its_socket_takes_it() -> None:
    sinks = [Sink() for _ in range(3)]
    members = [
        Member(
            Envelope.transport_ws("1"), unreachable_send, limit=3, on_end=lambda: None, sink=sink
        )
        for sink in sinks
    ]
    frames = SharedFrames('{"data":1}')
    for member in members:
        assert member.deliver(frames.payload, frames)
        assert member.writer is None
    written = [frame for sink in sinks for frame in sink.written]
    assert written == [text_frame('{"id":"1","type":"next","payload":{"data":1}}')] * 3
    assert written[0] is written[1] is written[2]  # one bytes object for all


async def test_a_socket_that_cannot_take_frames_now_is_bounded_and_keeps_the_order() -> None:
    # The transport is over its high-water mark: the member's frames wait in a task (the
    # same bytes as everyone's, not a copy), at most `limit` of them, in order.
    sink = Sink(takes=False)
    completed: list[str] = []

    async def send(text: str) -> None:
        completed.append(text)

    member = Member(Envelope.transport_ws("1"), send, limit=3, on_end=lambda: None, sink=sink)
    messages = [SharedFrames(f"{n}") for n in range(4)]
    assert member.deliver(messages[0].payload, messages[0])
    assert member.writer is not None  # waiting for the socket
    assert member.deliver(messages[1].payload, messages[1])
    sink.takes = True  # even once the socket could take one: behind the queue, in order
    assert member.deliver(messages[2].payload, messages[2])
    assert not member.deliver(messages[3].payload, messages[3])  # over the limit: cut off
    sink.writable.set()
    await member.writer
    assert member.writer is None
    assert sink.written == [
        text_frame(f'{{"id":"1","type":"next","payload":{n}}}') for n in range(3)
    ]
    assert sink.written[0] is messages[0].frame(Envelope.transport_ws("1"))  # not a copy
    member.finish(None)
    await asyncio.sleep(0)
    assert completed == ['{"id":"1","type":"complete"}']


async def test_a_socket_gone_while_frames_wait_ends_the_member() -> None:
    sink = Sink(takes=False)

    async def gone() -> None:
        raise ConnectionError("closed")

    sink.wait_writable = gone  # type: ignore[method-assign]
    left: list[bool] = []

    class Group:
        def remove(self, member: Member) -> None:
            left.append(True)

    member = Member(
        Envelope.transport_ws("1"), unreachable_send, limit=2, on_end=lambda: None, sink=sink
    )
    member.group = Group()
    frames = SharedFrames("0")
    assert member.deliver(frames.payload, frames)
    assert member.writer is not None
    await member.writer
    assert member.ended and left == [True] and not member.deliver(frames.payload, frames)


async def test_inbox_and_flag_do_what_uvicorn_asks_of_a_queue_and_an_event() -> None:
    inbox: Inbox[int] = Inbox()
    assert inbox.empty()
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert await getter == 1 and inbox.qsize() == 1 and await inbox.get() == 2
    cancelled = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    inbox.put_nowait(3)
    assert await inbox.get() == 3

    flag = Flag()
    assert not flag.is_set()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    flag.set()
    await waiter
    flag.clear()
    assert not flag.is_set()
    flag.set()
    await flag.wait()  # at once


def message_in(frame_: bytes) -> Any:
    """The JSON message a server's text frame carries."""
    length = frame_[1] & 0x7F
    return json.loads(frame_[{126: 4, 127: 10}.get(length, 2) :])


@pytest.fixture
def direct_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every frame the fan-out wrote directly to a socket."""
    written: list[bytes] = []
    original = LeanWebSocketProtocol.write_frame

    def spy(self: LeanWebSocketProtocol, frame: bytes) -> bool:
        taken = original(self, frame)
        if taken:
            written.append(frame)
        return taken

    monkeypatch.setattr(LeanWebSocketProtocol, "write_frame", spy)
    return written


async def test_grouped_frames_go_straight_to_the_socket_with_each_ones_id(
    seeded: LiveServer, direct_writes: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.graphql.fanout, "SENDS_PER_SECOND", 1_000_000)  # no window
    async with socket(seeded) as first, socket(seeded) as second:
        await start(first, "1", CHANGES)
        await start(second, "other", CHANGES)
        await wait_for(lambda: fanout(seeded).count == 2)
        await seeded.store.apply([Patch("operator", "PJSIP/1001", {"status": "busy"})])
        got_first, got_second = await frame(first), await frame(second)
        assert (got_first["id"], got_second["id"]) == ("1", "other")
        assert got_first["type"] == got_second["type"] == "next"
        assert got_first["payload"] == got_second["payload"]
        # The frames on the wire were the fan-out's own, one per operation id.
        assert sorted(message_in(frame_)["id"] for frame_ in direct_writes) == [
            "1",
            "other",
        ]
        # The socket still answers pings (uvicorn's), and `complete` ends the operation.
        pong = await first.ping()
        async with asyncio.timeout(5):
            await pong
        await first.send(json.dumps({"id": "1", "type": "complete"}))
        await wait_for(lambda: fanout(seeded).count == 1)
        await seeded.store.apply([Patch("operator", "PJSIP/1001", {"status": "idle"})])
        assert (await frame(second))["id"] == "other"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await first.recv()  # nothing more for the completed operation


async def test_the_legacy_protocol_gets_its_own_framing_directly(
    seeded: LiveServer, direct_writes: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.graphql.fanout, "SENDS_PER_SECOND", 1_000_000)
    async with socket(seeded, LEGACY_WS) as ws:
        await ws.send(json.dumps({"id": "7", "type": "start", "payload": {"query": CHANGES}}))
        await wait_for(lambda: fanout(seeded).count == 1)
        await seeded.store.apply([Patch("operator", "PJSIP/1001", {"status": "busy"})])
        message = await frame(ws)
        assert message["type"] == "data" and message["id"] == "7"
        assert direct_writes and message_in(direct_writes[-1]) == message
