"""The durable buffer between the live records and PostgreSQL: a capped Redis stream.

Completed records (`ingest.records.codec`) are appended by one Lua script
(``records_append.lua``) that enforces the cap (RECORDS_BUFFER_MAX) in the
same atomic step: what does not fit is not added and is counted in the
overflow counter, which `/healthz` and `/metrics` show. The drainer reads the
oldest entries in order (`oldest`), saves them and then deletes them
(`delete`): an entry leaves the stream only once PostgreSQL has it, so a
database outage of minutes, or a crash between save and delete, loses
nothing (the save is an idempotent upsert, so nothing is counted twice).

Keys (under the store's prefix, `ingest.keys.KeySchema.records`):
``queue-status:records:buffer`` (STREAM, one entry per record, field ``r``)
and ``queue-status:records:overflow`` (integer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from ingest.keys import KeySchema
from ingest.records.codec import RecordDecodeError, decode_record, encode_record
from ingest.records.model import Record

__all__ = ["DEFAULT_BUFFER_MAX", "AppendResult", "BufferedBatch", "RecordBuffer"]

DEFAULT_BUFFER_MAX = 1_000_000
"""Entries the stream may hold (RECORDS_BUFFER_MAX): days of a large centre's records."""

_APPEND_CHUNK = 1000
"""Records per script call: a long batch never holds Redis for long."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one append did."""

    added: int
    overflowed: int


@dataclass(frozen=True, slots=True)
class BufferedBatch:
    """The oldest entries of the stream: their ids, the records, and ids that did not decode."""

    ids: list[bytes]
    records: list[Record]
    undecodable: list[bytes]


class RecordBuffer:
    """Append, read in order and delete the buffered records of one key prefix."""

    def __init__(self, redis: Redis, keys: KeySchema, *, cap: int = DEFAULT_BUFFER_MAX) -> None:
        if cap < 1:
            raise ValueError("the buffer cap must be positive")
        self.redis = redis
        self.cap = cap
        self.stream = keys.records("buffer")
        self.overflow_key = keys.records("overflow")
        script = resources.files("ingest.lua").joinpath("records_append.lua").read_text("utf-8")
        self._append: AsyncScript = redis.register_script(script)

    async def append(self, records: Sequence[Record]) -> AppendResult:
        """Add `records` in order, as many as the cap allows; the rest counted as overflow."""
        added = overflowed = 0
        for start in range(0, len(records), _APPEND_CHUNK):
            chunk = [encode_record(record) for record in records[start : start + _APPEND_CHUNK]]
            reply = cast(
                list[int],
                await self._append(keys=[self.stream, self.overflow_key], args=[self.cap, *chunk]),
            )
            added += int(reply[0])
            overflowed += int(reply[1])
        return AppendResult(added, overflowed)

    async def oldest(self, count: int) -> BufferedBatch:
        """Up to `count` of the oldest entries, in the order they were added."""
        entries = cast(
            list[tuple[bytes, dict[bytes, bytes]]],
            await self.redis.xrange(self.stream, "-", "+", count=count),
        )
        ids: list[bytes] = []
        records: list[Record] = []
        undecodable: list[bytes] = []
        for entry_id, entry in entries:
            try:
                records.append(decode_record(entry[b"r"]))
                ids.append(entry_id)
            except (KeyError, RecordDecodeError):
                undecodable.append(entry_id)
        return BufferedBatch(ids, records, undecodable)

    async def delete(self, ids: Sequence[bytes]) -> int:
        """Remove entries (saved, or set aside); how many were there."""
        if not ids:
            return 0
        return int(await self.redis.xdel(self.stream, *ids))

    async def length(self) -> int:
        """Entries waiting for PostgreSQL."""
        return int(await self.redis.xlen(self.stream))

    async def overflow(self) -> int:
        """Records the cap refused since the counter was created."""
        return int(await self.redis.get(self.overflow_key) or 0)
