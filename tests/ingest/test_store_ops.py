"""The patch operations beyond merge: guards, EACH paths, shift, smooth, copy and fold.

Each runs on real Redis and on the demo's in-process fakeredis (its Lua is not
Redis' Lua 5.1, so the script must work on both).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import orjson
import pytest
from redis.asyncio import Redis

from ingest.keys import KeySchema
from ingest.patches import EACH, Guard, Patch, delete, merge
from ingest.store import StateStore


@pytest.fixture(params=["redis", "fakeredis"])
async def ops_store(
    request: pytest.FixtureRequest, redis_client: Redis, keys: KeySchema
) -> AsyncIterator[StateStore]:
    """The store on real Redis, then on fakeredis."""
    if request.param == "redis":
        yield StateStore(redis_client, keys)
        return
    fake = fakeredis.FakeAsyncRedis()
    try:
        yield StateStore(fake, keys)
    finally:
        await fake.aclose()


async def _get(store: StateStore, kind: Any, entity_id: str) -> dict[str, Any]:
    entity = await store.get(kind, entity_id)
    assert entity is not None
    return entity


# --- EACH ---------------------------------------------------------------------


async def test_each_reaches_every_present_key_and_creates_none(ops_store: StateStore) -> None:
    await ops_store.apply(
        [Patch("operator", "SIP/1", {"queues": {"a": {"callsTaken": 1}, "b": {}}})]
    )
    await ops_store.apply(
        [
            Patch(
                "operator",
                "SIP/1",
                incr=[(("queues", EACH, "callsTaken"), 1)],
                maximum=[(("queues", EACH, "lastCall"), 50)],
            )
        ]
    )
    op = await _get(ops_store, "operator", "SIP/1")
    assert op["queues"]["a"]["callsTaken"] == 2
    assert op["queues"]["b"]["callsTaken"] == 1
    assert op["queues"]["a"]["lastCall"] == op["queues"]["b"]["lastCall"] == 50
    # Nothing to match: no queue is invented.
    await ops_store.apply(
        [Patch("operator", "SIP/2", {"status": "idle"}, incr=[(("queues", EACH, "x"), 1)])]
    )
    assert (await _get(ops_store, "operator", "SIP/2"))["queues"] == {}


# --- shift --------------------------------------------------------------------


def _callers(*positions: tuple[str, int]) -> dict[str, Any]:
    return {"callers": {uid: {"position": position} for uid, position in positions}}


async def _positions(store: StateStore) -> dict[str, int]:
    queue = await _get(store, "queue", "q")
    return {uid: c["position"] for uid, c in queue["callers"].items()}


async def test_shift_makes_room_before_the_set_places_a_new_child(ops_store: StateStore) -> None:
    await ops_store.apply([Patch("queue", "q", _callers(("a", 1), ("b", 2), ("c", 3)))])
    await ops_store.apply(
        [Patch("queue", "q", _callers(("new", 2)), shift=[(("callers",), "position", 2, 1)])]
    )
    assert await _positions(ops_store) == {"a": 1, "new": 2, "b": 3, "c": 4}


async def test_shift_closes_the_gap_a_leaving_child_leaves(ops_store: StateStore) -> None:
    await ops_store.apply([Patch("queue", "q", _callers(("a", 1), ("b", 2), ("c", 3)))])
    await ops_store.apply(
        [
            Patch(
                "queue",
                "q",
                {"callers": {"b": None}},
                shift=[(("callers",), "position", 3, -1)],
            )
        ]
    )
    queue = await _get(ops_store, "queue", "q")
    assert await _positions(ops_store) == {"a": 1, "c": 2}
    assert queue["callsWaiting"] == 2


# --- smooth -------------------------------------------------------------------


async def test_smooth_is_app_queues_integer_average(ops_store: StateStore) -> None:
    counters = (("completed",), ("abandoned",))

    async def sample(value: int) -> int:
        await ops_store.apply([Patch("queue", "q", smooth=[(("holdTime",), value, counters)])])
        return int((await _get(ops_store, "queue", "q"))["holdTime"])

    # Nothing completed or abandoned yet: each sample replaces the value.
    assert await sample(2) == 2
    assert await sample(3) == 3
    await ops_store.apply([Patch("queue", "q", incr=[(("completed",), 2)])])
    assert await sample(11) == (3 * 3 + 11) >> 2 == 5
    assert await sample(0) == (3 * 5 + 0) >> 2 == 3


async def test_smooth_reads_counters_before_this_patch_counts(ops_store: StateStore) -> None:
    # The talk time of the first completed call is the sample itself, though
    # the same patch counts it: smooth comes before incr.
    patch = Patch(
        "queue",
        "q",
        smooth=[(("talkTime",), 7, (("completed",),))],
        incr=[(("completed",), 1)],
    )
    await ops_store.apply([patch])
    await ops_store.apply([Patch("queue", "q", smooth=[(("talkTime",), 8, (("completed",),))])])
    queue = await _get(ops_store, "queue", "q")
    assert queue["completed"] == 1
    assert queue["talkTime"] == (3 * 7 + 8) >> 2


# --- count_within and the service level ---------------------------------------


async def test_count_within_and_the_service_level_as_queue_status_prints_it(
    ops_store: StateStore,
) -> None:
    def answered(hold: int) -> Patch:
        return Patch(
            "queue",
            "q",
            count_within=[(("completedInServiceLevel",), hold, ("serviceLevel",))],
            incr=[(("completed",), 1)],
        )

    def abandoned(hold: int) -> Patch:
        return Patch(
            "queue",
            "q",
            count_within=[(("abandonedInServiceLevel",), hold, ("serviceLevel",))],
            incr=[(("abandoned",), 1)],
        )

    await ops_store.apply([Patch("queue", "q", {"serviceLevel": 20})])
    await ops_store.apply([answered(20), answered(21), answered(3), abandoned(25)])
    queue = await _get(ops_store, "queue", "q")
    assert (queue["completedInServiceLevel"], queue["abandonedInServiceLevel"]) == (2, 0)
    # app_queue: 100 * in / total, printed "%2.1f".
    assert queue["serviceLevelPerf"] == 66.7
    assert queue["serviceLevelPerf2"] == 50.0
    # No service level known: Asterisk's default of 0 s.
    await ops_store.apply([Patch("queue", "q", {"serviceLevel": None}), answered(0), answered(1)])
    queue = await _get(ops_store, "queue", "q")
    assert queue["completedInServiceLevel"] == 3
    assert queue["serviceLevelPerf"] == 60.0


# --- copy and fold ------------------------------------------------------------


async def test_copy_stages_and_fold_settles_without_counting_twice(ops_store: StateStore) -> None:
    await ops_store.apply(
        [Patch("operator", "SIP/1", {"queues": {"a": {"callsTaken": 4}, "b": {"callsTaken": 0}}})]
    )
    # Call answered: what each count will be once the call is over.
    staged = (("queues", EACH, "callsTaken"), ("queues", EACH, "after"), 1)
    await ops_store.apply([Patch("operator", "SIP/1", copy=[staged])])
    op = await _get(ops_store, "operator", "SIP/1")
    assert (op["queues"]["a"]["after"], op["queues"]["b"]["after"]) == (5, 1)
    # Asterisk already reported the new count of "a" before the call ended.
    await ops_store.apply(
        [Patch("operator", "SIP/1", maximum=[(("queues", "a", "callsTaken"), 5)])]
    )
    settle = (("queues", EACH, "after"), ("queues", EACH, "callsTaken"))
    await ops_store.apply([Patch("operator", "SIP/1", fold=[settle])])
    op = await _get(ops_store, "operator", "SIP/1")
    assert op["queues"]["a"] == {"callsTaken": 5}
    assert op["queues"]["b"] == {"callsTaken": 1}
    # Settling again changes nothing: the staged values are gone.
    before = await ops_store.version()
    await ops_store.apply([Patch("operator", "SIP/1", fold=[settle])])
    assert await ops_store.version() == before


async def test_copy_from_nothing_removes_the_target(ops_store: StateStore) -> None:
    await ops_store.apply([Patch("operator", "SIP/1", {"queues": {"a": {"after": 3}}})])
    await ops_store.apply(
        [Patch("operator", "SIP/1", copy=[(("queues", "a", "calls"), ("queues", "a", "after"), 1)])]
    )
    assert not (await _get(ops_store, "operator", "SIP/1"))["queues"]["a"]


# --- guards -------------------------------------------------------------------


async def test_guard_on_another_entity(ops_store: StateStore) -> None:
    member = Guard("operator", "SIP/1", ("queues",))
    counted = Patch("queue", "q", incr=[(("completed",), 1)], only_if=member)
    await ops_store.apply([counted])
    assert await ops_store.get("queue", "q") is None  # no such operator
    await ops_store.apply([Patch("operator", "SIP/1", {"queues": {"q": {}}})])
    await ops_store.apply([counted])
    assert (await _get(ops_store, "queue", "q"))["completed"] == 1
    # Removed from its last queue: present no more.
    await ops_store.apply([Patch("operator", "SIP/1", {"queues": {"q": None}})])
    await ops_store.apply([counted])
    assert (await _get(ops_store, "queue", "q"))["completed"] == 1


async def test_guard_equals_and_negate_and_a_guarded_delete(ops_store: StateStore) -> None:
    await ops_store.apply([Patch("operator", "SIP/1", {"status": "ringing", "queues": {"q": {}}})])
    idle_if_ringing = Patch(
        "operator",
        "SIP/1",
        {"status": "idle"},
        only_if=Guard("operator", "SIP/1", ("status",), equals="ringing"),
    )
    await ops_store.apply([idle_if_ringing])
    assert (await _get(ops_store, "operator", "SIP/1"))["status"] == "idle"
    await ops_store.apply([Patch("operator", "SIP/1", {"status": "in_call"}), idle_if_ringing])
    assert (await _get(ops_store, "operator", "SIP/1"))["status"] == "in_call"

    no_queue_left = Guard("operator", "SIP/1", ("queues",), negate=True)
    drop = Patch("operator", "SIP/1", delete=True, only_if=no_queue_left)
    await ops_store.apply([drop])
    assert await ops_store.get("operator", "SIP/1") is not None
    changes = await ops_store.apply(
        [Patch("operator", "SIP/1", {"queues": {"q": None}}), drop], return_changes=True
    )
    assert [c.op for c in changes] == ["upsert", "delete"]
    assert await ops_store.get("operator", "SIP/1") is None


async def test_plain_delete_still_works(ops_store: StateStore) -> None:
    await ops_store.apply([Patch("channel", "c", {"state": "up"})])
    await ops_store.apply([delete("channel", "c")])
    assert await ops_store.counts() == {"operator": 0, "queue": 0, "channel": 0}


# --- one JSON type on both engines ----------------------------------------------


async def test_an_empty_collection_is_an_empty_object_on_both_engines(
    ops_store: StateStore,
) -> None:
    """fakeredis' cjson would write an empty table as [], Redis' writes {}: the script
    stores and publishes {} on both."""
    changes = await ops_store.apply(
        [
            Patch("operator", "SIP/1", {"queues": {"q": {"paused": False}}}),
            Patch("operator", "SIP/1", {"queues": {"q": None}}),
            Patch("queue", "q", {"callers": {"a": {"position": 1}}}),
            Patch("queue", "q", {"callers": {"a": None}}),
        ],
        return_changes=True,
    )
    keys = ops_store.keys
    operator = await ops_store.redis.get(keys.operator("SIP/1"))
    queue = await ops_store.redis.get(keys.queue("q"))
    assert operator is not None and b'"queues":{}' in operator and b"[]" not in operator
    assert queue is not None and b'"callers":{}' in queue and b"[]" not in queue
    published = {c.kind: c.data for c in changes}  # the last change of each kind
    assert published["operator"] is not None and published["operator"]["queues"] == {}
    assert published["queue"] is not None and published["queue"]["callers"] == {}


# --- internal bookkeeping stays out of the entity ---------------------------------

STAGE = (("queues", EACH, "callsTaken"), ("callsAfterCall", EACH), 1)
SETTLE = (("callsAfterCall", EACH), ("queues", EACH, "callsTaken"))


async def _staged(store: StateStore, member_id: str) -> Any:
    raw = await store.redis.hget(store.keys.staged("operator"), member_id)
    return None if raw is None else orjson.loads(raw)


async def test_staged_counts_are_kept_apart_from_the_operator(ops_store: StateStore) -> None:
    await ops_store.apply(
        [Patch("operator", "SIP/1", {"queues": {"a": {"callsTaken": 4}, "b": {"callsTaken": 0}}})]
    )
    version = await ops_store.version()
    changes = await ops_store.apply([Patch("operator", "SIP/1", copy=[STAGE])], return_changes=True)
    # Nothing an answer shows changed: no version, no change published.
    assert changes == [] and await ops_store.version() == version
    raw = await ops_store.redis.get(ops_store.keys.operator("SIP/1"))
    assert raw is not None and b"callsAfterCall" not in raw
    assert await _staged(ops_store, "SIP/1") == {"callsAfterCall": {"a": 5, "b": 1}}

    # Gone with the membership it was staged for; settled into the ones left.
    await ops_store.apply([Patch("operator", "SIP/1", {"queues": {"b": None}})])
    assert await _staged(ops_store, "SIP/1") == {"callsAfterCall": {"a": 5}}
    changes = await ops_store.apply(
        [Patch("operator", "SIP/1", fold=[SETTLE])], return_changes=True
    )
    (change,) = changes
    assert change.data is not None and change.data["queues"] == {"a": {"callsTaken": 5}}
    assert "callsAfterCall" not in change.data
    assert await _staged(ops_store, "SIP/1") is None


async def test_a_count_staged_where_earlier_versions_put_it_goes_at_the_next_change(
    ops_store: StateStore,
) -> None:
    legacy = b'{"memberId":"SIP/1","queues":{"a":{"callsTaken":1,"callsAfterCall":2}}}'
    await ops_store.redis.set(ops_store.keys.operator("SIP/1"), legacy)
    await ops_store.redis.sadd(ops_store.keys.index("operator"), "SIP/1")
    await ops_store.apply([Patch("operator", "SIP/1", {"status": "idle"})])
    assert (await _get(ops_store, "operator", "SIP/1"))["queues"] == {"a": {"callsTaken": 1}}


async def test_staged_counts_go_with_their_operator_and_with_clear(ops_store: StateStore) -> None:
    for member_id in ("SIP/1", "SIP/2"):
        await ops_store.apply(
            [
                Patch("operator", member_id, {"queues": {"a": {"callsTaken": 1}}}),
                Patch("operator", member_id, copy=[STAGE]),
            ]
        )
    await ops_store.apply([delete("operator", "SIP/1")])
    assert await _staged(ops_store, "SIP/1") is None
    assert await _staged(ops_store, "SIP/2") == {"callsAfterCall": {"a": 2}}
    await ops_store.clear()
    assert not await ops_store.redis.exists(ops_store.keys.staged("operator"))


# --- operator normalization -----------------------------------------------------


async def test_an_operator_in_no_queue_has_no_primary_queue(ops_store: StateStore) -> None:
    await ops_store.apply(
        [Patch("operator", "SIP/1", {"queueName": "a", "queues": {"a": {}, "b": {}}})]
    )
    await ops_store.apply([Patch("operator", "SIP/1", {"queues": {"a": None}})])
    assert (await _get(ops_store, "operator", "SIP/1"))["queueName"] == "b"
    await ops_store.apply([Patch("operator", "SIP/1", {"queues": {"b": None}})])
    op = await _get(ops_store, "operator", "SIP/1")
    assert (op["queueName"], op["queues"], op["paused"]) == ("", {}, False)


async def test_wrapup_until_from_the_members_or_else_the_queues_wrapup(
    ops_store: StateStore,
) -> None:
    await ops_store.apply([Patch("queue", "sales", {"wrapupTime": 15})])
    await ops_store.apply(
        [
            Patch(
                "operator",
                "SIP/1",
                {
                    "queues": {
                        "sales": {"lastCall": 1000, "wrapupTime": 0},
                        "vip": {"lastCall": 1000, "wrapupTime": 30},
                        "idle": {"lastCall": 0},
                    }
                },
            )
        ]
    )
    queues = (await _get(ops_store, "operator", "SIP/1"))["queues"]
    assert queues["sales"]["wrapupUntil"] == 1015
    assert queues["vip"]["wrapupUntil"] == 1030
    assert "wrapupUntil" not in queues["idle"]


async def test_the_name_is_the_primary_queues_member_name(ops_store: StateStore) -> None:
    await ops_store.apply(
        [
            Patch(
                "operator",
                "Local/1001@agents/n",
                {
                    "queueName": "sales",
                    "queues": {"sales": {"memberName": "Alice"}, "rtq": {"memberName": "Alice RT"}},
                },
            )
        ]
    )
    op = await _get(ops_store, "operator", "Local/1001@agents/n")
    assert op["memberName"] == "Alice"


def test_merge_in_python_is_rfc_7396() -> None:
    target = {"a": 1, "b": {"c": 2, "d": 3}}
    assert merge(target, {"b": {"c": None, "e": 4}, "f": [1]}) == {
        "a": 1,
        "b": {"d": 3, "e": 4},
        "f": [1],
    }
    assert target == {"a": 1, "b": {"c": 2, "d": 3}}
    assert merge(target, "x") == "x"
    assert merge("x", {"a": None}) == {}
