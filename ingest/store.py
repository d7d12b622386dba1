"""The live-state store: Redis, written only through atomic Lua patches.

Writes: `apply()` merges a batch of patches in one EVALSHA — each changed
entity gets the next global `version` and `updatedAt`, and the batch's changes
are published on the changes channel in the same atomic step.
Reads: whole collections come back in one round trip, together with the
version they are at. `SORT <index> BY nosort GET # GET <entity pattern>` reads
a collection's ids and values in C inside Redis (a Lua script that touches
every value costs Redis a few ms per thousand entities: each becomes a Lua
string); several collections and the version are read in one MULTI/EXEC.
The values are joined into one JSON array as stored (`RawCollection`), so a
caller that only forwards them (REST) never parses and re-encodes them.

In a Redis Cluster (`ingest.redis_client`) every key shares the prefix's hash
tag, so each script declares the keys it uses in KEYS (the fixed ones and the
entities its patches name; ids it finds in an index set are in the same slot)
and runs on that slot's node; batches go out with SPUBLISH
(`ingest.changes_channel`). SORT's GET patterns are refused in a cluster, so
the collections are read by the Lua read there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from operator import itemgetter
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from ingest.changes_channel import publish_command
from ingest.clock import now_ms
from ingest.keys import KINDS, KeySchema, Kind
from ingest.patches import Change, JsonObject, Patch
from ingest.redis_client import as_cluster

CLEAR_BATCH = 500
"""Entities of each kind one step of `clear` deletes (one short script call)."""


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
class RawCollection:
    """Every entity of one kind as stored (JSON bytes), sorted by id.

    `json()` and `wrapped()` join them into exactly the bytes `orjson.dumps`
    gives for the parsed entities (see `encode_array`), so they can be sent as
    they are.
    """

    values: list[bytes]

    @property
    def count(self) -> int:
        """How many entities."""
        return len(self.values)

    def json(self) -> bytes:
        """The JSON array."""
        return encode_array(self.values)

    def wrapped(self, head: bytes, tail: bytes) -> bytes:
        """`head` + the JSON array + `tail`, built in one copy."""
        return encode_array(self.values, head, tail)

    def entities(self) -> list[JsonObject]:
        """The parsed entities."""
        entities: list[JsonObject] = orjson.loads(self.json())
        return entities


@dataclass(frozen=True, slots=True)
class RawSnapshot:
    """Every collection at one `version`, as `RawCollection`s."""

    version: int
    operators: RawCollection
    queues: RawCollection
    channels: RawCollection

    def parsed(self) -> Snapshot:
        """The same snapshot with parsed entities."""
        return Snapshot(
            version=self.version,
            operators=self.operators.entities(),
            queues=self.queues.entities(),
            channels=self.channels.entities(),
        )


# A large number in exponent form as Lua's cjson prints it ("%.14g": 1.5e+20).
_EXPONENT = re.compile(rb"[0-9]e\+[0-9]")


def encode_array(values: Sequence[bytes], head: bytes = b"", tail: bytes = b"") -> bytes:
    """Stored JSON values as one array between `head` and `tail` (our own ASCII JSON
    text without escapes), as orjson would encode the parsed values.

    The store's values are written by Lua's cjson (apply.lua): compact, keys
    in a fixed order, escapes only for quotes, backslashes, control
    characters and (in values written before apply.lua stopped it) slashes.
    orjson keeps the key order it parsed and writes the same compact form, so
    the join is orjson's encoding already once escaped slashes are undone,
    unless a value holds another escape, invalid UTF-8, a number of 1e14 or
    more (cjson: 1.5e+20, orjson: 1.5e20) or is not an object (a hand edit):
    then, and only then, the array is parsed and encoded again (what is not
    JSON fails there, as it would have without this shortcut). The checks are
    single-byte scans (memchr) and the array is built in one copy, so the
    shortcut stays cheap. Not checked, because nothing here writes them:
    numbers below 1e-4 and negative zero, which would keep cjson's spelling
    of the same value (1e-05, -0), and a hand-written value that looks like an
    object (`{…}`) but is not JSON, which would be forwarded as it is.
    """
    if not values:
        return head + b"[]" + tail
    parts = list(values)
    parts[0] = head + b"[" + parts[0]
    parts[-1] = parts[-1] + b"]" + tail
    blob = b",".join(parts)
    if not _all_objects(values):
        return _reencoded(values, head, tail)
    if b"\\" in blob:
        if blob.count(b"\\") != blob.count(b"\\/"):
            return _reencoded(values, head, tail)
        # Every backslash starts an escaped slash: none is part of another escape.
        blob = blob.replace(b"\\/", b"/")
    if not blob.isascii():
        try:
            blob.decode()
        except UnicodeDecodeError:
            return _reencoded(values, head, tail)
    if b"+" in blob and _EXPONENT.search(blob):
        return _reencoded(values, head, tail)
    return blob


_FIRST, _LAST = itemgetter(0), itemgetter(-1)
_OPEN, _CLOSE = ord("{"), ord("}")


def _all_objects(values: Sequence[bytes]) -> bool:
    """Whether every value starts with "{" and ends with "}" (iterated in C)."""
    try:
        return set(map(_FIRST, values)) <= {_OPEN} and set(map(_LAST, values)) <= {_CLOSE}
    except IndexError:  # an empty value
        return False


def _reencoded(values: Sequence[bytes], head: bytes, tail: bytes) -> bytes:
    array = b"[" + b",".join(values) + b"]"
    return head + orjson.dumps(orjson.loads(array)) + tail


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


class StaleEpoch(Exception):
    """The store refused an ingest write: a newer leader took the PBX (a higher epoch).

    Not a `RedisError`, so no retry loop swallows it: the writer is deposed and must
    stop consuming AMI at once (see `ingest.election`).
    """


_STALE_EPOCH = "STALE_EPOCH"
"""How apply.lua's refusal starts (its error reply)."""


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
        self._orders: dict[Kind, _Order] = {}
        self._cluster = as_cluster(redis) is not None
        self._publish = publish_command(redis)

    async def apply(
        self,
        changes: Sequence[Change],
        *,
        now: int | None = None,
        return_changes: bool = False,
        writer: tuple[str, int] | None = None,
        epoch: int | None = None,
    ) -> list[ChangeRecord]:
        """Apply patches atomically; return the changes when asked (else `[]`).

        A patch that changes nothing bumps no version and publishes nothing.
        `writer` (an id and this batch's number among its batches, increasing)
        makes a batch sent again after a timeout apply once: the copy that timed
        out may still run when Redis resumes. `epoch` (the elected ingest's
        fencing token) makes Redis refuse the batch when a newer leader exists:
        raises `StaleEpoch`, nothing applied. Without it the write is not fenced.
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
        if writer is not None or epoch is not None or self._cluster:
            args += [writer[0], writer[1]] if writer is not None else ["", 0]
        if epoch is not None or self._cluster:
            args.append("" if epoch is None else epoch)
        if self._cluster:
            args.append(self._publish)
        try:
            reply = await self._apply(keys=self._apply_keys(changes, writer), args=args)
        except ResponseError as exc:
            if str(exc).startswith(_STALE_EPOCH):
                raise StaleEpoch(str(exc)) from None
            raise
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
        return (await self.raw(kind)).entities()

    async def snapshot(self) -> Snapshot:
        """Everything at one version."""
        return (await self.raw_snapshot()).parsed()

    async def raw(self, kind: Kind) -> RawCollection:
        """Every entity of one kind as one JSON array, sorted by id (one round trip)."""
        if not self._sortable:
            _, collections = await self._read_kinds((kind,))
            return collections[kind]
        reply = await self.redis.sort(self.keys.index(kind), by="nosort", get=self._get(kind))
        return self._in_id_order(kind, cast(list[bytes | None], reply))

    async def raw_snapshot(self) -> RawSnapshot:
        """Every collection and the version, consistent, in one round trip."""
        if not self._sortable:
            version, collections = await self._read_kinds(KINDS)
            return RawSnapshot(
                version, collections["operator"], collections["queue"], collections["channel"]
            )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.version)
            for kind in KINDS:
                pipe.sort(self.keys.index(kind), by="nosort", get=self._get(kind))
            version, *replies = await pipe.execute()
        operators, queues, channels = (
            self._in_id_order(kind, reply) for kind, reply in zip(KINDS, replies, strict=True)
        )
        return RawSnapshot(int(version or 0), operators, queues, channels)

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

    async def clear(self, batch: int = CLEAR_BATCH) -> dict[Kind, int]:
        """Remove our entities and index sets (never anything else); report what was
        removed per kind.

        Only the keys our index sets name are deleted, `batch` ids per kind per
        script call, so Redis is never blocked for longer than one small step
        (a SCAN of the keyspace is O(database) and a pattern built from the
        prefix could match another tenant's keys). Steps repeat until the sets
        are empty; the last one publishes the clear. Entities written meanwhile
        are in the sets, so they are removed by a later step.
        """
        totals = dict.fromkeys(KINDS, 0)
        while True:
            reply = cast(
                list[Any],
                await self._clear(
                    keys=self._fixed_keys(), args=[self.keys.prefix, batch, self._publish]
                ),
            )
            for kind, removed in zip(KINDS, reply[:3], strict=True):
                totals[kind] += int(removed)
            if int(reply[3]) == 0:
                return totals

    async def ping(self) -> bool:
        """True when Redis answers (in a cluster, the node serving our slot)."""
        cluster = as_cluster(self.redis)
        if cluster is None:
            return bool(await self.redis.ping())
        await cluster.initialize()
        node = cluster.get_node_from_key(self.keys.version)
        return bool(await cluster.ping(target_nodes=node))

    async def server_info(self) -> dict[str, Any]:
        """INFO server of the Redis holding the live state (in a cluster, our slot's master)."""
        cluster = as_cluster(self.redis)
        if cluster is None:
            return await self.redis.info("server")
        await cluster.initialize()
        node = cluster.get_node_from_key(self.keys.version)
        return await cluster.info("server", target_nodes=node)

    @property
    def _sortable(self) -> bool:
        # SORT's GET pattern takes the first "*" for the id: the prefix must have none.
        # A cluster refuses GET patterns whatever they are.
        return "*" not in self.keys.prefix and not self._cluster

    def _fixed_keys(self) -> list[str]:
        """The keys the scripts touch whatever the patches: version, index sets, staged."""
        return [
            self.keys.version,
            *(self.keys.index(kind) for kind in KINDS),
            self.keys.staged("operator"),
        ]

    def _apply_keys(self, changes: Sequence[Change], writer: tuple[str, int] | None) -> list[str]:
        """apply.lua's KEYS: the fixed keys, the epoch, the writer's mark and every entity a
        patch or its guard names (in a cluster they prove the call touches one slot before
        it runs). Queues read for their wrap-up time and ids taken from an index set by a
        `retain` are found inside; they share the prefix, so the slot too."""
        keys = dict.fromkeys(self._fixed_keys())
        keys[self.keys.ingest("epoch")] = None
        if writer is not None:
            keys[self.keys.writer(writer[0])] = None
        for change in changes:
            if isinstance(change, Patch):
                keys[self.keys.entity(change.kind, change.id)] = None
                if change.only_if is not None:
                    keys[self.keys.entity(change.only_if.kind, change.only_if.id)] = None
        return list(keys)

    def _get(self, kind: Kind) -> list[str]:
        """SORT's GET patterns: each id, then its entity's value."""
        return ["#", self.keys.entity_prefix(kind) + "*"]

    def _in_id_order(self, kind: Kind, reply: Sequence[bytes | None]) -> RawCollection:
        """A `SORT … BY nosort GET # GET <pattern>` reply ([id, value, …] in the index
        set's own order) as a collection sorted by id.

        SORT BY nosort returns a set in its hash table's order, the same order
        while the set is unchanged: the permutation into id order is kept from
        the previous read and reused while the ids come back alike, so an index
        that changes seldom (operators, queues) is not sorted again per read.
        """
        ids, values = reply[0::2], reply[1::2]
        order = self._orders.get(kind)
        if order is None or order.ids != ids:
            positions = sorted(range(len(ids)), key=lambda i: cast(bytes, ids[i]))
            order = self._orders[kind] = _Order(ids, positions)
        return _in_order([values[i] for i in order.positions])

    async def _read_kinds(self, kinds: Iterable[Kind]) -> tuple[int, dict[Kind, RawCollection]]:
        """The Lua read (prefixes SORT cannot take): {version, n1, id, value, …, n2, …}."""
        wanted = list(kinds)
        reply = cast(
            list[Any],
            await self._read(
                keys=[self.keys.version, *(self.keys.index(k) for k in wanted)],
                args=[self.keys.prefix, *wanted],
            ),
        )
        version = int(reply[0])
        collections: dict[Kind, RawCollection] = {}
        at = 1
        for kind in wanted:
            count = int(reply[at])
            pairs = reply[at + 1 : at + 1 + 2 * count]
            ordered = sorted(zip(pairs[0::2], pairs[1::2], strict=True))
            collections[kind] = _in_order([value for _, value in ordered])
            at += 1 + 2 * count
        return version, collections


@dataclass(frozen=True, slots=True)
class _Order:
    """A SORT BY nosort reply's ids, and the positions that put them in id order."""

    ids: Sequence[bytes | None]
    positions: list[int]


def _in_order(values: Sequence[bytes | None]) -> RawCollection:
    """A RawCollection of values already in id order (missing ones, a key gone, skipped)."""
    return RawCollection([value for value in values if value is not None])
