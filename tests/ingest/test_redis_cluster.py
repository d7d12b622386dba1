"""The live state on a real Redis Cluster (three masters of the test's own), in-process.

The product's own cluster client (`ingest.redis_client.cluster_client`) under a
prefix with a hash tag: the store's scripts, reads and clear; the election's
lease and epoch; the records buffer; sharded change batches reaching the
broadcaster with contiguous versions, also after the PBX's slot moved to
another master (the subscription follows it and reloads). Every key lands on
the master of the tag's slot. The whole service on a cluster, two PBXes in
different slots, is reliability item 25 (tests/reliability/test_redis_cluster.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.broadcast import Broadcaster, Subscriber
from api.live import LiveBatch, LiveEvent, LiveReset, LiveState
from ingest.election import IngestElection
from ingest.keys import KeySchema, hash_tag
from ingest.patches import Guard, Patch, Retain
from ingest.records.buffer import RecordBuffer
from ingest.records.lease import RedisLease
from ingest.redis_client import ClusterUnavailable, cluster_client, fail_fast_options
from ingest.store import StaleEpoch, StateStore
from tests.ingest.records.test_buffer_drainer import call
from tests.reliability.cluster import ClusterLab
from tests.reliability.procs import free_port


@pytest.fixture(scope="module")
def lab() -> Iterator[ClusterLab]:
    """Three masters for the module (started once: about two seconds)."""
    cluster = ClusterLab()
    try:
        asyncio.run(cluster.start())
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def keys() -> KeySchema:
    """A prefix of this test's own, with a hash tag."""
    return KeySchema(f"{{qs-test-{uuid.uuid4().hex[:12]}}}:")


@pytest.fixture
async def client(lab: ClusterLab, keys: KeySchema) -> AsyncIterator[Redis]:
    """The product's cluster client, seeded with one node only (it learns the rest)."""
    seed = [("127.0.0.1", lab.masters[0].port)]
    redis = cluster_client(seed, redis_url="redis://127.0.0.1/0", **fail_fast_options())
    try:
        yield redis
    finally:
        for node in lab.masters:
            leftovers = await lab.keys_on(node.port, keys.prefix)
            if leftovers:
                plain = node.client()
                await plain.delete(*leftovers)
                await plain.aclose()
        await redis.aclose()


async def _slot_owner(lab: ClusterLab, keys: KeySchema) -> int:
    return await lab.owner_port(await lab.keyslot(keys.version))


async def _where(lab: ClusterLab, keys: KeySchema) -> dict[int, int]:
    """How many of the prefix's keys each master holds."""
    return {node.port: len(await lab.keys_on(node.port, keys.prefix)) for node in lab.masters}


def _operator(member: str, status: str, queue: str = "sales") -> Patch:
    return Patch("operator", member, {"status": status, "queues": {queue: {"paused": False}}})


@pytest.mark.parametrize("prefix", ["{main}:", "a}{b}:", "{{a}}:", "{}main:", "{main:", "pbx:"])
async def test_a_prefix_with_a_hash_tag_puts_every_key_in_one_slot(
    lab: ClusterLab, prefix: str
) -> None:
    """`hash_tag` against the server's own CLUSTER KEYSLOT, with ids that hold braces."""
    ids = ["PJSIP/1001", "x}y", "{z}", "queue-status:version"]
    slots = {await lab.keyslot(prefix + entity_id) for entity_id in ids}
    assert (len(slots) == 1) == (hash_tag(prefix) is not None), slots


async def test_the_store_works_on_one_slot_of_the_cluster(
    lab: ClusterLab, client: Redis, keys: KeySchema
) -> None:
    store = StateStore(client, keys)
    assert hash_tag(keys.prefix) is not None
    await client.set(keys.ingest("epoch"), 1)  # the elected leader's (a missing one is refused)
    await store.apply(
        [
            Patch("queue", "sales", {"strategy": "rrmemory", "wrapupTime": 5}),
            _operator("PJSIP/1001", "idle"),
            _operator("PJSIP/1002", "in_call"),
            Patch("channel", "PJSIP/1001-00000001", {"state": "up"}),
        ],
        writer=("ingest-a", 1),
        epoch=1,
    )
    # A master that never ran the scripts (a failover, a new node): NOSCRIPT, loaded again.
    await client.script_flush()
    await store.apply([Patch("queue", "sales", {"weight": 2})])
    assert (await store.get("queue", "sales") or {})["weight"] == 2
    # The batch sent again after a lost reply is applied once; a deposed epoch is refused.
    again = await store.apply([_operator("PJSIP/1001", "paused")], writer=("ingest-a", 1))
    assert again == [] and (await store.get("operator", "PJSIP/1001") or {})["status"] == "idle"
    await client.set(keys.ingest("epoch"), 2)
    with pytest.raises(StaleEpoch):
        await store.apply([_operator("PJSIP/1001", "paused")], epoch=1)
    guarded = Patch(
        "operator",
        "PJSIP/1002",
        {"status": "idle"},
        only_if=Guard("queue", "sales", ("strategy",), equals="rrmemory"),
    )
    changes = await store.apply([guarded], return_changes=True, epoch=2)
    assert [(c.kind, c.id, c.op) for c in changes] == [("operator", "PJSIP/1002", "upsert")]

    snapshot = await store.snapshot()
    assert [o["memberId"] for o in snapshot.operators] == ["PJSIP/1001", "PJSIP/1002"]
    assert snapshot.operators[1]["status"] == "idle"
    assert snapshot.version == await store.version() == changes[0].version
    assert [q["name"] for q in snapshot.queues] == ["sales"]
    assert (await store.raw("channel")).count == 1
    assert await store.counts() == {"operator": 2, "queue": 1, "channel": 1}
    many = await store.get_many("operator", ["PJSIP/1002", "nobody"])
    assert many[0] is not None and many[1] is None
    assert await store.ping()
    assert (await store.server_info())["tcp_port"] == await _slot_owner(lab, keys)

    await store.apply([Retain("operator", frozenset({"PJSIP/1001"}))])
    assert await store.ids("operator") == {"PJSIP/1001"}
    owner = await _slot_owner(lab, keys)
    where = await _where(lab, keys)
    assert where[owner] > 0 and sum(where.values()) == where[owner], where

    removed = await store.clear(batch=1)
    assert removed == {"operator": 1, "queue": 1, "channel": 1}
    assert await store.counts() == {"operator": 0, "queue": 0, "channel": 0}


async def test_the_election_lease_and_the_records_buffer_work_on_the_cluster(
    lab: ClusterLab, client: Redis, keys: KeySchema
) -> None:
    elected: list[int] = []

    async def on_elected(epoch: int) -> None:
        elected.append(epoch)

    async def on_deposed(reason: str) -> None:
        pass

    first = IngestElection(
        client, keys, lease_seconds=5, on_elected=on_elected, on_deposed=on_deposed
    )
    second = IngestElection(
        client, keys, lease_seconds=5, on_elected=on_elected, on_deposed=on_deposed
    )
    await first.step()
    await second.step()
    assert (first.leader, second.leader, elected) == (True, False, [1])
    await first.step()  # renews (a script on the lease key)
    assert first.leader and second.epoch == 1
    await first.stop()  # steps down and releases
    await second.step()
    assert second.leader and elected == [1, 2]
    await second.stop()

    drainer = RedisLease(client, keys.records("lease"), ttl_ms=5000)
    assert await drainer.hold() and await drainer.hold()
    await drainer.release()

    buffer = RecordBuffer(client, keys, cap=3)
    records = [call(n) for n in range(5)]
    appended = await buffer.append(records)
    assert (appended.added, appended.overflowed) == (3, 2)
    batch = await buffer.oldest(10)
    assert batch.records == records[:3] and batch.undecodable == []
    assert await buffer.delete(batch.ids) == 3
    assert (await buffer.length(), await buffer.overflow()) == (0, 2)
    owner = await _slot_owner(lab, keys)
    where = await _where(lab, keys)
    assert where[owner] > 0 and sum(where.values()) == where[owner], where


async def _next(subscriber: Subscriber[LiveEvent]) -> LiveEvent:
    async with asyncio.timeout(5.0):
        return await anext(subscriber)


async def _shard_subscribers(lab: ClusterLab, port: int, channel: str) -> int:
    plain = lab.node_at(port).client()
    try:
        reply = await plain.execute_command("PUBSUB", "SHARDNUMSUB", channel)  # type: ignore[no-untyped-call]
        return int(reply[1])
    finally:
        await plain.aclose()


async def test_sharded_batches_reach_the_broadcaster_and_follow_a_moved_slot(
    lab: ClusterLab, client: Redis, keys: KeySchema
) -> None:
    store = StateStore(client, keys)
    broadcaster: Broadcaster[LiveEvent] = Broadcaster(
        client,
        keys.changes,
        LiveState(store),
        poll_interval=0.2,
        retry_delays=(0.01, 0.1),
        current_version=store.version,
    )
    await broadcaster.start()
    try:
        async with broadcaster.subscribe() as subscriber:
            assert isinstance(await _next(subscriber), LiveReset)  # the initial load
            owner = await _slot_owner(lab, keys)
            assert await _shard_subscribers(lab, owner, keys.changes) == 1
            versions: list[int] = []
            for n in range(3):
                await store.apply([_operator("PJSIP/1001", f"status-{n}")])
                event = await _next(subscriber)
                assert isinstance(event, LiveBatch)
                versions.append(event.to_version)
            assert versions == [versions[0], versions[0] + 1, versions[0] + 2]

            slot = await lab.keyslot(keys.version)
            elsewhere = next(n.port for n in lab.masters if n.port != owner)
            await lab.move_slot(slot, elsewhere)
            await store.apply([_operator("PJSIP/1001", "after the move")])  # follows MOVED
            seen: list[LiveEvent] = []
            while not any(isinstance(e, LiveReset) for e in seen):
                seen.append(await _next(subscriber))
            live = broadcaster.feed
            assert isinstance(live, LiveState)
            await store.apply([_operator("PJSIP/1001", "settled")])
            latest = await store.version()
            while live.version < latest:
                event = await _next(subscriber)
                assert isinstance(event, LiveBatch)
            assert (live.operator("PJSIP/1001") or {})["status"] == "settled"
            assert await _slot_owner(lab, keys) == elsewhere
            assert await _shard_subscribers(lab, elsewhere, keys.changes) == 1
            assert await _shard_subscribers(lab, owner, keys.changes) == 0
    finally:
        await broadcaster.stop()


async def test_a_cluster_nobody_answers_is_a_redis_error(keys: KeySchema) -> None:
    """Not redis-py's RedisClusterException: the paths of a Redis outage apply (503, retry)."""
    down = cluster_client(
        [("127.0.0.1", free_port())], redis_url="redis://127.0.0.1/0", **fail_fast_options()
    )
    try:
        with pytest.raises(ClusterUnavailable) as refused:
            await StateStore(down, keys).version()
        assert isinstance(refused.value, RedisError)
    finally:
        await down.aclose()
