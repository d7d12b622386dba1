"""A cap on concurrent GraphQL WebSockets, globally and per client address.

uvicorn's --limit-concurrency does not count WebSockets, and every socket holds
a task and buffers for as long as it lives. Over the cap, the handshake is
accepted (so a browser can read the reason) and closed at once with 1013
"Try Again Later" and a reason that says which limit was hit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

TRY_AGAIN_LATER = 1013

SERVER_SEND = "queue_status.server_send"
"""Scope key of the server's own `send` for the socket (before any middleware wraps it):
the subscription fan-out sends its frames through it (`api.graphql.protocols`)."""


class WebSocketLimits:
    """ASGI middleware counting the open WebSockets of one path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        max_connections: int,
        max_per_client: int,
        subprotocols: Sequence[str] = (),
    ) -> None:
        self.app = app
        self._path = path.rstrip("/")
        self._max_connections = max_connections
        self._max_per_client = max_per_client
        self._subprotocols = tuple(subprotocols)
        self._per_client: Counter[str] = Counter()
        self.open = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or scope["path"].rstrip("/") != self._path:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        refusal = self._refusal(address)
        if refusal is not None:
            await self._refuse(scope, receive, send, refusal)
            return
        self.open += 1
        self._per_client[address] += 1
        scope[SERVER_SEND] = send
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1
            self._per_client[address] -= 1
            if self._per_client[address] <= 0:
                del self._per_client[address]

    def _refusal(self, address: str) -> str | None:
        if self.open >= self._max_connections:
            return f"Too many WebSocket connections on this server (limit {self._max_connections})"
        if self._per_client[address] >= self._max_per_client:
            return (
                f"Too many WebSocket connections from this address (limit {self._max_per_client})"
            )
        return None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        offered = scope.get("subprotocols") or ()
        chosen = next((p for p in offered if p in self._subprotocols), None)
        await send({"type": "websocket.accept", "subprotocol": chosen, "headers": []})
        await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": reason})
