"""The event pipeline on real Redis: one store round trip per batch, counters, snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from ingest.keys import KeySchema
from ingest.patches import Change
from ingest.pipeline import EventPipeline
from ingest.runners.file_runner import list_answers
from ingest.store import ChangeRecord, StateStore
from ingest.traces import load_jsonl, load_sent

NOW = 1_795_696_400_000


@cache
def _lists(trace: str) -> dict[str, list[dict[str, Any]]]:
    """A trace's list answers by ActionID, as the connection collects them (items only)."""
    return {
        answer.action_id: [dict(item) for item in answer.items]
        for answer in list_answers(load_jsonl(trace), load_sent(trace))
    }


def collected() -> dict[str, list[dict[str, Any]]]:
    """What the AMI connection hands over after a login (a_startup's answers)."""
    answers = _lists("a_startup")
    return {
        "queue_status": answers["drv-2"],
        "channels": answers["drv-7"],
        "device_states": answers["drv-8"],
    }


class CountingStore(StateStore):
    """The real store, counting round trips."""

    def __init__(self, redis: Redis, keys: KeySchema) -> None:
        super().__init__(redis, keys)
        self.calls = 0

    async def apply(
        self,
        changes: Sequence[Change],
        *,
        now: int | None = None,
        return_changes: bool = False,
        writer: tuple[str, int] | None = None,
        epoch: int | None = None,
    ) -> list[ChangeRecord]:
        self.calls += 1
        return await super().apply(
            changes, now=now, return_changes=return_changes, writer=writer, epoch=epoch
        )


async def test_a_snapshot_then_a_batch_of_events_in_one_round_trip(
    redis_client: Redis, keys: KeySchema
) -> None:
    store = CountingStore(redis_client, keys)
    pipeline = EventPipeline(store)
    assert await pipeline.apply_snapshot(collected(), now=NOW) == 8
    assert pipeline.counters.reconciliations == 1
    assert pipeline.counters.corrections == 8

    # b_single_call, everything it received (responses and list items too) in one batch.
    messages = [message for _, message in load_jsonl("b_single_call")]
    store.calls = 0
    applied = await pipeline.apply(messages, now=NOW)
    assert store.calls == 1
    counters = pipeline.counters
    assert counters.received == len(messages) == 134
    assert counters.responses == 6  # the banner and five action responses
    assert counters.applied == applied == 29
    assert counters.ignored == 134 - 6 - 29
    assert counters.patches >= applied
    alice = await store.get("operator", "Local/1001@agents/n")
    assert alice is not None
    assert alice["queues"]["sales"]["callsTaken"] == 1
    assert await store.counts() == {"operator": 5, "queue": 3, "channel": 0}


async def test_the_same_snapshot_again_corrects_nothing(store: StateStore) -> None:
    pipeline = EventPipeline(store)
    await pipeline.apply_snapshot(collected(), now=NOW)
    version = await store.version()
    assert await pipeline.apply_snapshot(collected(), now=NOW + 60_000) == 0
    assert await store.version() == version


async def test_a_snapshot_without_queue_status_reconciles_channels_only(
    store: StateStore,
) -> None:
    pipeline = EventPipeline(store)
    await pipeline.apply_snapshot(collected(), now=NOW)
    from ingest.patches import Patch

    await store.apply([Patch("channel", "Local/stale;1", {"state": "up"})])
    assert await pipeline.apply_snapshot({"channels": []}, now=NOW) == 1
    assert await store.counts() == {"operator": 5, "queue": 3, "channel": 0}


async def test_nothing_is_counted_when_the_store_is_down(keys: KeySchema) -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    pipeline = EventPipeline(StateStore(down, keys))
    batch = [message for _, message in load_jsonl("b_single_call")][:40]
    try:
        with pytest.raises(RedisConnectionError):
            await pipeline.apply(batch, now=NOW)
    finally:
        await down.aclose()
    # The caller retries the same batch; it is counted once, when it lands.
    assert pipeline.counters.received == pipeline.counters.applied == 0


async def test_the_clock_stamps_a_batch_without_a_time(store: StateStore) -> None:
    pipeline = EventPipeline(store, clock=lambda: 1_234_000)
    newchannel = next(m for _, m in load_jsonl("b_single_call") if m.get("Event") == "Newchannel")
    assert await pipeline.apply([newchannel]) == 1
    channel = await store.get("channel", str(newchannel["Channel"]))
    assert channel is not None
    assert channel["createdAt"] == channel["updatedAt"] == 1_234_000


def _message(trace: str, index: int, **changes: str) -> dict[str, Any]:
    return {**load_jsonl(trace)[index][1], **changes}


async def test_a_member_removed_during_the_call_is_not_counted(store: StateStore) -> None:
    pipeline = EventPipeline(store)
    frank = "Local/1006@agents/n"
    await pipeline.apply(
        [
            _message("e_member_admin", 6),  # Frank added to billing
            _message("e_member_admin", 108),  # answers a billing caller
            _message("e_member_admin", 172, Queue="billing"),  # removed from billing mid-call
            _message("e_member_admin", 134),  # AgentComplete
        ],
        now=NOW,
    )
    assert await store.get("operator", frank) is None  # no membership brought back
    billing = await store.get("queue", "billing")
    assert billing is not None
    assert billing["completed"] == 0
    assert billing["holdTime"] == 6  # the answer itself was averaged in


@pytest.mark.parametrize("report_after_complete", [False, True])
async def test_shared_lastcall_counts_every_queue_whatever_the_order(
    store: StateStore, report_after_complete: bool
) -> None:
    """Bob's support CallsTaken: no event ever reports it; a stale report may come late."""
    pipeline = EventPipeline(store)
    await pipeline.apply_snapshot(collected(), now=NOW)
    connect = [_message("c_ringnoanswer", i) for i in (372, 382, 383)]
    stale_support = _message("c_ringnoanswer", 443)  # support, idle, CallsTaken 0
    fresh_sales = _message("c_ringnoanswer", 444)  # sales, idle, CallsTaken 1
    complete = _message("c_ringnoanswer", 464)  # without channel fields
    ending = (
        [fresh_sales, complete, stale_support]
        if report_after_complete
        else [stale_support, fresh_sales, complete]
    )
    for message in [*connect, *ending]:
        await pipeline.apply([message], now=NOW)
    bob = await store.get("operator", "Local/1002@agents/n")
    assert bob is not None
    assert {q: m["callsTaken"] for q, m in bob["queues"].items()} == {"sales": 1, "support": 1}
    assert all("callsAfterCall" not in m for m in bob["queues"].values())
    assert bob["status"] == "idle"
    assert "currentCallId" not in bob and "currentChannel" not in bob  # the call is over
    sales = await store.get("queue", "sales")
    assert sales is not None
    assert (sales["completed"], sales["talkTime"], sales["holdTime"]) == (1, 7, 3)


async def test_a_ring_timeout_leaves_the_status_to_what_asterisk_reports_next(
    store: StateStore,
) -> None:
    """Eve's support ring times out: the auto-pause still says RINGING, and so do we,
    until her device stops ringing (c_ringnoanswer)."""
    pipeline = EventPipeline(store)
    await pipeline.apply_snapshot(collected(), now=NOW)
    eve = "Local/1005@agents/n"
    seen = []
    for index in (57, 63, 65, 76):  # rung, RingNoAnswer, auto-pause, device idle
        await pipeline.apply([_message("c_ringnoanswer", index)], now=NOW)
        operator = await store.get("operator", eve)
        assert operator is not None
        seen.append((operator["status"], operator["queues"]["support"]["paused"]))
    assert seen == [("ringing", False), ("ringing", False), ("ringing", True), ("idle", True)]
