"""A webhook receiver on a loopback port: records each POST's JSON body, and answers the
first `failures` requests with 503 (to exercise the sender's retries)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class WebhookReceiver:
    """What arrived, and how many requests were refused on purpose."""

    failures: int = 0
    status: bytes = b"503 Service Unavailable"
    """What a refused request is answered with."""
    attempts: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        """Where to POST (with a path and a query that a log must never show)."""
        return f"http://127.0.0.1:{self.port}/hooks/secret-path?token=hook-secret"

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The bodies, once at least `count` arrived."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                await asyncio.sleep(0.02)
        return self.received

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length)
            self.attempts += 1
            if self.attempts <= self.failures:
                status = self.status
            else:
                status = b"200 OK"
                self.received.append(orjson.loads(body))
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@asynccontextmanager
async def webhook_receiver(
    failures: int = 0, status: bytes = b"503 Service Unavailable"
) -> AsyncIterator[WebhookReceiver]:
    """A running receiver on a free loopback port, refusing the first `failures` requests
    with `status`."""
    receiver = WebhookReceiver(failures=failures, status=status)
    server = await asyncio.start_server(receiver._serve, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()
