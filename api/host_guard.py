"""The `Host` allow-list, for HTTP and WebSocket handshakes alike (DNS rebinding).

A page on `evil.example` whose name is re-pointed to 127.0.0.1 reaches a
loopback server as a *same-origin* page: its `Origin` and `Host` agree, so
the cross-origin write guard and the WebSocket origin check let it in, and
on loopback without tokens every write is open. Its `Host` header still
says `evil.example`: a request for a name this server does not answer to is
refused (400; a WebSocket handshake is refused before it is accepted).

Starlette's TrustedHostMiddleware has the idea, but its patterns are exact
names or `*.domain`: a loopback server is reached as localhost, 127.0.0.1,
any 127.x address or [::1], which it cannot say; it answers in plain text, not
the API's error shape; it refuses a WebSocket only with the denial-response
extension, which not every ASGI server has; and it redirects to `www.`
names. Hence this small middleware on the same idea.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from api.responses import OrjsonResponse, error_body
from api.settings_checks import is_loopback, split_host

POLICY_VIOLATION = 1008


class HostAllowList:
    """Which `Host` header values the server answers: every loopback name (any port),
    and the given names, `*.domain` patterns, or `*` for any."""

    def __init__(self, patterns: Iterable[str]) -> None:
        names = set(patterns)
        self.any = "*" in names
        self._exact = frozenset(name for name in names if not name.startswith("*."))
        self._suffixes = tuple(name[1:] for name in names if name.startswith("*."))

    def allows(self, header: str | None) -> bool:
        """Whether a request with this `Host` header may be served."""
        if self.any:
            return True
        if not header:
            return False
        host = split_host(header)
        if host is None:
            return False
        return (
            host in self._exact
            or is_loopback(host)
            or bool(self._suffixes and host.endswith(self._suffixes))
        )


def _host_header(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return str(value.decode("latin-1"))
    return None


class HostGuard:
    """Refuses HTTP requests (400) and WebSocket handshakes whose `Host` is not allowed."""

    def __init__(self, app: ASGIApp, allowed: HostAllowList) -> None:
        self.app = app
        self._allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or self._allowed.any:
            await self.app(scope, receive, send)
            return
        host = _host_header(scope)
        if self._allowed.allows(host):
            await self.app(scope, receive, send)
            return
        body = error_body(
            f"this server does not answer to the host name {(host or '')[:100]!r}: "
            "add it to ALLOWED_HOSTS if it is this service's own name"
        )
        if kind == "http":
            await OrjsonResponse(body, status_code=400)(scope, receive, send)
        else:
            await _refuse_handshake(scope, receive, send, orjson.dumps(body))


async def _refuse_handshake(scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
    """Answer the handshake with a 400 where the server can (the ASGI denial response
    extension), else close it before accepting (the server answers 403)."""
    if (await receive())["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
