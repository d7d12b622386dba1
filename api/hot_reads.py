"""The hottest reads answered ahead of the middleware stack, under the same rules.

A plain `GET /operators` or `/snapshot` (the wallboards' and dashboards' poll)
is answered from already encoded bytes (`api.rest.StoredBytes`), and a
GraphQL query whose answer is kept (`api.graphql.answer_route`) from those
bytes: what such a request costs is then mostly the way through seventeen
ASGI layers (FastAPI's error and telemetry wrappers, the `Host` check, HEAD,
the body guard, the WebSocket limits, the method and query-string guards,
CORS, metrics, the router). This layer sits outside them all and answers
such a request itself when none of them would change the answer:

- REST: GET only (HEAD goes through `api.head`), no query string, no body
  framing (`Content-Length` other than 0, `Transfer-Encoding`);
  GraphQL: a POST with a `Content-Length` within MAX_BODY_BYTES (chunked
  bodies and `Expect` go through the body guard), and while reads need a
  token, the policy's yes *before* the body is read, as `api.request_guard`;
- no `Origin` (CORS' headers and the cross-origin write guard stay with
  them; browsers send `Origin` on every POST, so theirs take the stack);
- a `Host` the allow-list accepts (else `api.host_guard` refuses it);
- a caller the policy lets read, unscoped for REST (a refusal, a scoped REST
  token, Redis down, a GraphQL answer not kept — anything else — goes
  through the stack, which answers as always; a GraphQL body already read
  is handed on as it came).

The answer is the same bytes and headers as the stack's (CORS adds
`Vary: Origin` to every answer; tests compare them), counted at /metrics
under the same route template. OpenTelemetry spans (FastAPI's telemetry
layer) are not made for these requests.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import Action
from api.graphql.answer_route import CachedAnswers, read_body, replaying
from api.host_guard import HostAllowList
from api.rest import StoredBytes
from api.runtime import runtime_of
from ingest.metrics import Metrics

_VARY = (b"vary", b"Origin")
"""What CORS adds to every answer of a request without `Origin`."""


@dataclass(frozen=True, slots=True)
class _Request:
    """What the layer needs of a request's headers (one pass over them)."""

    host: str | None
    authorization: str | None
    length: int | None
    plain: bool
    """No `Origin`, `Transfer-Encoding` nor `Expect`: nothing CORS, the cross-origin
    guard or the body guard would act on."""


def _request(headers: list[tuple[bytes, bytes]]) -> _Request:
    host = authorization = None
    length: int | None = None
    plain = True
    for name, value in headers:
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-length":
            length = int(value) if value.strip().isdigit() else -1
        elif name in (b"origin", b"transfer-encoding", b"expect"):
            plain = False
    return _Request(host, authorization, length, plain)


class _Counted:
    """A route's request counter and latency histogram (labels looked up once)."""

    def __init__(self, metrics: Metrics, method: str, template: str) -> None:
        self._counted: Counter = metrics.http_requests.labels(method, template, "200")
        self._timed: Histogram = metrics.http_latency.labels(template)

    def add(self, started: float) -> None:
        self._counted.inc()
        self._timed.observe(time.perf_counter() - started)


class HotReads:
    """ASGI: plain REST reads and kept GraphQL answers served here (see the module's doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        reads: Mapping[str, StoredBytes],
        answers: CachedAnswers | None,
        graphql_path: str,
        hosts: HostAllowList,
        max_body: int,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self._reads = {
            path: (read, _Counted(metrics, "GET", read.route.path if read.route else path))
            for path, read in reads.items()
        }
        self._answers = answers
        self._graphql = graphql_path
        self._graphql_counted = _Counted(metrics, "POST", graphql_path)
        self._hosts = hosts
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["query_string"]:
            path, method = scope["path"], scope["method"]
            if method == "GET" and path in self._reads:
                await self._rest(scope, receive, send)
                return
            if method == "POST" and path == self._graphql and self._answers is not None:
                await self._graphql_answer(self._answers, scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _allowed(self, request: _Request) -> bool:
        return request.plain and self._hosts.allows(request.host)

    async def _rest(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = _request(scope["headers"])
        read, counted = self._reads[scope["path"]]
        body = None
        if self._allowed(request) and not request.length:
            try:
                body = await read.plain_body(scope, request.authorization)
            except Exception:  # refused, Redis down: the stack answers (and counts) it
                body = None
        if body is None:
            await self.app(scope, receive, send)
            return
        await _send(
            send,
            200,
            [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")],
            body,
        )
        counted.add(started)

    async def _graphql_answer(
        self, answers: CachedAnswers, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        request = _request(scope["headers"])
        length = request.length
        if not self._allowed(request) or length is None or not 0 < length <= self._max_body:
            await self.app(scope, receive, send)
            return
        policy = runtime_of(scope["app"]).policy
        if policy.reads_protected:
            try:  # before the body, as the body guard does
                policy.check(Action.READ, request.authorization)
            except Exception:
                await self.app(scope, receive, send)
                return
        body, complete = await read_body(receive)
        if not complete:
            return  # the client went away while sending
        answer = await answers.lookup(scope, body)
        if answer is None:
            await self.app(scope, replaying(body, receive), send)
            return
        await _send(send, answer.status, list(answer.headers), answer.body)
        self._graphql_counted.add(started)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append(_VARY)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
