"""Walking an app's routes, included routers flattened (for the guards and the 405 answer)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


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
