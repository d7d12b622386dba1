"""The hottest reads answered ahead of the middleware stack, under the same rules.

A plain `GET /operators` or `/snapshot` (the wallboards' and dashboards' poll)
is answered from already encoded bytes (`api.rest.StoredBytes`), which is
about a third of what the request costs at a hundred operators: the rest is
the way through seventeen ASGI layers (FastAPI's error and telemetry
wrappers, the `Host` check, HEAD, the body guard, the WebSocket limits, the
method and query-string guards, CORS, metrics, the router). This layer sits
outside them all and answers such a request itself when none of them would
change the answer:

- GET only (HEAD goes through `api.head`), no query string, no body
  framing (`Content-Length` other than 0, `Transfer-Encoding`), no `Origin`
  (CORS' headers and the cross-origin checks stay with CORS);
- a `Host` the allow-list accepts (else `api.host_guard` refuses it);
- a caller the policy lets read, unscoped (a refusal, a scoped token, Redis
  down — anything raised — goes through the stack, which answers as always).

The answer is the same bytes and headers as the stack's (CORS adds
`Vary: Origin` to every answer; a test compares them), counted at /metrics
under the same route template.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from api.host_guard import HostAllowList
from api.rest import StoredBytes
from ingest.metrics import Metrics

_HEADERS = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
"""After `content-length`: RawJsonResponse's type, then what CORS adds without `Origin`."""


class _Hot:
    """One hot path: its bare route and its metrics (labels looked up once)."""

    def __init__(self, read: StoredBytes, metrics: Metrics) -> None:
        self.read = read
        template = read.route.path if read.route is not None else "unmatched"
        self.counted: Counter = metrics.http_requests.labels("GET", template, "200")
        self.timed: Histogram = metrics.http_latency.labels(template)


class HotReads:
    """ASGI: plain GETs of the stored-bytes routes answered here (see the module's doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        reads: Mapping[str, StoredBytes],
        hosts: HostAllowList,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self._hot = {path: _Hot(read, metrics) for path, read in reads.items()}
        self._hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self._hot.get(scope["path"]) if scope["type"] == "http" else None
        if hot is None or scope["method"] != "GET" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        host: bytes | None = None
        authorization: str | None = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name in (b"origin", b"transfer-encoding") or (
                name == b"content-length" and value.strip() != b"0"
            ):
                await self.app(scope, receive, send)
                return
        if not self._hosts.allows(None if host is None else host.decode("latin-1")):
            await self.app(scope, receive, send)
            return
        try:
            body = await hot.read.plain_body(scope, authorization)
        except Exception:  # refused, Redis down: the stack answers (and counts) it
            body = None
        if body is None:
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body)), *_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": body})
        hot.counted.inc()
        hot.timed.observe(time.perf_counter() - started)
