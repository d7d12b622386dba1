"""A request is refused before its body costs memory: a size cap, and credentials first.

- `Content-Length` above MAX_BODY_BYTES: 413 at once, nothing kept.
- A body without a length (chunked): its bytes are counted as the app reads
  them; past the cap the read fails with 413.
- A body sent to a write route (or to /graphql while reads need a token):
  the access policy is asked first, from the headers alone, so an
  unauthenticated body is never buffered nor parsed (FastAPI reads and
  parses the whole body before any dependency runs).

A refused body is discarded, not kept: up to DRAIN_LIMIT bytes are read and
dropped before the answer, so the client, which is still sending, reads
its 413/401 on a connection that stays usable. A larger one is answered at
once with `Connection: close` (the server stops reading: a client still
sending may see a reset rather than the answer — uvicorn has no lingering
close). Requests without a body (every GET of the hot read path) pass
untouched.

Starlette's RequestBodyLimitMiddleware (and FastAPI's `max_body_size` on it)
counts bytes too, but it wraps every request, answers a too-long
`Content-Length` only once the app reads (FastAPI's dependencies, the
credential check among them, run after the body was read) and answers in
plain text rather than the API's error shape; the credential check before
the body has to live here anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import AccessPolicy, Action
from api.errors import ApiError
from api.responses import OrjsonResponse, error_body
from api.routing import every_route

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CLOSE = {"Connection": "close"}
DRAIN_LIMIT = 4 * 1024 * 1024
"""Bytes of a refused body read and dropped so its sender gets the answer; beyond: close."""


class BodyTooLarge(HTTPException):
    """A streamed body grew past the cap (raised from `receive`, answered as 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes", headers=_CLOSE)


@dataclass(frozen=True, slots=True)
class _Framing:
    """How the request's body travels (from its headers alone)."""

    length: int | None
    """Content-Length; -1 when it is not a number."""
    chunked: bool
    expects_continue: bool
    """`Expect: 100-continue`: the client waits for our answer before it sends the body."""

    @property
    def has_body(self) -> bool:
        return bool(self.length) or self.chunked


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class RequestGuard:
    """ASGI middleware: body size cap and credential check before the body is read."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, policy: AccessPolicy, graphql_path: str
    ) -> None:
        self.app = app
        self._max = max_body
        self._policy = policy
        self._graphql = graphql_path.rstrip("/")
        self._writes: list[WriteRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        framing = _framing(scope["headers"])
        if not framing.has_body:  # nothing to guard
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope, framing)
        if refusal is not None:
            await _refuse(scope, receive, send, refusal, framing)
        elif framing.chunked:
            await self._counted(scope, receive, send)
        else:  # the server holds a body to its Content-Length, which is within the cap
            await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, framing: _Framing) -> _Refusal | None:
        """Why this request is answered without its body reaching the app, if it is."""
        length = framing.length
        if length is not None and length < 0:
            return _Refusal(400, error_body("invalid Content-Length"), {})
        if length is not None and length > self._max:
            return _Refusal(413, error_body(f"request body larger than {self._max} bytes"), {})
        return self._credentials(scope)

    def _credentials(self, scope: Scope) -> _Refusal | None:
        """The refusal of credentials that cannot do what the route does."""
        path = scope["path"].rstrip("/")
        if path == self._graphql:
            # Every operation needs at least read access; a mutation is checked again
            # by its resolver. Refused as GraphQL refuses (200 and an error code).
            if not self._policy.reads_protected:
                return None
            try:
                self._policy.check(Action.READ, _authorization(scope))
            except ApiError as refusal:
                error = {"message": refusal.message, "extensions": {"code": refusal.graphql_code}}
                return _Refusal(200, {"data": None, "errors": [error]}, {})
            return None
        if scope["method"] in _SAFE_METHODS:
            return None
        found = self._write_route(scope)
        if found is None:
            return None
        write, route_scope = found
        try:
            self._policy.check(write.action, _authorization(scope))
        except ApiError as refusal:
            if write.on_refused is not None:
                # A supervisor action refused here is audited like one refused later.
                write.on_refused(route_scope, refusal.message)
            headers = {"WWW-Authenticate": "Bearer"} if refusal.status_code == 401 else {}
            return _Refusal(refusal.status_code, error_body(refusal.message), headers)
        return None

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max:
                    raise BodyTooLarge(self._max)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:
            # Read outside a route's exception handling (a bare ASGI app): answer here.
            if started:
                raise
            response = OrjsonResponse(error_body(str(exc.detail)), 413, headers=_CLOSE)
            await response(scope, receive, send)

    def _write_route(self, scope: Scope) -> tuple[WriteRoute, Scope] | None:
        """The write route this request reaches and the scope it would see (with its
        path parameters); None: not a write route."""
        if self._writes is None:
            self._writes = write_routes(scope["app"].routes)
        for write in self._writes:
            match, child = write.route.matches(scope)
            if match is Match.FULL:
                return write, {**scope, **child}
        return None


async def _refuse(
    scope: Scope, receive: Receive, send: Send, refusal: _Refusal, framing: _Framing
) -> None:
    """Answer `refusal`; the body is dropped unread by the app (see the module's doc)."""
    small = framing.length is not None and 0 <= framing.length <= DRAIN_LIMIT
    drained = False
    if not framing.expects_continue and (small or framing.chunked):
        drained = await _discard_body(receive, DRAIN_LIMIT)
    headers = refusal.headers if drained else {**refusal.headers, **_CLOSE}
    await OrjsonResponse(refusal.body, status_code=refusal.status, headers=headers)(
        scope, receive, send
    )


async def _discard_body(receive: Receive, limit: int) -> bool:
    """Read and drop the body; True once it all came within `limit` bytes."""
    dropped = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False  # the client went away
        dropped += len(message.get("body", b""))
        if dropped > limit:
            return False
        if not message.get("more_body", False):
            return True


@dataclass(frozen=True, slots=True)
class WriteRoute:
    """A route that writes, the action it needs, and who hears of a refusal there."""

    route: BaseRoute
    action: Action
    on_refused: Callable[[Scope, str], None] | None = None


def write_routes(routes: Sequence[Any]) -> list[WriteRoute]:
    """Every route with a policy dependency (`api.rest.require`) and a method that writes."""
    found: list[WriteRoute] = []
    for route in every_route(routes):
        if not isinstance(route, APIRoute) or not (route.methods or set()) - _SAFE_METHODS:
            continue
        for dependency in route.dependant.dependencies:
            action = getattr(dependency.call, "action", None)
            if isinstance(action, Action):
                found.append(
                    WriteRoute(route, action, getattr(dependency.call, "on_refused", None))
                )
    return found


def _framing(headers: Sequence[tuple[bytes, bytes]]) -> _Framing:
    length: int | None = None
    chunked = False
    expects_continue = False
    for name, value in headers:
        if name == b"content-length":
            length = int(value) if value.strip().isdigit() else -1
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"expect":
            expects_continue = value.strip().lower() == b"100-continue"
    return _Framing(length, chunked, expects_continue)


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None
