"""The dispatch table of the reducer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ingest.patches import Change

E = TypeVar("E")
Handler = Callable[[Any, int], list[Change]]

_HANDLERS: dict[type[Any], Handler] = {}


def register(event_type: type[E]) -> Callable[[Callable[[E, int], list[Change]]], Handler]:
    """Decorator: make `handler(event, now)` the reducer of `event_type`."""

    def wrap(handler: Callable[[E, int], list[Change]]) -> Handler:
        _HANDLERS[event_type] = handler
        return handler

    return wrap


def reduce(event: object, now: int) -> list[Change]:
    """The patches one event implies (empty for events we do not track)."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return []
    return handler(event, now)
