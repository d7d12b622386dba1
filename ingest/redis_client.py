"""The process's one Redis client, built from the settings: a plain client, Sentinel's
master (`ingest.redis_sentinel`), or a Redis Cluster client.

All three fail fast while Redis is down (short connect and read timeouts, one
quick retry) and reconnect by themselves. In cluster mode (`REDIS_CLUSTER`)
redis-py's `RedisCluster` learns the slot map from the seed nodes
(`REDIS_CLUSTER_NODES`, else REDIS_URL's host and port), follows MOVED and ASK
redirections and reloads the map after a failover; the password, user and TLS
come from REDIS_URL. Every key of a PBX carries one hash tag
(`ingest.keys.hash_tag`), so each Lua script and each transaction touches one
slot, on one node.

`RedisCluster` answers the commands the store, the election and the records
writer use as `Redis` does; it is typed as `Redis` so the rest of the code base
needs no union. The few places that must tell them apart (sharded pub/sub, the
SORT reads, a node's INFO) ask `as_cluster`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, SlotNotCoveredError
from redis.retry import Retry

from ingest.config import IngestSettings
from ingest.redis_sentinel import Address, sentinel_master

__all__ = [
    "ClusterClient",
    "ClusterUnavailable",
    "as_cluster",
    "cluster_client",
    "fail_fast_options",
    "make_redis",
]

# What a URL may carry that is not a node's own connection option.
_NOT_FOR_NODES = ("host", "port", "db", "path", "connection_class")


def fail_fast_options() -> dict[str, Any]:
    """Timeouts and retries of every client: an outage is noticed within seconds."""
    return {
        "socket_connect_timeout": 1.0,
        "socket_timeout": 3.0,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
    }


def make_redis(settings: IngestSettings) -> Redis:
    """A Redis client that fails fast while Redis is down and reconnects by itself:
    a cluster client with REDIS_CLUSTER, Sentinel's current master with
    REDIS_SENTINELS, else the server at REDIS_URL."""
    url = settings.redis_url.get_secret_value()
    if settings.redis_cluster:
        return cluster_client(settings.cluster_nodes, redis_url=url, **fail_fast_options())
    if settings.sentinels:
        return sentinel_master(
            settings.sentinels,
            settings.redis_sentinel_master,
            redis_url=url,
            sentinel_password=settings.redis_sentinel_password.get_secret_value(),
            **fail_fast_options(),
        )
    return Redis.from_url(url, **fail_fast_options())


class ClusterUnavailable(RedisConnectionError):
    """No seed node answers, or no node serves a slot: the cluster is down for us.

    redis-py raises `RedisClusterException` there, which is no `RedisError`; as a
    connection error it takes the paths a plain Redis outage takes (a 503, the
    ingest waiting for Redis, the election standing again later)."""


class ClusterClient(RedisCluster):
    """A `RedisCluster` whose outages are `RedisError`s (`ClusterUnavailable`) and that
    remembers how to reach one node on its own (credentials, TLS, timeouts): the
    sharded change subscription connects to the slot's node."""

    node_options: dict[str, Any]

    async def initialize(
        self,
        additional_startup_nodes_info: list[tuple[str, int]] | None = None,
        last_failed_node_name: str | None = None,
    ) -> Self:
        try:
            await super().initialize(additional_startup_nodes_info, last_failed_node_name)
        except RedisClusterException as exc:
            raise ClusterUnavailable(f"Redis Cluster unavailable: {exc}") from exc
        return self

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except SlotNotCoveredError as exc:
            raise ClusterUnavailable(f"Redis Cluster unavailable: {exc}") from exc


def cluster_client(nodes: Sequence[Address], *, redis_url: str, **options: Any) -> Redis:
    """The cluster seeded with `nodes`: credentials, TLS and URL options from `redis_url`
    (its host and port are a seed only when `nodes` is empty), `options` as for
    `Redis.from_url`. Connects lazily, on the first command."""
    from_url: dict[str, Any] = parse_url(redis_url)  # type: ignore[no-untyped-call]
    if from_url.get("connection_class") is SSLConnection:
        from_url["ssl"] = True
    url_options = {key: value for key, value in from_url.items() if key not in _NOT_FOR_NODES}
    seeds = [ClusterNode(host, port) for host, port in nodes]
    client = ClusterClient(startup_nodes=seeds, **url_options, **options)
    client.node_options = {**url_options, **options}
    # Typed as Redis: see the module's doc.
    return cast(Redis, client)


def as_cluster(redis: object) -> RedisCluster | None:
    """The client as a `RedisCluster` when it is one, else None."""
    return redis if isinstance(redis, RedisCluster) else None


def node_options(cluster: RedisCluster) -> dict[str, Any]:
    """Options for a plain client of one of the cluster's nodes."""
    if isinstance(cluster, ClusterClient):
        return dict(cluster.node_options)
    keep = ("username", "password", "socket_connect_timeout", "socket_timeout")
    return {key: cluster.connection_kwargs[key] for key in keep if key in cluster.connection_kwargs}
