"""Redis Cluster mode's settings and key rules (pure, plus one store run on the shared Redis).

The hash tag as Redis computes it; the one-line errors of REDIS_CLUSTER,
REDIS_CLUSTER_NODES, REDIS_KEY_PREFIX and REDIS_URL in cluster mode; which
client `make_redis` builds; and that without cluster mode nothing changes: the
default schema spells exactly the documented keys and the store writes no
other key. The tag against a real cluster's CLUSTER KEYSLOT is in
tests/ingest/test_redis_cluster.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from api.settings import SettingsError, load_settings
from ingest.changes_channel import publish_command
from ingest.keys import KeySchema, cluster_prefix_problem, hash_tag
from ingest.patches import Patch
from ingest.redis_client import as_cluster, make_redis
from ingest.redis_sentinel import SentinelRedis
from ingest.store import StateStore

PASSWORD = "cluster-pass-canary"


@pytest.mark.parametrize(
    ("prefix", "tag"),
    [
        ("", None),
        ("pbx-1:", None),
        ("{main}:", "main"),
        ("qs:{pbx-2}:", "pbx-2"),
        ("a}{b}:", "b"),  # a "}" before the first "{" does not count
        ("{{a}}:", "{a"),  # the first "}" after the first "{" ends it
        ("{}main:", None),  # empty: Redis hashes the whole key
        ("{}{main}:", None),  # only the first "{" counts, and its tag is empty
        ("{main:", None),  # no "}" in the prefix: an id's "}" would end a different tag
    ],
)
def test_the_hash_tag_is_the_one_redis_computes(prefix: str, tag: str | None) -> None:
    assert hash_tag(prefix) == tag
    assert (cluster_prefix_problem(prefix) is None) == (tag is not None)


def test_the_prefix_problem_names_the_setting_and_the_fix() -> None:
    problem = cluster_prefix_problem("pbx-1:")
    assert problem is not None and "REDIS_KEY_PREFIX={main}:" in problem and "\n" not in problem


def _refusal(**overrides: Any) -> str:
    with pytest.raises(SettingsError) as refused:
        load_settings(**overrides)
    message = str(refused.value)
    assert "\n" not in message and PASSWORD not in message
    return message


@pytest.mark.parametrize(
    ("overrides", "starts"),
    [
        ({"redis_cluster": True}, "Invalid setting REDIS_KEY_PREFIX: needs a hash tag"),
        (
            {"redis_cluster": True, "redis_key_prefix": "{}pbx:"},
            "Invalid setting REDIS_KEY_PREFIX: needs a hash tag",
        ),
        (
            {
                "redis_cluster": True,
                "redis_key_prefix": "{main}:",
                "redis_sentinels": "127.0.0.1:26379",
                "redis_sentinel_master": "m",
            },
            "Invalid setting REDIS_CLUSTER: cannot be combined with REDIS_SENTINELS",
        ),
        (
            {"redis_cluster_nodes": "127.0.0.1:7000"},
            "Invalid setting REDIS_CLUSTER_NODES: needs REDIS_CLUSTER=true",
        ),
        (
            {"redis_cluster": True, "redis_key_prefix": "{m}:", "redis_cluster_nodes": "h:1,h"},
            "Invalid setting REDIS_CLUSTER_NODES: entry 2 must look like host:port",
        ),
        (
            {
                "redis_cluster": True,
                "redis_key_prefix": "{m}:",
                "redis_url": f"redis://:{PASSWORD}@127.0.0.1:7000/3",
            },
            "Invalid setting REDIS_URL: a Redis Cluster has database 0 only",
        ),
        (
            {"redis_cluster": True, "redis_key_prefix": "{m}:", "redis_url": "unix:///r.sock"},
            "Invalid setting REDIS_URL: must be redis:// or rediss://",
        ),
    ],
)
def test_cluster_settings_are_refused_in_one_line(overrides: dict[str, Any], starts: str) -> None:
    assert _refusal(**overrides).startswith(starts)


def test_the_seed_is_redis_url_unless_nodes_are_given() -> None:
    alone = load_settings(
        redis_cluster=True,
        redis_key_prefix="{main}:",
        redis_url=f"redis://:{PASSWORD}@10.0.0.5:7001/0",
    )
    assert alone.cluster_nodes == (("10.0.0.5", 7001),)
    seeded = load_settings(
        redis_cluster=True,
        redis_key_prefix="{main}:",
        redis_cluster_nodes="10.0.0.5:7001, [::1]:7002",
    )
    assert seeded.cluster_nodes == (("10.0.0.5", 7001), ("::1", 7002))


async def test_make_redis_builds_the_client_the_settings_name() -> None:
    """Nothing connects here: every client connects on its first command."""
    cluster = make_redis(
        load_settings(
            redis_cluster=True,
            redis_key_prefix="{main}:",
            redis_url=f"redis://user:{PASSWORD}@127.0.0.1:7001",
            redis_cluster_nodes="127.0.0.1:7002",
        )
    )
    sentinel = make_redis(
        load_settings(redis_sentinels="127.0.0.1:26379", redis_sentinel_master="m")
    )
    plain = make_redis(load_settings())
    try:
        found = as_cluster(cluster)
        assert isinstance(found, RedisCluster)
        assert [n.name for n in found.nodes_manager.startup_nodes.values()] == ["127.0.0.1:7002"]
        assert found.connection_kwargs["password"] == PASSWORD
        assert found.connection_kwargs["username"] == "user"
        assert isinstance(sentinel, SentinelRedis) and as_cluster(sentinel) is None
        assert type(plain) is Redis and as_cluster(plain) is None
        assert (publish_command(cluster), publish_command(plain)) == ("SPUBLISH", "PUBLISH")
    finally:
        for client in (cluster, sentinel, plain):
            await client.aclose()


def test_the_default_settings_keep_the_documented_key_names() -> None:
    keys = KeySchema(load_settings().redis_key_prefix)
    assert keys.prefix == "" and hash_tag(keys.prefix) is None
    assert keys.operator("PJSIP/1001") == "queue:operator:PJSIP/1001"
    assert keys.index("operator") == "queue:operators:all"
    assert keys.queue("sales") == "queue:status:sales"
    assert keys.index("queue") == "queues:all"
    assert keys.channel("PJSIP/1001-00000001") == "channel:PJSIP/1001-00000001"
    assert keys.index("channel") == "channels:all"
    assert keys.version == "queue-status:version"
    assert keys.changes == "queue-status:changes"


async def test_outside_a_cluster_the_store_writes_only_the_documented_keys(
    redis_client: Redis, keys: KeySchema
) -> None:
    """The scripts now declare their keys; the keys they write are the same as before."""
    store = StateStore(redis_client, keys)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(keys.changes)  # PUBLISH, not SPUBLISH, outside a cluster
    try:
        await store.apply(
            [
                Patch("queue", "sales", {"strategy": "ringall"}),
                Patch("operator", "PJSIP/1001", {"status": "idle", "queues": {"sales": {}}}),
                Patch("channel", "PJSIP/1001-00000001", {"state": "up"}),
            ]
        )
        written = {
            key.decode().removeprefix(keys.prefix)
            async for key in redis_client.scan_iter(match=f"{keys.prefix}*", count=1000)
        }
        assert written == {
            "queue:status:sales",
            "queues:all",
            "queue:operator:PJSIP/1001",
            "queue:operators:all",
            "channel:PJSIP/1001-00000001",
            "channels:all",
            "queue-status:version",
        }
        messages = []
        while (message := await pubsub.get_message(timeout=1.0)) is not None:
            messages.append(message["type"])
        assert messages == ["subscribe", "message"]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
