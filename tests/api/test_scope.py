"""What a token scoped to some queues sees: the pure rules of api.scope and of scoped batches."""

from __future__ import annotations

from api.auth import OPEN, Grant
from api.graphql.scoped import ScopedLive, scope_batch
from api.live import EntityChange, LiveBatch
from api.scope import (
    channel_in_scope,
    operator_for,
    scope_channels,
    scope_operator,
    scope_operators,
    scope_queues,
)
from api.settings import Role
from ingest.patches import JsonObject

SALES = frozenset({"sales"})

# As the store holds them (ingest/lua/apply.lua derives queueName, paused, pausedReason).
BOB: JsonObject = {
    "memberId": "PJSIP/1002",
    "memberName": "Bob (support)",
    "status": "idle",
    "queueName": "support",
    "paused": False,
    "pausedReason": "",
    "queues": {
        "sales": {
            "queueName": "sales",
            "paused": True,
            "pausedReason": "lunch",
            "memberName": "Bob",
        },
        "support": {"queueName": "support", "paused": False, "memberName": "Bob (support)"},
    },
    "version": 7,
}
ALICE: JsonObject = {
    "memberId": "PJSIP/1001",
    "queueName": "sales",
    "queues": {"sales": {"queueName": "sales"}},
}
CAROL: JsonObject = {
    "memberId": "PJSIP/1003",
    "queueName": "support",
    "queues": {"support": {"queueName": "support"}},
}
LONER: JsonObject = {"memberId": "PJSIP/1009", "queueName": "", "queues": {}}


def test_an_operator_in_two_queues_is_seen_with_the_memberships_in_scope_only() -> None:
    seen = scope_operator(BOB, SALES)
    assert seen == {
        "memberId": "PJSIP/1002",
        "memberName": "Bob",  # the new primary membership's name, as the store would take
        "status": "idle",
        "queueName": "sales",  # its primary queue (support) is not seen
        "paused": True,  # paused in every queue it is seen in
        "pausedReason": "lunch",
        "queues": {
            "sales": {
                "queueName": "sales",
                "paused": True,
                "pausedReason": "lunch",
                "memberName": "Bob",
            }
        },
        "version": 7,
    }
    assert list(seen) == list(BOB)  # the documented key order is kept
    assert BOB["queues"].keys() == {"sales", "support"}  # never mutated


def test_an_operator_wholly_in_scope_is_the_same_object() -> None:
    assert scope_operator(ALICE, SALES) is ALICE
    assert scope_operator(BOB, frozenset({"sales", "support"})) is BOB


def test_operators_outside_the_scope_or_in_no_queue_are_not_seen() -> None:
    assert scope_operator(CAROL, SALES) is None
    assert scope_operator(LONER, SALES) is None
    assert scope_operator({"memberId": "x", "queues": "not an object"}, SALES) is None
    assert [op["memberId"] for op in scope_operators([ALICE, BOB, CAROL, LONER], SALES)] == [
        "PJSIP/1001",
        "PJSIP/1002",
    ]


def test_the_primary_queue_stays_when_it_is_in_scope() -> None:
    seen = scope_operator(BOB, frozenset({"support"}))
    assert seen is not None
    assert seen["queueName"] == "support"
    assert seen["memberName"] == "Bob (support)"
    assert (seen["paused"], seen["pausedReason"]) == (False, "")


def test_operator_for_an_unscoped_grant_is_the_operator() -> None:
    assert operator_for(OPEN, BOB) is BOB
    assert operator_for(Grant(Role.VIEWER, SALES), CAROL) is None
    assert operator_for(Grant(Role.VIEWER, SALES), None) is None


def test_channels_of_the_queues_in_scope_and_of_the_operators_seen() -> None:
    channels: list[JsonObject] = [
        {"name": "sales-caller", "queueName": "sales"},
        {"name": "bob-on-support", "queueName": "support", "memberId": "PJSIP/1002"},
        {"name": "carol-on-support", "queueName": "support", "memberId": "PJSIP/1003"},
        {"name": "no-queue"},
    ]
    seen = scope_channels(channels, SALES, [ALICE, BOB, CAROL])
    assert [c["name"] for c in seen] == ["sales-caller", "bob-on-support"]
    assert not channel_in_scope(channels[3], SALES, lambda member: True)


def test_queues_in_scope() -> None:
    queues: list[JsonObject] = [{"name": "billing"}, {"name": "sales"}, {"name": "support"}]
    assert scope_queues(queues, SALES) == [{"name": "sales"}]


class _Live:
    """The part of a live mirror the scoped views read."""

    version = 20

    def __init__(self, operators: list[JsonObject], channels: list[JsonObject]) -> None:
        self._operators = {str(op["memberId"]): op for op in operators}
        self._channels = channels

    def operators(self) -> list[JsonObject]:
        return [self._operators[key] for key in sorted(self._operators)]

    def operator(self, member_id: str) -> JsonObject | None:
        return self._operators.get(member_id)

    def channels(self) -> list[JsonObject]:
        return self._channels

    def queue_views(self, now: int | None = None) -> list[JsonObject]:
        return [{"name": "sales"}, {"name": "support"}]

    def queue_view(self, name: str, now: int | None = None) -> JsonObject | None:
        return {"name": name}


def test_the_scoped_live_state() -> None:
    live = ScopedLive(_Live([ALICE, BOB, CAROL], [{"name": "c", "queueName": "support"}]), SALES)
    assert live.version == 20
    assert [op["memberId"] for op in live.operators()] == ["PJSIP/1001", "PJSIP/1002"]
    assert live.operator("PJSIP/1003") is None
    assert live.operator("PJSIP/1002") == scope_operator(BOB, SALES)
    assert live.channels() == []
    assert live.queue_views() == [{"name": "sales"}]
    assert live.queue_view("support") is None
    assert live.queue_view("sales") == {"name": "sales"}


def _change(
    version: int, kind: str, entity_id: str, data: JsonObject | None, previous: JsonObject | None
) -> EntityChange:
    return EntityChange(version, kind, entity_id, data, previous)  # type: ignore[arg-type]


def test_a_batch_as_a_scoped_token_sees_it() -> None:
    carol_joins_sales = dict(CAROL, queues={**CAROL["queues"], "sales": {"queueName": "sales"}})
    bob_leaves_sales = dict(BOB, queues={"support": BOB["queues"]["support"]})
    batch = LiveBatch(
        10,
        16,
        (
            _change(11, "operator", "PJSIP/1003", CAROL, None),  # never seen: dropped
            _change(12, "operator", "PJSIP/1003", carol_joins_sales, CAROL),  # enters: new
            _change(13, "operator", "PJSIP/1002", bob_leaves_sales, BOB),  # leaves: deleted
            _change(14, "queue", "support", {"name": "support"}, None),  # dropped
            _change(15, "channel", "c1", {"name": "c1", "memberId": "PJSIP/1001"}, None),
            _change(16, "channel", "c2", {"name": "c2", "queueName": "support"}, None),
        ),
        (_change(14, "queue", "support", {"name": "support"}, None),),
    )
    live = _Live([ALICE, bob_leaves_sales, carol_joins_sales], [])
    seen = scope_batch(batch, SALES, live)
    assert (seen.from_version, seen.to_version) == (10, 16)  # versions are never renumbered
    assert [(c.version, c.id, c.data is None, c.previous is None) for c in seen.changes] == [
        (12, "PJSIP/1003", False, True),
        (13, "PJSIP/1002", True, False),
        (15, "c1", False, True),
    ]
    assert seen.changes[0].data == scope_operator(carol_joins_sales, SALES)
    assert seen.changes[1].previous == scope_operator(BOB, SALES)
    assert seen.queues == ()
