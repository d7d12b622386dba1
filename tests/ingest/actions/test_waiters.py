"""Waiters resolve when every expected event has been applied — and only then."""

from __future__ import annotations

import asyncio

from ingest.actions.requests import AddMember, Expected, PauseMember, RemoveMember
from ingest.actions.waiters import EventWaiters

FRANK = "Local/1006@agents/n"


def _pause_event(queue: str, paused: str = "1", interface: str = FRANK) -> dict[str, str]:
    return {
        "Event": "QueueMemberPause",
        "Queue": queue,
        "Interface": interface,
        "MemberName": "Frank",
        "Paused": paused,
        "PausedReason": "break" if paused == "1" else "",
    }


async def test_resolves_only_after_every_expected_event_was_applied() -> None:
    waiters = EventWaiters()
    future = waiters.expect(PauseMember(FRANK, ("billing", "support"), True, "break").expected())
    assert len(waiters) == 1
    waiters.applied([_pause_event("billing")])
    assert not future.done()
    assert len(waiters) == 1
    waiters.applied([_pause_event("support")])
    assert future.done() and future.result() is None
    assert len(waiters) == 0


async def test_order_does_not_matter() -> None:
    waiters = EventWaiters()
    future = waiters.expect(PauseMember(FRANK, ("billing", "support"), True).expected())
    waiters.applied([_pause_event("support"), _pause_event("billing")])
    assert future.done()


async def test_unrelated_events_do_not_resolve() -> None:
    waiters = EventWaiters()
    future = waiters.expect(PauseMember(FRANK, ("billing",), True, "coffee").expected())
    waiters.applied(
        [
            _pause_event("support"),  # another queue
            _pause_event("billing", paused="0"),  # the opposite flag
            _pause_event("billing", interface="Local/1007@agents/n"),  # someone else
            {"Event": "QueueMemberPenalty", "Queue": "billing", "Interface": FRANK},
            {"Event": "QueueMemberAdded", "Queue": "billing", "Interface": FRANK},
            {"Response": "Success", "Message": "Interface paused successfully"},
        ]
    )
    assert not future.done()
    assert len(waiters) == 1
    waiters.applied([_pause_event("billing")])
    assert future.done()


async def test_nothing_expected_resolves_at_once_and_is_not_kept() -> None:
    waiters = EventWaiters()
    future = waiters.expect([])
    assert future.done()
    assert len(waiters) == 0


async def test_forget_stops_waiting_and_leaves_the_others() -> None:
    waiters = EventWaiters()
    forgotten = waiters.expect(AddMember("billing", FRANK).expected())
    kept = waiters.expect(RemoveMember("support", FRANK).expected())
    waiters.forget(forgotten)
    assert len(waiters) == 1
    waiters.applied([{"Event": "QueueMemberAdded", "Queue": "billing", "Interface": FRANK}])
    assert not forgotten.done()
    waiters.applied([{"Event": "QueueMemberRemoved", "Queue": "support", "Interface": FRANK}])
    assert kept.done()
    assert len(waiters) == 0
    waiters.forget(kept)  # forgetting a resolved one is harmless
    assert len(waiters) == 0


async def test_one_event_resolves_every_waiter_expecting_it() -> None:
    waiters = EventWaiters()
    expected = [Expected("QueueMemberAdded", (("Queue", "billing"), ("Interface", FRANK)))]
    first, second = waiters.expect(expected), waiters.expect(expected)
    waiters.applied([{"Event": "QueueMemberAdded", "Queue": "billing", "Interface": FRANK}])
    assert first.done() and second.done()


async def test_a_cancelled_waiter_is_dropped_on_the_next_batch() -> None:
    waiters = EventWaiters()
    future = waiters.expect(AddMember("billing", FRANK).expected())
    future.cancel()
    waiters.applied([{"Event": "Newchannel"}])
    assert len(waiters) == 0


async def test_events_applied_before_expecting_do_not_count() -> None:
    waiters = EventWaiters()
    event = {"Event": "QueueMemberAdded", "Queue": "billing", "Interface": FRANK}
    waiters.applied([event])
    future = waiters.expect(AddMember("billing", FRANK).expected())
    await asyncio.sleep(0)
    assert not future.done()
    waiters.applied([event])
    assert future.done()
