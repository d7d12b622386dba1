"""DataLoaders for nested lookups: one Redis round trip per level of a query, not per item.

graphql-core resolves the items of a list concurrently, so every `load()` of one
level lands in the same batch. The loaders do not cache: a WebSocket context
lives as long as the connection, and a cache there would serve stale entities
to later subscription messages.

Loaders of a token scoped to some queues see what its root fields see
(`api.scope`): an operator with its memberships in scope only (none: null),
a queue's members likewise. Channels need no filter: they are looked up from
an operator or a queue already seen, whose channels are seen too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.exceptions import RedisError
from strawberry.dataloader import DataLoader

from api.errors import Unavailable
from api.scope import scope_operator, scope_operators
from api.views import in_queue
from ingest.keys import Kind
from ingest.patches import JsonObject
from ingest.store import StateStore


@asynccontextmanager
async def _redis() -> AsyncIterator[None]:
    try:
        yield
    except RedisError:
        raise Unavailable("Redis is unavailable; retry shortly") from None


def _by_id(
    store: StateStore, kind: Kind
) -> Callable[[list[str]], Awaitable[Sequence[JsonObject | None]]]:
    async def load(ids: list[str]) -> Sequence[JsonObject | None]:
        unique = list(dict.fromkeys(ids))
        async with _redis():
            found = dict(zip(unique, await store.get_many(kind, unique), strict=True))
        return [found[i] for i in ids]

    return load


def _scoped(
    load: Callable[[list[str]], Awaitable[Sequence[JsonObject | None]]], scope: frozenset[str]
) -> Callable[[list[str]], Awaitable[Sequence[JsonObject | None]]]:
    """`load` of operators, each as a grant scoped to `scope` sees it (None: not seen)."""

    async def scoped(ids: list[str]) -> Sequence[JsonObject | None]:
        return [None if op is None else scope_operator(op, scope) for op in await load(ids)]

    return scoped


@dataclass(frozen=True, slots=True)
class Loaders:
    """The loaders of one GraphQL context."""

    operator: DataLoader[str, JsonObject | None]
    channel: DataLoader[str, JsonObject | None]
    operators_of_queue: DataLoader[str, list[JsonObject]]
    channels_of_queue: DataLoader[str, list[JsonObject]]


def make_loaders(store: StateStore, scope: frozenset[str] | None = None) -> Loaders:
    """Loaders over `store` (MGET for ids; one collection read for "of queue" lookups),
    seeing only what a grant scoped to `scope` sees (None: everything)."""

    async def operators_of_queue(queues: list[str]) -> Sequence[list[JsonObject]]:
        async with _redis():
            operators = await store.all("operator")
        if scope is not None:
            operators = scope_operators(operators, scope)
        return [[op for op in operators if in_queue(op, queue)] for queue in queues]

    operator = _by_id(store, "operator")
    if scope is not None:
        operator = _scoped(operator, scope)

    async def channels_of_queue(queues: list[str]) -> Sequence[list[JsonObject]]:
        async with _redis():
            channels = await store.all("channel")
        return [[c for c in channels if c.get("queueName") == queue] for queue in queues]

    return Loaders(
        operator=DataLoader(load_fn=operator, cache=False),
        channel=DataLoader(load_fn=_by_id(store, "channel"), cache=False),
        operators_of_queue=DataLoader(load_fn=operators_of_queue, cache=False),
        channels_of_queue=DataLoader(load_fn=channels_of_queue, cache=False),
    )
