"""Pure ASGI middlewares (BaseHTTPMiddleware costs too much per request): request metrics,
and the guards against cross-origin writes and repeated query parameters."""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import OrjsonResponse, error_body
from ingest.metrics import Metrics


class MetricsMiddleware:
    """Counts requests and observes latency per route template (not per raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = route.path if isinstance(route, Route) else "unmatched"
            if not template:
                # A router's own "" route included under a prefix (Strawberry's /graphql):
                # the request's path is that prefix, not a free-form one.
                template = str(scope.get("path") or "unmatched")
            self.metrics.http_requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.http_latency.labels(template).observe(time.perf_counter() - started)


# Methods that change nothing: a cross-origin page may send them (CORS decides what it reads).
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CrossOriginWriteGuard:
    """Refuses (403) a write whose `Origin` is neither ours nor in CORS_ORIGINS.

    CORS only stops a browser from *reading* an answer: a form or a `fetch` with a
    text body from any web page is sent without a preflight, and on loopback
    without tokens every write is open — any page a supervisor visits could
    clear the wallboard. Browsers always send `Origin` with such a request; other
    clients (curl, services) send none and are not affected.
    """

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self.app = app
        self._allowed = frozenset(origin.rstrip("/") for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and not self._may_write(origin, scope, headers):
                response = OrjsonResponse(
                    error_body(f"writes from the web origin {origin[:100]!r} are not allowed"),
                    status_code=403,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _may_write(self, origin: str, scope: Scope, headers: Headers) -> bool:
        origin = origin.rstrip("/")
        if "*" in self._allowed or origin in self._allowed:
            return True
        # The same origin: a page this server served (the wallboard).
        host = headers.get("host")
        return host is not None and origin == f"{scope.get('scheme', 'http')}://{host}"


class RepeatedQueryGuard:
    """Refuses (400) a REST request that gives one query parameter twice.

    `?queue=a&queue=b` would silently mean the last one (parameter pollution:
    a proxy or a cache may read the first); every parameter here is single.
    """

    def __init__(self, app: ASGIApp, path_prefix: str) -> None:
        self.app = app
        self._prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self._prefix):
            names = [
                name
                for name, _ in parse_qsl(
                    scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
                )
            ]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                response = OrjsonResponse(
                    error_body(f"query parameter {repeated[0][:40]!r} given more than once"),
                    status_code=400,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
