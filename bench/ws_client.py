"""Many GraphQL subscribers in one process: graphql-transport-ws over raw WebSockets.

    python -m bench.ws_client --url ws://127.0.0.1:8000/graphql --clients 1000 \\
        --query-file q.graphql --records out.bin [--verify-every 10]

Each client connects, sends connection_init, then subscribes. Every frame it
receives is recorded as (client, fromVersion, toVersion, arrival time on the
system-wide monotonic clock) — the two versions read off the frame's head,
which the subscription's selection puts first. Every `--verify-every`-th
client also parses each frame in full and checks that its changes carry
exactly the versions fromVersion+1 … toVersion, in order.

Lines on stdin drive it: `status` prints `{"seen": clients that received a
frame, "frames": n, "last": the lowest toVersion of the clients' last frames}`;
`stop` writes the records and a JSON summary line and exits. stdout:
`{"connected": n}` once every client has sent its subscription. The client is lean on purpose (a small frame parser instead of a
WebSocket library): at a thousand subscribers it must not be what limits the
measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import struct
import sys
import time
from array import array
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

import orjson
import uvloop

_VERSIONS = re.compile(rb'"fromVersion":(\d+),"toVersion":(\d+)')
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    key = mask * (length // 4 + 1)
    masked = bytes(b ^ k for b, k in zip(payload, key, strict=False))
    return header + mask + masked


class Recorder:
    """Frames of every client, in compact arrays."""

    def __init__(self) -> None:
        self.client = array("i")
        self.first = array("q")
        self.last = array("q")
        self.arrival = array("d")
        self.last_seen: dict[int, int] = {}
        self.errors: list[str] = []
        self.verify_failures = 0
        self.verified_frames = 0
        self.other_frames = 0
        self.closed = 0
        self.stopping = False


class Client(asyncio.Protocol):
    """One WebSocket, one subscription."""

    def __init__(
        self, index: int, request: bytes, subscribe: bytes, recorder: Recorder, verify: bool
    ) -> None:
        self.index = index
        self._request = request
        self._subscribe = subscribe
        self._recorder = recorder
        self._verify = verify
        self._buffer = bytearray()
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        self.subscribed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._recorder.stopping:
            self._recorder.closed += 1
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("closed before subscribing"))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self._upgraded:
            self._buffer += data
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self._buffer.startswith(b"HTTP/1.1 101"):
                self.subscribed.set_exception(ConnectionError(bytes(self._buffer[:200]).decode()))
                return
            data = bytes(self._buffer[end + 4 :])
            self._buffer = bytearray()
            self._upgraded = True
            self._send(_TEXT, b'{"type":"connection_init","payload":{}}')
        # Frames are read where they lie (in `data` itself when nothing was left over):
        # at 5,000 subscribers the client reads ~1 GB a second, every copy counts.
        view: bytes | bytearray = data
        if self._buffer:
            self._buffer += data
            view = self._buffer
        at = 0
        size = len(view)
        while size - at >= 2:
            opcode = view[at] & 0x0F
            length = view[at + 1] & 0x7F
            start = at + 2
            if length == 126:
                if size - at < 4:
                    break
                (length,) = struct.unpack_from("!H", view, at + 2)
                start = at + 4
            elif length == 127:
                if size - at < 10:
                    break
                (length,) = struct.unpack_from("!Q", view, at + 2)
                start = at + 10
            if size - start < length:
                break
            at = start + length
            self._on_frame(opcode, view, start, at, now)
        if view is self._buffer:
            del self._buffer[:at]
        elif at < size:
            self._buffer = bytearray(view[at:])

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(opcode, payload))

    def _on_frame(
        self, opcode: int, data: bytes | bytearray, start: int, end: int, now: float
    ) -> None:
        """The frame whose payload is data[start:end]."""
        recorder = self._recorder
        if opcode == _PING:
            self._send(_PONG, bytes(data[start:end]))
            return
        if opcode == _CLOSE:
            reason = bytes(data[start : min(end, start + 120)])
            recorder.errors.append(f"client {self.index}: closed by the server {reason!r}")
            return
        if opcode != _TEXT:
            return
        found = _VERSIONS.search(data, start, min(end, start + 400))
        if found is None:
            self._on_message(bytes(data[start:end]))
            return
        first, last = int(found[1]), int(found[2])
        recorder.client.append(self.index)
        recorder.first.append(first)
        recorder.last.append(last)
        recorder.arrival.append(now)
        recorder.last_seen[self.index] = last
        if self._verify:
            self._check(bytes(data[start:end]), first, last)

    def _on_message(self, payload: bytes) -> None:
        message = orjson.loads(payload)
        kind = message.get("type")
        if kind == "connection_ack":
            self.transport.write(self._subscribe) if self.transport else None
            if not self.subscribed.done():
                self.subscribed.set_result(None)
        elif kind in ("error", "complete") or message.get("payload", {}).get("errors"):
            self._recorder.errors.append(f"client {self.index}: {payload[:300]!r}")
        else:
            self._recorder.other_frames += 1

    def _check(self, payload: bytes, first: int, last: int) -> None:
        recorder = self._recorder
        recorder.verified_frames += 1
        data = orjson.loads(payload)["payload"]
        batch = next(iter(data["data"].values()))
        versions = [change["version"] for change in batch.get("changes") or ()]
        if batch.get("kind") == "CHANGES" and versions != list(range(first + 1, last + 1)):
            recorder.verify_failures += 1
            if len(recorder.errors) < 20:
                recorder.errors.append(
                    f"client {self.index}: frame {first}..{last} carries versions {versions[:5]}…"
                )
        if data.get("errors"):
            recorder.errors.append(f"client {self.index}: {payload[:300]!r}")


async def run(args: argparse.Namespace) -> None:
    """Connect every client, report, record until told to stop."""
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    ).encode()
    with open(args.query_file, "rb") as handle:  # noqa: ASYNC230 - before any connection
        query = handle.read().decode()
    subscribe = _frame(
        _TEXT,
        orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}),
    )
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    semaphore = asyncio.Semaphore(64)  # the server's accept backlog is finite

    async def connect(index: int) -> None:
        verify = args.verify_every > 0 and index % args.verify_every == 0

        def factory() -> Client:
            return Client(index, request, subscribe, recorder, verify)

        make: Callable[[], Client] = factory
        async with semaphore:
            _, client = await loop.create_connection(make, host, port)
            clients.append(client)
            await asyncio.wait_for(client.subscribed, 30)

    first = args.first_index
    await asyncio.gather(*(connect(index) for index in range(first, first + args.clients)))
    print(orjson.dumps({"connected": len(clients)}).decode(), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while (line := await reader.readline()) and line.strip() != b"stop":
        if line.strip() == b"status":
            seen = recorder.last_seen
            status = {
                "seen": len(seen),
                "frames": len(recorder.client),
                "last": min(seen.values()) if len(seen) == len(clients) else 0,
            }
            print(orjson.dumps(status).decode(), flush=True)
    recorder.stopping = True
    with open(args.records, "wb") as out:  # noqa: ASYNC230 - the run is over
        count = array("q", [len(recorder.client)])
        count.tofile(out)
        recorder.client.tofile(out)
        recorder.first.tofile(out)
        recorder.last.tofile(out)
        recorder.arrival.tofile(out)
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    summary = {
        "frames": len(recorder.client),
        "errors": recorder.errors[:50],
        "error_count": len(recorder.errors),
        "verified_frames": recorder.verified_frames,
        "verify_failures": recorder.verify_failures,
        "closed_by_server": recorder.closed,
    }
    print(orjson.dumps(summary).decode(), flush=True)


def read_records(path: str) -> tuple[array[int], array[int], array[int], array[float]]:
    """(client, fromVersion, toVersion, arrival) as written by `run`."""
    with open(path, "rb") as handle:
        count = array("q")
        count.fromfile(handle, 1)
        n = count[0]
        client, first, last, arrival = array("i"), array("q"), array("q"), array("d")
        client.fromfile(handle, n)
        first.fromfile(handle, n)
        last.fromfile(handle, n)
        arrival.fromfile(handle, n)
    return client, first, last, arrival


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--query-file", required=True)
    parser.add_argument("--records", required=True)
    parser.add_argument("--verify-every", type=int, default=10)
    parser.add_argument(
        "--first-index", type=int, default=0, help="the first client's number (several processes)"
    )
    # uvloop's transports read in C: the client's own cost per frame is what it must keep low.
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
