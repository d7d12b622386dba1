"""A minimal AMI server that streams the real mix (`bench.ami_mix`) as fast as it is read.

It does what the ingest needs of a session and nothing more: the banner, a
Login that always succeeds and honours its ``Events:`` mask (as Asterisk does:
an event goes out when one of its ``Privilege`` classes is in the mask), empty
answers to the snapshot's list actions (``QueueStatus``, ``CoreShowChannels``,
``DeviceStateList``), ``Success`` to anything else. On `start` the session gets
`loops` loops of the mix, each with fresh ids, rendered beforehand so the
feeder spends no CPU while the ingest is measured: TCP flow control sets the
pace, that is, the ingest's reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.ami_mix import MixStream, mix_stream
from ingest.ami.framing import AmiFramer
from ingest.ami.message import AmiMessage
from simulator.connection import event_mask
from simulator.wire import serialize

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
_LIST_COMPLETE = {
    "queuestatus": "QueueStatusComplete",
    "coreshowchannels": "CoreShowChannelsComplete",
    "devicestatelist": "DeviceStateListComplete",
}
_CHUNK = 1 << 18


def _header(message: AmiMessage, name: str) -> str:
    lowered = name.lower()
    for key, value in message.items():
        if key.lower() == lowered:
            return value if isinstance(value, str) else value[0]
    return ""


def answer(action: AmiMessage) -> bytes:
    """The reply to one action: an empty list for the list actions, else ``Success``."""
    name = _header(action, "Action").lower()
    action_id = _header(action, "ActionID")
    complete = _LIST_COMPLETE.get(name)
    if complete is None:
        reply = {"Response": "Success", "ActionID": action_id}
        if name == "login":
            reply["Message"] = "Authentication accepted"
        elif name == "ping":
            reply["Ping"] = "Pong"
        return serialize(reply)
    return serialize(
        {
            "Response": "Success",
            "ActionID": action_id,
            "EventList": "start",
            "Message": "List will follow",
        }
    ) + serialize(
        {"Event": complete, "ActionID": action_id, "EventList": "Complete", "ListItems": "0"}
    )


@dataclass(slots=True)
class MixFeeder:
    """Serves one session at a time; `start` streams the loops to the logged-in one."""

    loops: int
    streams: dict[frozenset[str] | None, MixStream] = field(default_factory=dict)
    rendered: dict[frozenset[str] | None, list[bytes]] = field(default_factory=dict)
    session: _Session | None = None
    logged_in: asyncio.Event = field(default_factory=asyncio.Event)

    def prepare(self, mask: frozenset[str] | None) -> MixStream:
        """Render the loops Asterisk would send with `mask` (once per mask)."""
        if mask not in self.streams:
            stream = mix_stream(mask)
            self.streams[mask] = stream
            self.rendered[mask] = [stream.render(loop) for loop in range(self.loops)]
        return self.streams[mask]

    async def start(self) -> tuple[int, int]:
        """Stream every loop to the session; (messages, bytes) it will get."""
        await self.logged_in.wait()
        session = self.session
        assert session is not None
        stream = self.prepare(session.mask)
        session.stream(self.rendered[session.mask])
        return stream.messages * self.loops, len(stream.loop_bytes) * self.loops

    def connection(self) -> _Session:
        session = _Session(self)
        self.session = session
        return session


class _Session(asyncio.Protocol):
    def __init__(self, feeder: MixFeeder) -> None:
        self.feeder = feeder
        self.mask: frozenset[str] | None = None
        self.transport: asyncio.Transport | None = None
        self._framer = AmiFramer(expect_banner=False)
        self._pending: list[bytes] = []
        self._writable = asyncio.Event()
        self._writable.set()
        self._writer: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(BANNER)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        for frame in self._framer.feed(data):
            action = frame.headers
            if _header(action, "Action").lower() == "login":
                self.mask = event_mask(_header(action, "Events") or "on")
                self.feeder.prepare(self.mask)
                self.transport.write(answer(action))
                self.feeder.logged_in.set()
            else:
                self.transport.write(answer(action))

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()
        if self._writer is not None:
            self._writer.cancel()

    def stream(self, loops: list[bytes]) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_all(loops))

    async def _write_all(self, loops: list[bytes]) -> None:
        transport = self.transport
        assert transport is not None
        for data in loops:
            for start in range(0, len(data), _CHUNK):
                await self._writable.wait()
                if transport.is_closing():
                    return
                transport.write(data[start : start + _CHUNK])


async def serve(feeder: MixFeeder, ready: Callable[[int], None], stopped: asyncio.Event) -> None:
    """Listen on a free loopback port until `stopped` is set."""
    server = await asyncio.get_running_loop().create_server(feeder.connection, "127.0.0.1", 0)
    async with server:
        ready(server.sockets[0].getsockname()[1])
        await stopped.wait()
