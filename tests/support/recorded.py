"""Recorded Asterisk messages as typed events, and the patches the reducer makes of them."""

from __future__ import annotations

from functools import cache
from typing import Any

from ingest.ami.events import AmiEvent
from ingest.ami.parser import parse
from ingest.patches import Patch
from ingest.reducer import reduce
from ingest.traces import load_jsonl


@cache
def trace_messages(name: str) -> list[dict[str, Any]]:
    """Every message of a recorded trace, in order."""
    return [dict(message) for _, message in load_jsonl(name)]


def recorded(trace: str, index: int) -> AmiEvent:
    """The typed event of one recorded message."""
    event = parse(trace_messages(trace)[index])
    assert event is not None
    return event


def patches(event: object, now: int) -> list[Patch]:
    """The reducer's patches of one event (every change must be a Patch)."""
    changes = reduce(event, now)
    assert all(isinstance(change, Patch) for change in changes)
    return [change for change in changes if isinstance(change, Patch)]
