"""SafeAMIProtocol's pacing: big reads in steps, `hold`/`release` (backpressure), in order."""

from __future__ import annotations

import asyncio
from typing import Any

from ingest.ami.pacing import STEP_BYTES
from ingest.ami.protocol import SafeAMIProtocol


class PausableTransport(asyncio.Transport):
    """Records the pauses asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.pauses = 0
        self.closing = False

    def pause_reading(self) -> None:
        assert not self.paused, "paused twice"
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        assert self.paused, "resumed while reading"
        self.paused = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


class Dispatched:
    """The manager side: what was dispatched, in order."""

    forgetable_actions = ("ping",)

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.lost: list[Any] = []
        self.awaiting_actions: list[Any] = []

    def dispatch(self, message: Any) -> None:
        self.seqs.append(int(message["Seq"]))

    def connection_lost(self, exc: Any) -> None:
        self.lost.append(exc)


def stream(count: int, start: int = 0) -> bytes:
    return b"".join(
        f"Event: VarSet\r\nSeq: {n}\r\nVariable: X\r\nValue: {'v' * 200}\r\n\r\n".encode()
        for n in range(start, start + count)
    )


def protocol_on() -> tuple[SafeAMIProtocol, PausableTransport, Dispatched]:
    protocol = SafeAMIProtocol()
    transport = PausableTransport()
    protocol.connection_made(transport)
    manager = Dispatched()
    protocol.factory = manager
    protocol.data_received(b"Asterisk Call Manager/11.0.0\r\n")
    return protocol, transport, manager


async def settle() -> None:
    for _ in range(200):
        await asyncio.sleep(0)


async def test_a_big_read_is_handled_in_steps_with_reading_paused_meanwhile() -> None:
    protocol, transport, manager = protocol_on()
    data = stream(2000)
    assert len(data) > 8 * STEP_BYTES
    protocol.data_received(data)
    # One step done at once; the rest waits for later steps, the socket unread meanwhile.
    assert 0 < len(manager.seqs) < 2000
    assert transport.paused
    await settle()
    assert manager.seqs == list(range(2000))
    assert not transport.paused and transport.pauses == 1


async def test_held_messages_wait_in_order_until_released() -> None:
    protocol, transport, manager = protocol_on()
    protocol.data_received(stream(3))
    protocol.hold()
    assert protocol.held and transport.paused
    protocol.data_received(stream(5, start=3))  # what the socket had already delivered
    await settle()
    assert manager.seqs == [0, 1, 2]
    protocol.release()
    await settle()
    assert manager.seqs == list(range(8)) and not transport.paused
    protocol.data_received(stream(1, start=8))
    assert manager.seqs[-1] == 8


async def test_a_hold_from_a_handler_stops_the_rest_of_the_read() -> None:
    protocol, transport, manager = protocol_on()
    original = manager.dispatch

    def dispatch(message: Any) -> None:
        original(message)
        if len(manager.seqs) == 10:
            protocol.hold()  # as the ingest does when its queue is full

    manager.dispatch = dispatch  # type: ignore[method-assign]
    protocol.data_received(stream(50))
    await settle()
    assert manager.seqs == list(range(10)) and transport.paused
    protocol.release()
    await settle()
    assert manager.seqs == list(range(50)) and not transport.paused


async def test_what_was_read_is_handled_when_the_peer_goes_even_while_held() -> None:
    protocol, _, manager = protocol_on()
    protocol.hold()
    protocol.data_received(stream(4))
    protocol.connection_lost(None)
    assert manager.seqs == [0, 1, 2, 3] and manager.lost == [None]


async def test_closing_on_purpose_forgets_what_waits() -> None:
    protocol, _, manager = protocol_on()
    protocol.hold()
    protocol.data_received(stream(4))
    protocol.close()
    protocol.release()
    await settle()
    assert manager.seqs == []


def test_without_a_loop_everything_is_handled_at_once() -> None:
    protocol, transport, manager = protocol_on()
    protocol.data_received(stream(2000))
    assert manager.seqs == list(range(2000)) and not transport.paused
