"""A small GraphQL-over-WebSocket client that speaks both subprotocols, for abuse and load.

`graphql-transport-ws` (subscribe/next/error/complete, ping/pong) and the legacy
`graphql-ws` (start/data/error/complete, "ka" keep-alives) differ in message
names only as far as these tests care; `GqlSocket` hides that and exposes the
close code the server chose.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)

JsonObject = dict[str, Any]


class GqlSocket:
    """One GraphQL WebSocket."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol

    @classmethod
    async def open(
        cls,
        url: str,
        protocol: str,
        *,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        init: bool = True,
        payload: JsonObject | None = None,
        **options: Any,
    ) -> GqlSocket:
        """Connect (and send connection_init, waiting for the ack, when `init`)."""
        options.setdefault("open_timeout", 20)
        options.setdefault("close_timeout", 5)
        options.setdefault("ping_interval", None)
        ws = await connect(
            url,
            subprotocols=[Subprotocol(protocol)],
            origin=None if origin is None else origin,  # type: ignore[arg-type]
            additional_headers=headers,
            **options,
        )
        sock = cls(ws, protocol)
        if init:
            answer = await sock.init(payload)
            if answer.get("type") != "connection_ack":
                raise AssertionError(f"no connection_ack: {answer}")
        return sock

    @property
    def start_type(self) -> str:
        """The message type that starts an operation."""
        return "subscribe" if self.protocol == TRANSPORT_WS else "start"

    @property
    def data_type(self) -> str:
        """The message type of a result."""
        return "next" if self.protocol == TRANSPORT_WS else "data"

    @property
    def close_code(self) -> int | None:
        """The code the connection was closed with (None while open)."""
        return self.ws.close_code

    @property
    def close_reason(self) -> str | None:
        """The reason the connection was closed with."""
        return self.ws.close_reason

    async def send(self, message: JsonObject) -> None:
        """Send one JSON text frame."""
        await self.ws.send(json.dumps(message))

    async def init(self, payload: JsonObject | None = None) -> JsonObject:
        """connection_init; the first answer that is not a keep-alive."""
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.recv()

    async def subscribe(self, op_id: str, query: str, variables: JsonObject | None = None) -> None:
        """Start an operation (a subscription, or a query/mutation over the socket)."""
        payload: JsonObject = {"query": query}
        if variables:
            payload["variables"] = variables
        await self.send({"id": op_id, "type": self.start_type, "payload": payload})

    async def recv(self, timeout: float = 20) -> JsonObject:
        """The next message, keep-alives and pings answered and skipped."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.ws.recv()
                message: JsonObject = json.loads(frame)
                kind = message.get("type")
                if kind == "ka":
                    continue
                if kind == "ping":
                    await self.send({"type": "pong"})
                    continue
                return message

    async def result(self, op_id: str, timeout: float = 20) -> JsonObject:
        """The next message of operation `op_id` (results of other operations are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.recv(timeout)
                if message.get("id") == op_id:
                    return message

    async def closed(self, timeout: float = 20) -> int | None:
        """Read until the server closes; its close code."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    await self.ws.recv()
            except ConnectionClosed:
                pass
        return self.ws.close_code

    async def close(self) -> None:
        """Close from our side."""
        await self.ws.close()


def errors_of(message: JsonObject) -> list[JsonObject]:
    """The GraphQL errors a result or error message carries (both protocols)."""
    payload = message.get("payload")
    if isinstance(payload, list):
        return [e for e in payload if isinstance(e, dict)]
    if isinstance(payload, dict):
        found = payload.get("errors")
        if isinstance(found, list):
            return [e for e in found if isinstance(e, dict)]
        if message.get("type") == "error":
            return [payload]
    return []
