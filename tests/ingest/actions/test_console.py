"""Supervisor actions end to end over a real TCP socket: the console, the real AMI ingest
(connection, ordered consumer, pipeline) on real Redis, and the simulated Asterisk.

A confirmed outcome means the store already holds the change: each test reads
right after `send` returns, without polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from ingest.actions.console import AsteriskConsole
from ingest.actions.requests import AddMember, PauseMember, RemoveMember, SetPenalty
from ingest.actions.verdicts import AsteriskRefused, RefusalKind
from ingest.ami.message import AmiMessageDict
from ingest.runners.ami_runner import AmiUnavailable
from ingest.store import StateStore
from simulator import AmiSimulator, CallCentre, CentreConfig, Privileges
from tests.ingest.actions.conftest import membership
from tests.support.ami import SECRET, LiveIngest, running_ingest, until

ALICE = "Local/1001@agents/n"  # static in sales
BOB = "Local/1002@agents/n"  # static in support (penalty 1) and sales
EVE = "Local/1005@agents/n"  # static in support
FRANK = "Local/1006@agents/n"  # in no queue of the lab
CONFIRM = 2.0


@pytest.fixture
async def simulator() -> AsyncIterator[AmiSimulator]:
    """The lab call centre; model time moves only when a test says so."""
    model = CallCentre(CentreConfig.lab(), seed=1)
    async with AmiSimulator(secret=SECRET, model=model, realtime=False) as sim:
        yield sim


@pytest.fixture
def console(live: LiveIngest, store: StateStore) -> AsteriskConsole:
    return AsteriskConsole(live.ingest, store, confirm_timeout=CONFIRM)


async def test_pause_is_confirmed_and_read_back_at_once(
    console: AsteriskConsole, live: LiveIngest, store: StateStore
) -> None:
    before = await membership(store, ALICE, "sales")
    assert before is not None and before["paused"] is False

    outcome = await console.send(PauseMember(ALICE, ("sales",), True, "lunch"))

    assert outcome.confirmed is True
    assert outcome.via == "ami"
    assert outcome.asterisk_message == "Interface paused successfully"
    after = await membership(store, ALICE, "sales")
    assert after is not None
    assert (after["paused"], after["pausedReason"]) == (True, "lunch")
    assert len(live.ingest.waiters) == 0

    outcome = await console.send(PauseMember(ALICE, ("sales",), False))
    assert outcome.confirmed is True
    assert outcome.asterisk_message == "Interface unpaused successfully"
    after = await membership(store, ALICE, "sales")
    assert after is not None and after["paused"] is False


async def test_pause_in_every_queue_waits_for_each_queue(
    console: AsteriskConsole, store: StateStore
) -> None:
    outcome = await console.send(
        PauseMember(BOB, ("support", "sales"), True, "training", all_queues=True)
    )
    assert outcome.confirmed is True
    for queue in ("support", "sales"):
        member = await membership(store, BOB, queue)
        assert member is not None
        assert (member["paused"], member["pausedReason"]) == (True, "training")


async def test_penalty_is_confirmed_and_read_back(
    console: AsteriskConsole, store: StateStore
) -> None:
    outcome = await console.send(SetPenalty("support", BOB, 4))
    assert outcome.confirmed is True
    support, sales = await membership(store, BOB, "support"), await membership(store, BOB, "sales")
    assert support is not None and support["penalty"] == 4
    assert sales is not None and sales["penalty"] == 0


async def test_add_then_add_again_is_a_conflict_and_remove_takes_it_out(
    console: AsteriskConsole, live: LiveIngest, store: StateStore
) -> None:
    add = AddMember("billing", FRANK, member_name="Frank", state_interface="Custom:1006", penalty=2)
    outcome = await console.send(add)
    assert outcome.confirmed is True
    assert outcome.asterisk_message == "Added interface to queue"
    added = await membership(store, FRANK, "billing")
    assert added is not None
    assert (added["membership"], added["penalty"], added["memberName"]) == ("dynamic", 2, "Frank")

    with pytest.raises(AsteriskRefused) as refused:
        await console.send(add)
    assert refused.value.kind is RefusalKind.CONFLICT
    assert refused.value.asterisk_message == "Unable to add interface: Already there"
    assert refused.value.action == "QueueAdd"
    assert len(live.ingest.waiters) == 0, "a refused action's waiter is forgotten"

    outcome = await console.send(RemoveMember("billing", FRANK))
    assert outcome.confirmed is True
    assert await membership(store, FRANK, "billing") is None

    with pytest.raises(AsteriskRefused) as refused:
        await console.send(RemoveMember("billing", FRANK))
    assert refused.value.kind is RefusalKind.NOT_FOUND
    assert refused.value.asterisk_message == "Unable to remove interface: Not there"


async def test_removing_a_static_member_is_refused_as_not_dynamic(
    console: AsteriskConsole, store: StateStore
) -> None:
    with pytest.raises(AsteriskRefused) as refused:
        await console.send(RemoveMember("sales", ALICE))
    assert refused.value.kind is RefusalKind.CONFLICT
    assert refused.value.asterisk_message == "Member not dynamic"
    assert await membership(store, ALICE, "sales") is not None


async def test_pausing_an_unknown_interface_is_refused_as_not_found(
    console: AsteriskConsole, live: LiveIngest, simulator: AmiSimulator
) -> None:
    with pytest.raises(AsteriskRefused) as refused:
        await console.send(PauseMember("Local/1999@agents/n", ("sales",), True))
    assert refused.value.kind is RefusalKind.NOT_FOUND
    assert refused.value.asterisk_message == "Interface not found"
    assert "Interface not found" in str(refused.value)
    assert len(live.ingest.waiters) == 0
    assert simulator.actions_received["QueuePause"] == 1


async def test_adding_to_a_queue_asterisk_does_not_have_is_not_found(
    console: AsteriskConsole,
) -> None:
    with pytest.raises(AsteriskRefused) as refused:
        await console.send(AddMember("nosuch", FRANK))
    assert refused.value.kind is RefusalKind.NOT_FOUND
    assert refused.value.asterisk_message == "Unable to add interface to queue: No such queue"


async def test_without_events_the_outcome_is_pending_and_nothing_is_written(
    console: AsteriskConsole, live: LiveIngest, simulator: AmiSimulator, store: StateStore
) -> None:
    pending = AsteriskConsole(live.ingest, store, confirm_timeout=0.3)
    simulator.pause_events()
    loop = asyncio.get_running_loop()
    started = loop.time()

    outcome = await pending.send(PauseMember(ALICE, ("sales",), True, "lunch"))

    assert loop.time() - started >= 0.3
    assert outcome.confirmed is False
    assert outcome.asterisk_message == "Interface paused successfully"
    member = await membership(store, ALICE, "sales")
    assert member is not None and member["paused"] is False, "no intent is written"
    assert len(live.ingest.waiters) == 0

    # The event comes late: the store follows Asterisk then.
    simulator.resume_events()
    await until(lambda: live.status.events_read >= simulator.events_sent)
    await until(live.caught_up)
    member = await membership(store, ALICE, "sales")
    assert member is not None and member["paused"] is True


async def test_ami_disconnected_is_unavailable(
    console: AsteriskConsole, live: LiveIngest, simulator: AmiSimulator
) -> None:
    await simulator.stop()
    await until(lambda: not live.status.connected, what="the disconnect")
    with pytest.raises(AmiUnavailable):
        await console.send(PauseMember(ALICE, ("sales",), True))
    with pytest.raises(AmiUnavailable):
        await live.ingest.reconcile_queue("sales", timeout=1.0)
    assert len(live.ingest.waiters) == 0


async def test_a_user_without_the_agent_write_class_is_refused_for_permission(
    store: StateStore,
) -> None:
    model = CallCentre(CentreConfig.lab(), seed=1)
    read_only = Privileges.parse(read="call,agent", write="")
    async with (
        AmiSimulator(secret=SECRET, model=model, realtime=False, privileges=read_only) as sim,
        running_ingest(store, sim.port) as running,
    ):
        await running.settled()
        console = AsteriskConsole(running.ingest, store, confirm_timeout=CONFIRM)
        with pytest.raises(AsteriskRefused) as refused:
            await console.send(PauseMember(ALICE, ("sales",), True))
        assert refused.value.kind is RefusalKind.PERMISSION
        assert refused.value.asterisk_message == "Permission denied"


class _EventsFirst(AmiSimulator):
    """An Asterisk that sends an action's events before its Response."""

    def answer(
        self, name: str, message: AmiMessageDict, action_id: str | None
    ) -> list[AmiMessageDict] | None:
        result = super().answer(name, message, action_id)
        self.flush()
        return result


async def test_events_before_the_response_still_confirm(store: StateStore) -> None:
    model = CallCentre(CentreConfig.lab(), seed=1)
    async with (
        _EventsFirst(secret=SECRET, model=model, realtime=False) as sim,
        running_ingest(store, sim.port) as running,
    ):
        await running.settled()
        console = AsteriskConsole(running.ingest, store, confirm_timeout=CONFIRM)
        outcome = await console.send(PauseMember(EVE, ("support",), True, "meeting"))
        assert outcome.confirmed is True
        member = await membership(store, EVE, "support")
        assert member is not None and member["pausedReason"] == "meeting"


async def test_reconcile_queue_corrects_that_queue_only(
    live: LiveIngest, simulator: AmiSimulator, store: StateStore
) -> None:
    # Changes nobody hears (as queues.conf edits would be): Bob in both of his queues.
    model = simulator.model
    model.queue_penalty(BOB, 5, queue="sales")
    model.queue_penalty(BOB, 7, queue="support")
    model.queue_pause(EVE, True, queue="support", reason="silent")
    model.drain()
    reconciliations = live.status.reconciliations

    corrections = await live.ingest.reconcile_queue("sales", timeout=5.0)

    assert corrections >= 1
    sales = await membership(store, BOB, "sales")
    support = await membership(store, BOB, "support")
    eve = await membership(store, EVE, "support")
    assert sales is not None and sales["penalty"] == 5
    assert support is not None and support["penalty"] == 1, "support was not reconciled"
    assert eve is not None and eve["paused"] is False
    # Not a full reconciliation: its figures are untouched.
    assert live.status.reconciliations == reconciliations
    assert live.status.drift_corrections == 0

    # Nothing left to correct in sales; the other queue's drift was real.
    assert await live.ingest.reconcile_queue("sales", timeout=5.0) == 0
    assert await live.ingest.reconcile_queue("support", timeout=5.0) >= 2
    support = await membership(store, BOB, "support")
    eve = await membership(store, EVE, "support")
    assert support is not None and support["penalty"] == 7
    assert eve is not None and (eve["paused"], eve["pausedReason"]) == (True, "silent")
    assert simulator.actions_received["QueueStatus"] >= 4


class _ChangesAfterQueueStatus(AmiSimulator):
    """An Asterisk where something changes right after it answered a QueueStatus: the
    change's event follows the answer on the wire."""

    after_queue_status: list[Callable[[CallCentre], None]]

    def answer(
        self, name: str, message: AmiMessageDict, action_id: str | None
    ) -> list[AmiMessageDict] | None:
        result = super().answer(name, message, action_id)
        if name == "queuestatus" and self.after_queue_status:
            self.after_queue_status.pop(0)(self.model)
        return result


async def test_reconcile_queue_keeps_its_place_among_events(store: StateStore) -> None:
    """The event sent after the snapshot's answer is applied after the snapshot."""
    model = CallCentre(CentreConfig.lab(), seed=1)
    sim = _ChangesAfterQueueStatus(secret=SECRET, model=model, realtime=False)
    sim.after_queue_status = []
    async with sim, running_ingest(store, sim.port) as running:
        await running.settled()
        model.queue_penalty(ALICE, 3, queue="sales")
        model.drain()  # lost: only the snapshot tells
        sim.after_queue_status.append(lambda m: m.queue_penalty(ALICE, 9, queue="sales"))

        corrections = await running.ingest.reconcile_queue("sales", timeout=5.0)

        assert corrections >= 1  # the snapshot's penalty 3
        await until(lambda: running.status.events_read >= sim.events_sent)
        await until(running.caught_up)
        alice = await membership(store, ALICE, "sales")
        assert alice is not None and alice["penalty"] == 9, "the later event is not undone"
        assert not sim.after_queue_status, "the change came after the answer"
