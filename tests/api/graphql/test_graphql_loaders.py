"""Nested lookups are batched: one Redis read per level of a query, not one per item."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from api.auth import AccessPolicy
from api.graphql.context import GraphQLContext
from api.graphql.schema import schema
from api.service import QueueStatusService
from ingest.keys import KeySchema, Kind
from ingest.patches import JsonObject, Patch
from ingest.store import StateStore


class CountingStore(StateStore):
    """The real store, counting its collection reads and multi-gets."""

    def __init__(self, redis: Redis, keys: KeySchema) -> None:
        super().__init__(redis, keys)
        self.reads: Counter[str] = Counter()

    async def all(self, kind: Kind) -> list[JsonObject]:
        """Count, then read."""
        self.reads[f"all:{kind}"] += 1
        return await super().all(kind)

    async def get_many(self, kind: Kind, ids: Sequence[str]) -> list[JsonObject | None]:
        """Count, then read."""
        self.reads[f"get_many:{kind}"] += 1
        return await super().get_many(kind, ids)

    async def snapshot(self) -> Any:
        """Count, then read."""
        self.reads["snapshot"] += 1
        return await super().snapshot()


def context(store: StateStore) -> GraphQLContext:
    """A context over `store` with open access."""
    service = QueueStatusService(store, sync=None)  # type: ignore[arg-type]  # reads only
    return GraphQLContext(
        service=service,
        policy=AccessPolicy((), host_is_loopback=True),
        broadcaster=None,
    )


async def test_each_level_is_one_read_whatever_the_number_of_items(
    redis_client: Redis, keys: KeySchema
) -> None:
    store = CountingStore(redis_client, keys)
    patches: list[Patch] = []
    for q in range(5):
        patches.append(Patch("queue", f"q{q}", {"strategy": "ringall"}))
        for m in range(4):
            member = f"SIP/{q}{m}"
            channel = f"{member}-1"
            patches.append(
                Patch(
                    "operator",
                    member,
                    {"status": "in_call", "currentChannel": channel, "queues": {f"q{q}": {}}},
                )
            )
            patches.append(Patch("channel", channel, {"memberId": member, "queueName": f"q{q}"}))
    await store.apply(patches)

    result = await schema.execute(
        """{ queues { name
               operators { memberId channel { name operator { memberId } } }
               channels { name } } }""",
        context_value=context(store),
    )

    assert result.errors is None
    assert result.data is not None
    queues = result.data["queues"]
    assert len(queues) == 5
    assert all(len(q["operators"]) == 4 for q in queues)
    first = queues[0]["operators"][0]
    assert first["channel"]["operator"]["memberId"] == first["memberId"]
    assert store.reads == {
        "snapshot": 1,  # the queues themselves
        "all:operator": 1,  # queue → operators, for all five queues
        "all:channel": 1,  # queue → channels
        "get_many:channel": 1,  # operator → channel, for all twenty operators
        "get_many:operator": 1,  # channel → operator
    }


async def test_loaders_do_not_cache_across_executions(redis_client: Redis, keys: KeySchema) -> None:
    store = CountingStore(redis_client, keys)
    await store.apply(
        [
            Patch("operator", "SIP/1", {"currentChannel": "SIP/1-1"}),
            Patch("channel", "SIP/1-1", {"state": "ring"}),
        ]
    )
    shared = context(store)  # one context, as a WebSocket connection has
    query = '{ operator(memberId: "SIP/1") { channel { state } } }'
    first = await schema.execute(query, context_value=shared)
    await store.apply([Patch("channel", "SIP/1-1", {"state": "up"})])
    second = await schema.execute(query, context_value=shared)
    assert first.data == {"operator": {"channel": {"state": "RING"}}}
    assert second.data == {"operator": {"channel": {"state": "UP"}}}
