"""Raw collection reads: stored JSON forwarded as it is, byte for byte orjson's encoding."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio import Redis

from ingest.keys import KeySchema
from ingest.patches import Patch, delete
from ingest.store import StateStore, encode_array


def reencoded(values: list[bytes]) -> bytes:
    """What parsing and encoding again would give."""
    return orjson.dumps([orjson.loads(value) for value in values])


@pytest.mark.parametrize(
    "values",
    [
        [],
        [b'{"a":1}'],
        [b'{"memberId":"PJSIP/1001","n":1.5}', b'{"x":"caf\xc3\xa9"}'],
        [b'{"id":"a\\/b"}'],  # an escaped slash, as cjson wrote it before apply.lua stopped
        [b'{"id":"a\\\\/b"}'],  # a backslash then a slash: must not become an escape
        [b'{"q":"say \\"hi\\""}', b'{"t":"tab\\there"}'],
        [b'{"big":1.5e+20}', b'{"n":"+1555"}'],
        [b'{"x":"\\u001f"}'],
        [b"[1,2]"],  # not an object (a hand edit)
    ],
)
def test_the_join_is_orjsons_encoding(values: list[bytes]) -> None:
    assert encode_array(values) == reencoded(values)
    head, tail = b'{"data":', b',"count":%d}' % len(values)
    assert encode_array(values, head, tail) == head + reencoded(values) + tail


def test_what_is_not_an_object_fails_as_parsing_it_would() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        encode_array([b'{"a":1}', b"hello"])


async def test_values_are_stored_without_escaped_slashes(
    store: StateStore, redis_client: Redis
) -> None:
    await store.apply([Patch("operator", "PJSIP/1001", {"currentChannel": "PJSIP/1001-0001"})])
    stored = await redis_client.get(store.keys.operator("PJSIP/1001"))
    assert stored is not None and b"\\/" not in stored and b"PJSIP/1001-0001" in stored


async def test_raw_reads_are_sorted_and_follow_every_change(store: StateStore) -> None:
    ids = [f"PJSIP/{n}" for n in (10, 2, 1, 30, 3)]
    await store.apply([Patch("operator", member, {"status": "idle"}) for member in ids])
    first = await store.raw("operator")
    assert [op["memberId"] for op in first.entities()] == sorted(ids)
    again = await store.raw("operator")  # the order is reused
    assert again.json() == first.json()
    await store.apply([delete("operator", "PJSIP/2"), Patch("operator", "PJSIP/25", {})])
    changed = await store.raw("operator")
    assert [op["memberId"] for op in changed.entities()] == sorted(
        [*(m for m in ids if m != "PJSIP/2"), "PJSIP/25"]
    )
    assert changed.json() == orjson.dumps(await store.all("operator"))


async def test_an_index_entry_without_its_key_is_skipped(
    store: StateStore, redis_client: Redis
) -> None:
    await store.apply([Patch("operator", "PJSIP/1", {}), Patch("operator", "PJSIP/2", {})])
    await redis_client.sadd(store.keys.index("operator"), "PJSIP/ghost")
    raw = await store.raw("operator")
    assert raw.count == 2 and [op["memberId"] for op in raw.entities()] == ["PJSIP/1", "PJSIP/2"]


async def test_a_prefix_sort_cannot_take_reads_through_lua(redis_client: Redis) -> None:
    store = StateStore(redis_client, KeySchema("qs-test-star*:"))
    try:
        await store.apply([Patch("operator", "b", {}), Patch("operator", "a", {})])
        snapshot = await store.raw_snapshot()
        assert [op["memberId"] for op in snapshot.operators.entities()] == ["a", "b"]
        assert snapshot.version == await store.version()
    finally:
        await store.clear()


async def test_the_snapshot_is_consistent_with_its_version(store: StateStore) -> None:
    await store.apply(
        [Patch("queue", "sales", {}), Patch("operator", "PJSIP/1", {"queues": {"sales": {}}})]
    )
    raw = await store.raw_snapshot()
    assert raw.version == await store.version()
    assert raw.parsed() == await store.snapshot()
