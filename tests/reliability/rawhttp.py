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
import socket
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


def _parse(received: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """The complete answer in `received`, once it is all there."""
    head, sep, rest = received.partition(b"\r\n\r\n")
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
    """POST `total` bytes of body (announced in Content-Length unless `chunked`).

    A bare non-blocking socket, sending and receiving from two tasks: when the
    server answers and closes while the body is still coming, the send fails
    (EPIPE, reset) but what the server sent is still read (an asyncio transport
    would stop reading at the first failed write).
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    received = bytearray()
    sent = 0
    try:
        await loop.sock_connect(sock, (host, port))
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Content-Type: application/json",
            "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
        started = time.perf_counter()
        first_byte_at: float | None = None

        async def pump() -> None:
            nonlocal sent
            piece = b"[" + b"1," * (PIECE // 2 - 1) + b"1"
            frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            with contextlib.suppress(OSError):
                while sent < total:
                    await loop.sock_sendall(sock, frame)
                    sent += len(piece)
                if chunked:
                    await loop.sock_sendall(sock, b"0\r\n\r\n")

        pumping = asyncio.create_task(pump())
        try:
            async with asyncio.timeout(timeout):
                while (answer := _parse(bytes(received))) is None:
                    data = await loop.sock_recv(sock, 65536)
                    if not data:
                        raise ConnectionError(f"closed without an answer after {sent} bytes")
                    if first_byte_at is None:
                        first_byte_at = time.perf_counter()
                    received += data
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping
    finally:
        sock.close()
    assert first_byte_at is not None
    status, answer_headers, body = answer
    return Answer(status, answer_headers, body, first_byte_at - started, sent)
