"""A raw AMI client for the simulator's socket tests: write actions, read messages.

Deliberately minimal (no ingest code): it sees exactly what the simulator sends.
:func:`run_recorded` replays a trace's actions against a simulator at their
recorded times, and :func:`compared` picks what a recording is compared on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ingest.ami.message import AmiMessageDict
from ingest.traces import find
from simulator.replay import load_trace
from simulator.server import AmiSimulator
from simulator.wire import BANNER, read_message, serialize

TIMEOUT = 5.0
"""Seconds a read may take before the test fails."""


class Client:
    """A minimal raw AMI client: write actions, read messages."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, sock: socket.socket | None = None) -> Client:
        if sock is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        else:
            reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == BANNER
        return cls(reader, writer)

    async def send(self, message: Mapping[str, str | list[str]]) -> None:
        self.writer.write(serialize(message))
        await self.writer.drain()

    async def read(self) -> AmiMessageDict:
        return await asyncio.wait_for(read_message(self.reader), TIMEOUT)

    async def until(self, done: Callable[[AmiMessageDict], bool]) -> list[AmiMessageDict]:
        """Messages up to and including the first one for which ``done`` is true."""
        out: list[AmiMessageDict] = []
        while not out or not done(out[-1]):
            out.append(await self.read())
        return out

    async def login(self, secret: str = "secret", events: str = "on") -> list[AmiMessageDict]:
        login = {"Action": "Login", "ActionID": "drv-1", "Username": "admin", "Secret": secret}
        await self.send({**login, "Events": events})
        reply = await self.read()
        if reply.get("Response") != "Success" or events == "off":
            return [reply]
        return [reply, await self.read()]

    async def action(self, message: Mapping[str, str | list[str]]) -> list[AmiMessageDict]:
        """Send; return what arrives up to its response (events first, response last)."""
        await self.send(message)
        aid = message.get("ActionID")
        return await self.until(lambda m: "Response" in m and m.get("ActionID") == aid)

    async def listing(self, message: Mapping[str, str | list[str]]) -> list[AmiMessageDict]:
        """Send a list action; return its response, items and Complete event."""
        await self.send(message)
        aid = message.get("ActionID")
        messages = await self.until(
            lambda m: m.get("ActionID") == aid and m.get("EventList") == "Complete"
        )
        start = next(i for i, m in enumerate(messages) if m.get("ActionID") == aid)
        return messages[start:]

    async def pending(self, silence: float = 0.1) -> list[AmiMessageDict]:
        """What arrives until nothing more comes for ``silence`` seconds."""
        out: list[AmiMessageDict] = []
        while True:
            try:
                out.append(await asyncio.wait_for(read_message(self.reader), silence))
            except TimeoutError:
                return out

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def recorded(trace: str, action_id: str) -> list[AmiMessageDict]:
    """The recorded list response with that ActionID (response … Complete)."""
    for item in load_trace(trace).lists:
        if item.action_id == action_id:
            return [item.response, *item.items, item.complete]
    raise LookupError(action_id)


def without(messages: list[AmiMessageDict], *keys: str) -> list[AmiMessageDict]:
    return [{k: v for k, v in m.items() if k not in keys} for m in messages]


class Clients:
    """Opens clients and closes them all at the end of the test, pass or fail."""

    def __init__(self) -> None:
        self.opened: list[Client] = []

    async def connect(self, port: int, sock: socket.socket | None = None) -> Client:
        client = await Client.connect(port, sock)
        self.opened.append(client)
        return client


MEMBER_EVENTS = frozenset(
    {
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberPenalty",
        "QueueMemberRinginuse",
        "QueueMemberStatus",
    }
)


def sent_at(trace: str) -> list[tuple[float, AmiMessageDict]]:
    """The driver's actions with their send times."""
    path = find(trace, ".sent.jsonl")
    return [(ts, action) for ts, action in map(json.loads, path.read_text().splitlines())]


async def run_recorded(
    sim: AmiSimulator,
    client: Client,
    trace: str,
    before: Callable[[AmiMessageDict], None] | None = None,
) -> list[AmiMessageDict]:
    """Send the trace's actions at their recorded times; every message received, in order.

    ``before(action)`` runs just before each action is sent (e.g. to change a row).
    """
    actions = sent_at(trace)
    start = sim.model.now
    received: list[AmiMessageDict] = []
    for ts, action in actions[1:]:
        if before is not None:
            before(action)
        sim.advance(max(0.0, ts - actions[0][0] - (sim.model.now - start)))
        received += await client.pending(0.05)
        if action["Action"] in ("QueueStatus", "QueueSummary"):
            received += await client.listing(action)
        else:
            received += await client.action(action)
        if action["Action"] == "Logoff":
            break
        received += await client.pending(0.05)
    return received


def compared(messages: Sequence[AmiMessageDict], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Responses, member events and pause device changes, each kind in its own order."""

    def plain(m: AmiMessageDict) -> dict[str, Any]:
        return {k: v for k, v in m.items() if k not in skip}

    return {
        "responses": [
            plain(m) for m in messages if "Response" in m and m.get("ActionID") != "drv-1"
        ],
        "member events": [plain(m) for m in messages if m.get("Event") in MEMBER_EVENTS],
        "pause devices": [
            plain(m)
            for m in messages
            if m.get("Event") == "DeviceStateChange" and "_pause_" in str(m["Device"])
        ],
        "originate": [plain(m) for m in messages if m.get("Event") == "OriginateResponse"],
    }
