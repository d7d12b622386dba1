"""The builder's open calls and intervals, kept in Redis across a restart of the service.

At a graceful stop the records tap saves `CallRecordBuilder.export_open` (and
when Asterisk last booted, to tell its restarts) as one JSON value under
``queue-status:records:open``; the next start loads it once and deletes it
(GETDEL). So a call that spans our restart still ends as one complete record.
Deleting on load matters: after a crash (nothing saved) an older saved state
must not come back, or calls long finished would be opened again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.records.model import IntervalKind
from ingest.records.state import OpenCall, OpenSnapshot, SavedInterval

__all__ = ["CarriedState", "load_open_state", "save_open_state"]

_VERSION = 1
_CALL_FIELDS = frozenset(f.name for f in fields(OpenCall))


@dataclass(slots=True)
class CarriedState:
    """What one run hands the next."""

    open: OpenSnapshot
    asterisk_booted_at: int | None = None
    """Epoch ms Asterisk booted at, from its last FullyBooted (None: not seen)."""


def _encode(state: CarriedState) -> bytes:
    snapshot = state.open
    return orjson.dumps(
        {
            "v": _VERSION,
            "bootedAt": state.asterisk_booted_at,
            "calls": [asdict(call) for call in snapshot.calls],
            "intervals": [
                [[i, q, kind.value, uid], started, name, reason]
                for (i, q, kind, uid), started, name, reason in snapshot.intervals
            ],
            "wrapup": [list(item) for item in snapshot.member_wrapup_s],
        }
    )


def _decode(raw: bytes | str) -> CarriedState:
    body: dict[str, Any] = orjson.loads(raw)
    if body.get("v") != _VERSION:
        raise ValueError("saved by another version")
    calls = [
        OpenCall(**{k: v for k, v in call.items() if k in _CALL_FIELDS}) for call in body["calls"]
    ]
    intervals: list[SavedInterval] = [
        ((str(i), str(q), IntervalKind(kind), str(uid)), int(started), name, reason)
        for (i, q, kind, uid), started, name, reason in body["intervals"]
    ]
    wrapup = [(str(i), str(q), int(s)) for i, q, s in body["wrapup"]]
    booted = body.get("bootedAt")
    return CarriedState(
        OpenSnapshot(calls, intervals, wrapup), int(booted) if booted is not None else None
    )


async def save_open_state(redis: Redis, key: str, state: CarriedState) -> None:
    """Keep `state` for the next run (raises RedisError)."""
    await redis.set(key, _encode(state))


async def load_open_state(redis: Redis, key: str) -> CarriedState | None:
    """The state the last run saved, taken out of Redis; None when there is none or it
    cannot be read (raises RedisError)."""
    raw = await redis.getdel(key)
    if raw is None:
        return None
    try:
        return _decode(raw)
    except (ValueError, KeyError, TypeError):
        return None
