"""The store on real Redis: atomic merge, versions, publication, one-round-trip reads."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from redis.asyncio import Redis

from ingest.keys import KeySchema
from ingest.patches import Guard, Patch, Retain, delete
from ingest.store import StateStore, decode_changes


async def test_merge_is_recursive_and_stamps_version_and_time(store: StateStore) -> None:
    await store.apply(
        [
            Patch(
                "operator",
                "PJSIP/1001",
                {"memberName": "Alice", "queues": {"sales": {"penalty": 1}}},
            )
        ],
        now=1_000,
    )
    await store.apply(
        [
            Patch(
                "operator", "PJSIP/1001", {"status": "idle", "queues": {"sales": {"paused": True}}}
            )
        ],
        now=2_000,
    )
    op = await store.get("operator", "PJSIP/1001")
    assert op is not None
    assert op["memberName"] == "Alice"
    assert op["queues"]["sales"] == {"penalty": 1, "paused": True}
    assert op["updatedAt"] == 2_000
    assert op["version"] == await store.version() == 2
    # Paused in its only queue: paused overall, and the primary queue is derived.
    assert op["paused"] is True
    assert op["queueName"] == "sales"


async def test_null_removes_a_key_and_a_membership(store: StateStore) -> None:
    await store.apply(
        [Patch("operator", "SIP/1", {"queues": {"a": {"paused": True}, "b": {"paused": False}}})]
    )
    await store.apply([Patch("operator", "SIP/1", {"queues": {"b": None}})])
    op = await store.get("operator", "SIP/1")
    assert op is not None
    assert set(op["queues"]) == {"a"}
    assert op["paused"] is True


async def test_a_patch_that_changes_nothing_bumps_nothing(store: StateStore) -> None:
    await store.apply([Patch("queue", "sales", {"strategy": "linear"})], now=1)
    before = await store.version()
    changes = await store.apply(
        [Patch("queue", "sales", {"strategy": "linear"})], now=99, return_changes=True
    )
    assert changes == []
    assert await store.version() == before
    queue = await store.get("queue", "sales")
    assert queue is not None and queue["updatedAt"] == 1


async def test_counters_increment_and_maximum_only_grows(store: StateStore) -> None:
    patch = Patch(
        "queue",
        "sales",
        incr=[(("completed",), 1)],
        maximum=[(("longest",), 5)],
    )
    await store.apply([patch, patch])
    await store.apply([Patch("queue", "sales", maximum=[(("longest",), 3)])])
    queue = await store.get("queue", "sales")
    assert queue is not None
    assert queue["completed"] == 2
    assert queue["longest"] == 5


async def test_create_false_does_not_invent_an_entity(store: StateStore) -> None:
    await store.apply([Patch("channel", "Local/x-1;1", {"state": "up"}, create=False)])
    assert await store.get("channel", "Local/x-1;1") is None
    assert await store.counts() == {"operator": 0, "queue": 0, "channel": 0}


async def test_change_and_publication_are_one_step(
    store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(keys.changes)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    await store.apply(
        [Patch("queue", "q1", {"strategy": "ringall"}), Patch("queue", "q2", {})],
    )
    await store.apply([delete("queue", "q1")])
    received = []
    for _ in range(2):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None
        received.extend(decode_changes(message["data"]))
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert [(c.kind, c.op, c.id) for c in received] == [
        ("queue", "upsert", "q1"),
        ("queue", "upsert", "q2"),
        ("queue", "delete", "q1"),
    ]
    versions = [c.version for c in received]
    assert versions == list(range(versions[0], versions[0] + 3))
    assert received[0].data is not None and received[0].data["strategy"] == "ringall"


async def test_concurrent_writers_get_unique_contiguous_versions(
    redis_client: Redis, keys: KeySchema
) -> None:
    writers = [StateStore(Redis.from_url("redis://127.0.0.1:6379/0"), keys) for _ in range(4)]

    async def write(store: StateStore, n: int) -> list[int]:
        versions: list[int] = []
        for i in range(50):
            changes = await store.apply(
                [Patch("queue", "shared", incr=[(("completed",), 1)], set={"by": n, "i": i})],
                return_changes=True,
            )
            versions.extend(c.version for c in changes)
        return versions

    try:
        results = await asyncio.gather(*(write(s, n) for n, s in enumerate(writers)))
    finally:
        for s in writers:
            await s.redis.aclose()
    every = sorted(v for versions in results for v in versions)
    assert every == list(range(1, 201))
    for versions in results:
        assert versions == sorted(versions)
    reader = StateStore(redis_client, keys)
    queue = await reader.get("queue", "shared")
    assert queue is not None and queue["completed"] == 200 and queue["version"] == 200


async def test_snapshot_reads_everything_at_one_version(store: StateStore) -> None:
    await store.apply(
        [Patch("operator", f"PJSIP/{n}", {"status": "idle"}) for n in range(1200)]
        + [Patch("queue", "sales", {}), Patch("channel", "Local/a;1", {"state": "up"})]
    )
    snap = await store.snapshot()
    assert snap.version == await store.version() == 1202
    assert len(snap.operators) == 1200 and len(snap.queues) == 1 and len(snap.channels) == 1
    assert [op["memberId"] for op in snap.operators[:3]] == ["PJSIP/0", "PJSIP/1", "PJSIP/10"]


async def test_retain_removes_only_what_is_not_kept(store: StateStore) -> None:
    await store.apply([Patch("queue", name, {}) for name in ("a", "b", "c")])
    changes = await store.apply([Retain("queue", frozenset({"b"}))], return_changes=True)
    assert sorted(c.id for c in changes if c.op == "delete") == ["a", "c"]
    assert await store.ids("queue") == {"b"}


async def test_clear_removes_our_keys_only(
    store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    foreign = keys.prefix + "someone-else:key"
    await redis_client.set(foreign, "keep me")
    # Shaped like ours but named by no index set of ours: not ours to delete (with an empty
    # prefix it could be another application's key).
    stray = keys.operator("stray/1")
    await redis_client.set(stray, orjson.dumps({"memberId": "stray/1"}))
    await store.apply(
        [Patch("operator", "PJSIP/1", {}), Patch("queue", "q", {}), Patch("channel", "c", {})]
    )
    removed = await store.clear()
    assert removed == {"operator": 1, "queue": 1, "channel": 1}
    assert await store.counts() == {"operator": 0, "queue": 0, "channel": 0}
    assert await redis_client.get(foreign) == b"keep me"
    assert await redis_client.exists(stray) == 1


async def test_clear_goes_in_bounded_steps_and_publishes_once(store: StateStore) -> None:
    await store.apply([Patch("operator", f"PJSIP/{n}", {}) for n in range(25)])
    before = await store.version()
    removed = await store.clear(batch=4)
    assert removed == {"operator": 25, "queue": 0, "channel": 0}
    assert await store.counts() == {"operator": 0, "queue": 0, "channel": 0}
    assert await store.version() == before + 1  # one "clear" change, at the end


@pytest.mark.parametrize("prefix", ["", "pbx-1:"])
def test_key_schema_matches_the_documented_keys(prefix: str) -> None:
    k = KeySchema(prefix)
    assert k.operator("PJSIP/1001") == prefix + "queue:operator:PJSIP/1001"
    assert k.index("operator") == prefix + "queue:operators:all"
    assert k.queue("sales") == prefix + "queue:status:sales"
    assert k.index("queue") == prefix + "queues:all"
    assert k.channel("SIP/2001-00000001") == prefix + "channel:SIP/2001-00000001"
    assert k.index("channel") == prefix + "channels:all"


async def test_patches_to_one_entity_in_a_batch_equal_one_batch_each(
    store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    """apply.lua decodes an entity once per batch and writes it at the end: every read in
    the batch (a guard, the queue's wrap-up, a delete) still sees the earlier patches,
    and the changes published are those of one patch per batch."""
    patches = [
        Patch("queue", "sales", {"wrapupTime": 30}),
        Patch("channel", "Local/a-1;1", {"state": "ring"}),
        Patch("channel", "Local/a-1;1", {"state": "up", "callerIdNum": "100"}),
        Patch(
            "operator",
            "SIP/1",
            {"queues": {"sales": {"lastCall": 1000, "paused": False}}},
        ),
        Patch("queue", "sales", {"wrapupTime": 60}),
        Patch("operator", "SIP/1", {"status": "idle"}),
        Patch(
            "channel",
            "Local/a-1;1",
            {"guarded": True},
            only_if=Guard("channel", "Local/a-1;1", ("state",), equals="up"),
        ),
        delete("channel", "Local/a-1;1"),
        Patch("channel", "Local/a-1;1", {"state": "down"}, create=False),
        Patch("channel", "Local/b-2;1", {"state": "ring"}),
        delete("channel", "Local/b-2;1"),
        Patch("channel", "Local/b-2;1", {"state": "again"}),
        Patch("operator", "SIP/1", {"status": "idle"}),  # changes nothing
    ]
    one_by_one = StateStore(redis_client, KeySchema(f"{keys.prefix}single:"))
    separately = []
    for patch in patches:
        separately += await one_by_one.apply([patch], now=5, return_changes=True)
    together = await store.apply(patches, now=5, return_changes=True)

    assert [(c.version, c.kind, c.op, c.id, c.data) for c in together] == [
        (c.version, c.kind, c.op, c.id, c.data) for c in separately
    ]
    assert await store.snapshot() == await one_by_one.snapshot()
    operator = await store.get("operator", "SIP/1")
    # Its second patch read the queue's wrap-up as the batch had changed it (60, not 30).
    assert operator is not None and operator["queues"]["sales"]["wrapupUntil"] == 1060
