"""The burst's Asterisk: an AMI peer in a process of its own that writes a prepared burst
as fast as TCP takes it.

It answers the session as Asterisk does — the banner, Login, Ping, empty
lists for the snapshot actions (`QueueStatus`, `CoreShowChannels`, …), a plain
Success for anything else — and, when the parent says ``"go"``, writes the
burst (`bench.burst_stream`) to the connected client in 64 KiB chunks of whole
messages, each write waiting only for the socket to drain (so TCP's
backpressure is the only pace). Answers to actions go between two chunks.

Protocol on the pipe: it sends ``("ready", port, messages)``; ``"go"`` is
answered with ``("sent", started, finished, bytes)`` (monotonic clock, shared by
every process of the machine) once the last byte is written; ``"stop"`` ends it.
"""

from __future__ import annotations

import asyncio
import time
from multiprocessing.connection import Connection
from typing import Any

from bench.burst_stream import burst_chunks
from bench.piped_process import PipedProcess

_LISTS = ("queuestatus", "queuesummary", "coreshowchannels", "devicestatelist")
STARTUP_TIMEOUT = 60.0


def _answer(request: dict[str, str]) -> bytes:
    """Asterisk's answer to one action."""
    action = request.get("action", "").lower()
    action_id = request.get("actionid", "")
    head = f"Response: Success\r\nActionID: {action_id}\r\n"
    if action == "login":
        return (
            f"{head}Message: Authentication accepted\r\n\r\n"
            "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1\r\nLastReload: 1\r\n"
            "Status: Fully Booted\r\n\r\n"
        ).encode()
    if action == "ping":
        return f"{head}Ping: Pong\r\nTimestamp: {time.time():.6f}\r\n\r\n".encode()
    if action in _LISTS:
        name = next(
            n
            for n in ("QueueStatus", "QueueSummary", "CoreShowChannels", "DeviceStateList")
            if n.lower() == action
        )
        return (
            f"{head}EventList: start\r\nMessage: {name} will follow\r\n\r\n"
            f"Event: {name}Complete\r\nActionID: {action_id}\r\nEventList: Complete\r\n"
            "ListItems: 0\r\n\r\n"
        ).encode()
    return f"{head}\r\n".encode()


class _Peer:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.writer: asyncio.StreamWriter | None = None
        self.logged_in = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                request: dict[str, str] = {}
                for line in raw.decode(errors="replace").split("\r\n"):
                    key, colon, value = line.partition(":")
                    if colon:
                        request[key.strip().lower()] = value.strip()
                writer.write(_answer(request))
                if request.get("action", "").lower() == "login":
                    self.logged_in.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def burst(self) -> tuple[float, float, int]:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            await self.logged_in.wait()
        writer = self.writer
        assert writer is not None
        started = time.monotonic()
        written = 0
        for chunk in self.chunks:
            writer.write(chunk)
            written += len(chunk)
            await writer.drain()
        return started, time.monotonic(), written


def _peer_process(conn: Connection, messages: int) -> None:
    asyncio.run(_run(conn, messages))


async def _run(conn: Connection, messages: int) -> None:
    peer = _Peer(burst_chunks(messages))
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn.send(("ready", port, messages))
    loop = asyncio.get_running_loop()
    try:
        while True:
            command = await loop.run_in_executor(None, _receive, conn)
            if command == "go":
                conn.send(("sent", *(await peer.burst())))
            else:
                return
    finally:
        server.close()


def _receive(conn: Connection) -> Any:
    try:
        return conn.recv()
    except (EOFError, OSError):
        return "stop"


class BurstPeer(PipedProcess):
    """The parent's handle on the peer's process."""

    def __init__(self, messages: int) -> None:
        super().__init__(_peer_process, (messages,), "burst-peer")
        self.port = 0
        self.messages = 0

    async def ready(self) -> int:
        """The port it listens on, once it does."""
        kind, port, messages = await self.receive(STARTUP_TIMEOUT)
        assert kind == "ready"
        self.port, self.messages = int(port), int(messages)
        return self.port

    async def burst(self, timeout: float = 600.0) -> tuple[float, float, int]:
        """Write the burst; (started, finished, bytes) once its last byte is in the socket."""
        self.send("go")
        kind, started, finished, written = await self.receive(timeout)
        assert kind == "sent"
        return float(started), float(finished), int(written)
