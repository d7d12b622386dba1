"""A raw HTTP/1.1 client that keeps sending a large body while it reads the answer.

httpx sends the whole body before it looks for a response, and gives up on a
server that closes early; an attacker does neither. `post_streaming` writes
the headers, then the body in 64 KiB pieces (with `Content-Length`, or
chunked) from a task of its own, while it waits for the status line: the
time to the answer and how much of the body the server took are measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import orjson

PIECE = 64 * 1024


@dataclass
class Answer:
    """What came back."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    """From the end of the request headers to the status line."""
    sent: int
    """Body bytes written before the server stopped taking them (or all of them)."""

    def json(self) -> object:
        """The body as JSON."""
        return orjson.loads(self.body)


class _Connection(asyncio.Protocol):
    """Keeps every byte received, even when the peer resets the connection afterwards
    (a StreamReader would raise the reset instead of returning what it holds)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.first_byte_at: float | None = None
        self.closed = False
        self.changed = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
        self.received += data
        self.changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.changed.set()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def answer(self) -> tuple[int, dict[str, str], bytes] | None:
        """The complete answer, once it is all here."""
        head, sep, rest = bytes(self.received).partition(b"\r\n\r\n")
        if not sep:
            return None
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(rest) < length:
            return None
        return int(status_line.split()[1]), headers, rest[:length]


async def post_streaming(
    host: str,
    port: int,
    path: str,
    *,
    total: int,
    chunked: bool = False,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Answer:
    """POST `total` bytes of body (announced in Content-Length unless `chunked`)."""
    loop = asyncio.get_running_loop()
    transport, connection = await loop.create_connection(_Connection, host, port)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    started = time.perf_counter()
    sent = 0

    async def pump() -> None:
        nonlocal sent
        piece = b"[" + b"1," * (PIECE // 2 - 1) + b"1"
        frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        while sent < total and not connection.closed and connection.answer() is None:
            await connection.writable.wait()
            if connection.closed:
                return
            transport.write(frame)
            sent += len(piece)
            await asyncio.sleep(0)
        if chunked and not connection.closed:
            transport.write(b"0\r\n\r\n")

    pumping = asyncio.create_task(pump())
    try:
        async with asyncio.timeout(timeout):
            while (answer := connection.answer()) is None:
                if connection.closed:
                    raise ConnectionError(f"closed without a complete answer after {sent} bytes")
                connection.changed.clear()
                await connection.changed.wait()
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
        transport.close()
    assert connection.first_byte_at is not None
    status, answer_headers, body = answer
    return Answer(status, answer_headers, body, connection.first_byte_at - started, sent)
