"""Walking an app's routes, included routers flattened (for the guards and the 405 answer)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from api.responses import OrjsonResponse, error_body

_PARAMETER = re.compile(r"\{[^}]*\}")
# The last segments of the supervisor actions' paths (`api.rest_actions`): a path
# parameter of type `path` before them would also match the neighbouring routes.
_ACTION_TAILS = ("/pause", "/unpause", "/listen", "/penalty", "/members")


def every_route(routes: Sequence[Any]) -> Iterator[Any]:
    """Each route, with those of included routers in place of the router itself."""
    pending = list(routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
            continue
        yield route


def allowed_methods(routes: Sequence[Any], scope: Scope) -> set[str]:
    """Every method the routes of this path accept (included routers too).

    Of the templates that match, the most specific names the path: for
    `/operators/PJSIP%2F1001/pause` that is `/operators/{member_id}/pause`
    (POST), not `/operators/{member_id:path}` (GET), as the OpenAPI document says.
    """
    by_literal: dict[int, set[str]] = {}
    for route in every_route(routes):
        if isinstance(route, BaseRoute) and getattr(route, "methods", None):
            match, _ = route.matches({**scope, "method": "GET"})
            if match is not Match.NONE:
                literal = len(_PARAMETER.sub("", getattr(route, "path", "")))
                by_literal.setdefault(literal, set()).update(getattr(route, "methods", ()))
    return by_literal[max(by_literal)] if by_literal else set()


class ActionPathMethods:
    """ASGI middleware: a request to an action's path with a method it does not have is
    answered 405 (with `Allow`) instead of reaching a `{…:path}` route it also matches
    (GET `/operators/{member_id:path}` would read `PJSIP/1001/pause` as an operator id).
    Other paths pass untouched, at the cost of one string test."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.endswith(_ACTION_TAILS) or "/members/" in path:
            methods = allowed_methods(scope["app"].routes, scope)
            method = "GET" if scope["method"] == "HEAD" else scope["method"]
            if methods and method not in methods and method != "OPTIONS":
                response = OrjsonResponse(
                    error_body("Method Not Allowed"),
                    status_code=405,
                    headers={"Allow": ", ".join(sorted(methods))},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
