"""The live-state store: Redis, written only through atomic Lua patches.

Writes: `apply()` merges a batch of patches in one EVALSHA — each changed
entity gets the next global `version` and `updatedAt`, and the batch's changes
are published on the changes channel in the same atomic step.
Reads: whole collections come back in one round trip (SMEMBERS + MGET inside
one script), together with the version they are at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from ingest.keys import KINDS, KeySchema, Kind
from ingest.patches import Change, JsonObject


def now_ms() -> int:
    """Wall-clock time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def _script(name: str) -> str:
    return resources.files("ingest.lua").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every entity, consistent at one `version`."""

    version: int
    operators: list[JsonObject]
    queues: list[JsonObject]
    channels: list[JsonObject]


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One applied change as published: `op` is upsert, delete or clear."""

    version: int
    kind: str
    op: str
    id: str
    data: JsonObject | None

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> ChangeRecord:
        """Build from one element of a published change batch."""
        data = item.get("data")
        return cls(
            version=int(item["version"]),
            kind=str(item["kind"]),
            op=str(item["op"]),
            id=str(item["id"]),
            data=data if isinstance(data, dict) else None,
        )


def decode_changes(payload: bytes | str) -> list[ChangeRecord]:
    """Decode one message of the changes channel."""
    items = orjson.loads(payload)
    return [ChangeRecord.from_json(item) for item in items]


class StateStore:
    """Live operators, queues and channels in Redis."""

    def __init__(
        self,
        redis: Redis,
        keys: KeySchema | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.redis = redis
        self.keys = keys or KeySchema()
        self._clock = clock
        self._apply: AsyncScript = redis.register_script(_script("apply.lua"))
        self._read: AsyncScript = redis.register_script(_script("read.lua"))
        self._clear: AsyncScript = redis.register_script(_script("clear.lua"))

    async def apply(
        self,
        changes: Sequence[Change],
        *,
        now: int | None = None,
        return_changes: bool = False,
    ) -> list[ChangeRecord]:
        """Apply patches atomically; return the changes when asked (else `[]`).

        A patch that changes nothing bumps no version and publishes nothing.
        """
        if not changes:
            return []
        payload = orjson.dumps([change.to_wire() for change in changes])
        stamp = self._clock() if now is None else now
        args: list[str | bytes | int] = [
            self.keys.prefix,
            stamp,
            payload,
            "1" if return_changes else "0",
        ]
        reply = await self._apply(keys=[], args=args)
        if not return_changes:
            return []
        return decode_changes(cast(bytes, reply))

    async def get(self, kind: Kind, entity_id: str) -> JsonObject | None:
        """One entity, or None."""
        raw = await self.redis.get(self.keys.entity(kind, entity_id))
        return None if raw is None else cast(JsonObject, orjson.loads(raw))

    async def get_many(self, kind: Kind, ids: Sequence[str]) -> list[JsonObject | None]:
        """Several entities of one kind in one MGET, in the order asked."""
        if not ids:
            return []
        raws = await self.redis.mget([self.keys.entity(kind, i) for i in ids])
        return [None if raw is None else orjson.loads(raw) for raw in raws]

    async def all(self, kind: Kind) -> list[JsonObject]:
        """Every entity of one kind, sorted by id."""
        _, collections = await self._read_kinds((kind,))
        return collections[kind]

    async def snapshot(self) -> Snapshot:
        """Everything at one version."""
        version, collections = await self._read_kinds(KINDS)
        return Snapshot(
            version=version,
            operators=collections["operator"],
            queues=collections["queue"],
            channels=collections["channel"],
        )

    async def ids(self, kind: Kind) -> set[str]:
        """The ids of one kind (its index set)."""
        members = await self.redis.smembers(self.keys.index(kind))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    async def counts(self) -> dict[Kind, int]:
        """How many entities of each kind, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind in KINDS:
                pipe.scard(self.keys.index(kind))
            replies = await pipe.execute()
        return {kind: int(n) for kind, n in zip(KINDS, replies, strict=True)}

    async def version(self) -> int:
        """The global change counter."""
        raw = await self.redis.get(self.keys.version)
        return int(raw or 0)

    async def clear(self) -> dict[Kind, int]:
        """Remove our keys (never anything else); report what was removed per kind."""
        reply = await self._clear(keys=[], args=[self.keys.prefix])
        return {kind: int(n) for kind, n in zip(KINDS, cast(list[Any], reply), strict=True)}

    async def ping(self) -> bool:
        """True when Redis answers."""
        return bool(await self.redis.ping())

    async def _read_kinds(self, kinds: Iterable[Kind]) -> tuple[int, dict[Kind, list[JsonObject]]]:
        wanted = list(kinds)
        reply = cast(list[Any], await self._read(keys=[], args=[self.keys.prefix, *wanted]))
        version = int(reply[0])
        collections: dict[Kind, list[JsonObject]] = {}
        at = 1
        for kind in wanted:
            count = int(reply[at])
            values = reply[at + 1 : at + 1 + count]
            at += 1 + count
            entities = [orjson.loads(value) for value in values]
            entities.sort(key=lambda entity: str(entity.get(_ID_FIELD[kind], "")))
            collections[kind] = entities
        return version, collections


_ID_FIELD: dict[Kind, str] = {"operator": "memberId", "queue": "name", "channel": "name"}
