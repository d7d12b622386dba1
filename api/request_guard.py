"""A request is refused before its body costs memory: a size cap, and credentials first.

- `Content-Length` above MAX_BODY_BYTES: 413 at once, nothing read.
- A body without a length (chunked): its bytes are counted as the app reads
  them; past the cap the read fails with 413.
- A body sent to a write route (or to /graphql while reads need a token):
  the access policy is asked first, from the headers alone, so an
  unauthenticated client never gets its body read (FastAPI reads and parses
  the whole body before any dependency runs).

Requests without a body (every GET of the hot read path) pass untouched.
Refusals carry `Connection: close`: the server then drops what is still
coming instead of reading it to the end.

Starlette's RequestBodyLimitMiddleware (and FastAPI's `max_body_size` on it)
counts bytes too, but it wraps every request, answers a too-long
`Content-Length` only once the app reads (FastAPI's dependencies, the
credential check among them, run after the body was read) and answers in
plain text rather than the API's error shape; the credential check before
the body has to live here anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import AccessPolicy, Action
from api.errors import ApiError
from api.responses import OrjsonResponse, error_body

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """A streamed body grew past the cap (raised from `receive`, answered as 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes", headers=_CLOSE)


class RequestGuard:
    """ASGI middleware: body size cap and credential check before the body is read."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, policy: AccessPolicy, graphql_path: str
    ) -> None:
        self.app = app
        self._max = max_body
        self._policy = policy
        self._graphql = graphql_path.rstrip("/")
        self._writes: list[tuple[BaseRoute, Action]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = _framing(scope["headers"])
        if not length and not chunked:  # no body: nothing to guard
            await self.app(scope, receive, send)
            return
        if length is not None and length < 0:
            await _answer(scope, receive, send, 400, "invalid Content-Length")
            return
        if length is not None and length > self._max:
            await _answer(scope, receive, send, 413, f"request body larger than {self._max} bytes")
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if not chunked:  # the server holds a body to its Content-Length
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

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
            await _answer(scope, receive, send, 413, str(exc.detail))

    def _refusal(self, scope: Scope) -> OrjsonResponse | None:
        """The answer to a request whose credentials cannot do what its route does."""
        path = scope["path"].rstrip("/")
        if path == self._graphql:
            # Every operation needs at least read access; a mutation is checked again
            # by its resolver. Refused as GraphQL refuses (200 and an error code).
            return self._graphql_refusal(scope) if self._policy.reads_protected else None
        if scope["method"] in _SAFE_METHODS:
            return None
        action = self._action(scope)
        if action is None:
            return None
        try:
            self._policy.check(action, _authorization(scope))
        except ApiError as refusal:
            headers = dict(_CLOSE)
            if refusal.status_code == 401:
                headers["WWW-Authenticate"] = "Bearer"
            return OrjsonResponse(
                error_body(refusal.message), status_code=refusal.status_code, headers=headers
            )
        return None

    def _graphql_refusal(self, scope: Scope) -> OrjsonResponse | None:
        try:
            self._policy.check(Action.READ, _authorization(scope))
        except ApiError as refusal:
            error = {"message": refusal.message, "extensions": {"code": refusal.graphql_code}}
            return OrjsonResponse({"data": None, "errors": [error]}, headers=_CLOSE)
        return None

    def _action(self, scope: Scope) -> Action | None:
        """The action of the write route this request reaches (None: not a write route)."""
        if self._writes is None:
            self._writes = write_routes(scope["app"].routes)
        for route, action in self._writes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return action
        return None


def write_routes(routes: Sequence[Any]) -> list[tuple[BaseRoute, Action]]:
    """Every route with a policy dependency (`api.rest.require`) and a method that writes."""
    found: list[tuple[BaseRoute, Action]] = []
    pending = list(routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
            continue
        if not isinstance(route, APIRoute) or not (route.methods or set()) - _SAFE_METHODS:
            continue
        for dependency in route.dependant.dependencies:
            action = getattr(dependency.call, "action", None)
            if isinstance(action, Action):
                found.append((route, action))
    return found


def _framing(headers: Sequence[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """(Content-Length or None; -1 when unreadable, whether the body is chunked)."""
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            length = int(value) if value.strip().isdigit() else -1
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return length, chunked


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    await OrjsonResponse(error_body(message), status_code=status, headers=_CLOSE)(
        scope, receive, send
    )
