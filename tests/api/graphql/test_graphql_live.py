"""The live mirror and the selectors: pure functions of (state, batch, arguments)."""

from __future__ import annotations

from typing import Any

import pytest

from api.graphql.enums import ChangeOp, UpdateKind
from api.graphql.selectors import (
    ChangesSelector,
    ChannelSelector,
    OperatorSelector,
    QueueSelector,
    UpdateHeader,
)
from api.live import LiveBatch, LiveReset, LiveState
from ingest.store import ChangeRecord, Snapshot, StateStore

NOW = 1_703_337_660_000


def op(member_id: str, version: int, status: str = "idle", **queues: dict[str, Any]) -> Any:
    """An operator as stored."""
    return {"memberId": member_id, "status": status, "queues": queues, "version": version}


def upsert(version: int, kind: str, entity_id: str, data: dict[str, Any]) -> ChangeRecord:
    """A published upsert."""
    return ChangeRecord(version=version, kind=kind, op="upsert", id=entity_id, data=data)


def delete(version: int, kind: str, entity_id: str) -> ChangeRecord:
    """A published delete."""
    return ChangeRecord(version=version, kind=kind, op="delete", id=entity_id, data=None)


@pytest.fixture
def live(store: StateStore) -> LiveState:
    """A mirror at version 3: queue sales, Alice (idle) and Bob (paused) in it, one channel."""
    mirror = LiveState(store, clock=lambda: NOW)
    mirror.load(
        Snapshot(
            version=3,
            operators=[
                op("PJSIP/1001", 1, sales={"queueName": "sales"}),
                op("PJSIP/1002", 2, sales={"queueName": "sales", "paused": True}),
            ],
            queues=[
                {
                    "name": "sales",
                    "version": 3,
                    "callers": {"c1": {"uniqueId": "c1", "joinedAt": NOW - 30_000}},
                }
            ],
            channels=[{"name": "SIP/a-1", "queueName": "sales", "version": 3}],
        )
    )
    return mirror


def test_load_builds_views_with_fresh_wait_times_and_member_counts(live: LiveState) -> None:
    (view,) = live.queue_views()
    assert view["callers"][0]["waitSeconds"] == 30
    assert view["members"] == {
        "total": 2,
        "available": 1,
        "inCall": 0,
        "ringing": 0,
        "paused": 1,
        "unavailable": 0,
    }


def test_an_operator_change_recomputes_its_queues_counts(live: LiveState) -> None:
    event = live.apply(
        [upsert(4, "operator", "PJSIP/1001", op("PJSIP/1001", 4, "in_call", sales={}))]
    )
    assert isinstance(event, LiveBatch)
    assert (event.from_version, event.to_version) == (3, 4)
    (queue,) = event.queues
    assert queue.id == "sales" and queue.data is not None
    assert queue.data["members"]["inCall"] == 1
    assert queue.data["members"]["available"] == 0
    assert queue.version == 3  # the queue entity itself did not change


def test_a_change_that_leaves_counts_alone_touches_no_queue(live: LiveState) -> None:
    data = op("PJSIP/1001", 4, sales={"queueName": "sales"})
    data["memberName"] = "Alice"
    event = live.apply([upsert(4, "operator", "PJSIP/1001", data)])
    assert isinstance(event, LiveBatch)
    assert event.queues == ()


def test_leaving_a_queue_updates_the_index(live: LiveState) -> None:
    live.apply([upsert(4, "operator", "PJSIP/1002", op("PJSIP/1002", 4))])
    view = live.queue_view("sales")
    assert view is not None
    assert view["members"]["total"] == 1


def test_queue_delete_is_reported_with_its_version(live: LiveState) -> None:
    event = live.apply([delete(4, "queue", "sales")])
    assert isinstance(event, LiveBatch)
    (queue,) = event.queues
    assert (queue.id, queue.data, queue.version) == ("sales", None, 4)
    assert live.queue_views() == []


def test_clear_is_a_reset(live: LiveState) -> None:
    event = live.apply([ChangeRecord(version=4, kind="all", op="clear", id="", data=None)])
    assert event == LiveReset(4, "live state cleared")
    assert live.operators() == [] and live.channels() == [] and live.queue_views() == []


def _frame(live: LiveState) -> UpdateHeader:
    return UpdateHeader(UpdateKind.CHANGES, 3, live.version)


def test_operator_filter_by_queue_sends_leavers_as_removals(live: LiveState) -> None:
    selector = OperatorSelector(queue="sales")
    # Bob leaves sales (and has no primary queue left): he no longer matches.
    event = live.apply([upsert(4, "operator", "PJSIP/1002", op("PJSIP/1002", 4))])
    assert isinstance(event, LiveBatch)
    update = selector.delta(event, _frame(live))
    assert update is not None
    assert update.operators == []
    assert [(r.id, r.version) for r in update.removed] == [("PJSIP/1002", 4)]


def test_operator_filter_ignores_other_operators(live: LiveState) -> None:
    selector = OperatorSelector(member_id="PJSIP/1001")
    event = live.apply([upsert(4, "operator", "PJSIP/1002", op("PJSIP/1002", 4, "ringing"))])
    assert isinstance(event, LiveBatch)
    assert selector.delta(event, _frame(live)) is None


def test_several_changes_of_one_entity_in_a_batch_collapse_to_the_last(live: LiveState) -> None:
    selector = OperatorSelector()
    event = live.apply(
        [
            upsert(4, "operator", "PJSIP/1001", op("PJSIP/1001", 4, "ringing")),
            upsert(5, "operator", "PJSIP/1001", op("PJSIP/1001", 5, "in_call")),
        ]
    )
    assert isinstance(event, LiveBatch)
    update = selector.delta(event, _frame(live))
    assert update is not None
    assert [(o.member_id, o.version) for o in update.operators] == [("PJSIP/1001", 5)]


def test_created_then_deleted_in_one_batch_sends_nothing(live: LiveState) -> None:
    event = live.apply(
        [upsert(4, "channel", "SIP/b-2", {"name": "SIP/b-2"}), delete(5, "channel", "SIP/b-2")]
    )
    assert isinstance(event, LiveBatch)
    assert ChannelSelector().delta(event, _frame(live)) is None


def test_channel_filter_by_queue(live: LiveState) -> None:
    selector = ChannelSelector(queue="sales")
    state = selector.state(live, UpdateHeader(UpdateKind.INITIAL, 0, 3))
    assert [c.name for c in state.channels] == ["SIP/a-1"]
    event = live.apply([upsert(4, "channel", "SIP/b-2", {"name": "SIP/b-2", "queueName": "x"})])
    assert isinstance(event, LiveBatch)
    assert selector.delta(event, _frame(live)) is None


def test_queue_selector_by_name(live: LiveState) -> None:
    assert (
        QueueSelector(name="nope").state(live, UpdateHeader(UpdateKind.INITIAL, 0, 3)).queues == []
    )
    state = QueueSelector(name="sales").state(live, UpdateHeader(UpdateKind.INITIAL, 0, 3))
    assert [q.name for q in state.queues] == ["sales"]
    assert state.queues[0].members.total == 2


def test_changes_selector_keeps_every_version(live: LiveState) -> None:
    event = live.apply(
        [
            upsert(4, "operator", "PJSIP/1001", op("PJSIP/1001", 4, "ringing", sales={})),
            delete(5, "channel", "SIP/a-1"),
        ]
    )
    assert isinstance(event, LiveBatch)
    batch = ChangesSelector().delta(event, _frame(live))
    assert [(c.version, c.op) for c in batch.changes] == [
        (4, ChangeOp.UPSERT),
        (5, ChangeOp.DELETE),
    ]
    assert (batch.from_version, batch.to_version) == (3, 5)
    assert batch.changes[0].operator is not None and batch.changes[1].channel is None
