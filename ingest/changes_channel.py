"""Where the change batches travel: pub/sub on one Redis, sharded pub/sub in a Redis Cluster.

On a single Redis (Sentinel's master included) the apply script `PUBLISH`es each
batch and the broadcaster `SUBSCRIBE`s, as always. In a Redis Cluster a
`PUBLISH` is copied to every node of the cluster; `SPUBLISH` stays on the
shard that owns the channel's slot — the PBX's hash tag's slot, where its keys
and its scripts are — so the scripts publish with `SPUBLISH` there and the
subscription is an `SSUBSCRIBE` on a plain connection to that slot's master.
On that connection PINGs travel behind the messages, as the broadcaster's
gap checks need.

When the slot moves (a resharding, a failover) the node ends the subscription
(a `sunsubscribe` push, a MOVED reply, or the connection drops): the
subscriber raises `ShardMoved` or sees the connection error, opens the
subscription again — after reloading the slot map — on the slot's new owner,
and reloads its state, since what was published in between is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError

from ingest.redis_client import as_cluster, node_options

__all__ = [
    "MESSAGES",
    "SUBSCRIBED",
    "ChangesSubscription",
    "ShardMoved",
    "open_subscription",
    "publish_command",
]

SUBSCRIBED = frozenset({"subscribe", "ssubscribe"})
"""The confirmation of a (re)subscription, plain or sharded."""
MESSAGES = frozenset({"message", "smessage"})
"""A published batch, plain or sharded."""


class ShardMoved(RedisConnectionError):
    """The node no longer serves the channel's slot: subscribe again where it went."""


def publish_command(redis: object) -> str:
    """The command the scripts publish with: SPUBLISH in a cluster, else PUBLISH."""
    return "SPUBLISH" if as_cluster(redis) is not None else "PUBLISH"


@dataclass(slots=True)
class ChangesSubscription:
    """One pub/sub connection to the changes channel (the caller reads `pubsub`)."""

    pubsub: PubSub
    channel: str
    sharded: bool
    node: str = ""
    """host:port of the slot's master (sharded only)."""
    _owner: Redis | None = None

    async def subscribe(self) -> None:
        """SSUBSCRIBE or SUBSCRIBE; the confirmation comes as a message (`SUBSCRIBED`)."""
        if self.sharded:
            await self.pubsub.ssubscribe(self.channel)
        else:
            await self.pubsub.subscribe(self.channel)

    def check(self, message_type: object) -> None:
        """Raise `ShardMoved` when the node ended the sharded subscription itself."""
        if self.sharded and message_type == "sunsubscribe":
            raise ShardMoved(f"the changes channel's slot left {self.node}")

    async def aclose(self) -> None:
        """Close the connection (and the node's own client, sharded)."""
        try:
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        finally:
            if self._owner is not None:
                await self._owner.aclose()


async def open_subscription(
    redis: Redis, channel: str, *, refresh: bool = False
) -> ChangesSubscription:
    """A subscription of `channel`; in a cluster, on the master of its slot (the slot map
    reloaded first when `refresh`: after a lost subscription it may have moved)."""
    cluster = as_cluster(redis)
    if cluster is None:
        return ChangesSubscription(redis.pubsub(), channel, sharded=False)
    if refresh:
        await cluster.nodes_manager.initialize()
    else:
        await cluster.initialize()
    node = cluster.get_node_from_key(channel)
    if node is None:
        raise ShardMoved("no node serves the changes channel's slot")
    owner = Redis(host=node.host, port=int(node.port), **node_options(cluster))
    return ChangesSubscription(owner.pubsub(), channel, sharded=True, node=node.name, _owner=owner)
