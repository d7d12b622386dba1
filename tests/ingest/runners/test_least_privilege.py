"""Every path that rebuilds the state, for a manager user Asterisk refuses the lists to.

The simulator serves the lab (traffic on a clock that moves only when the test
says) to a user whose write classes do not allow CoreShowChannels and
DeviceStateList: Asterisk answers both ``Permission denied``. Over real TCP
and real Redis, each rebuild path must bring queues, memberships, member
status, pause, reason, penalty, calls and the queue counters to the
simulator's truth with QueueStatus alone: the first login, a reconnect, an
Asterisk restart (noticed by the reconnect: a ``read = call,agent`` user gets
no FullyBooted), a queue Reload, Redis coming back empty. (The resync
endpoint: `tests.api.test_ami_status`.) Channels are compared only where
events alone keep them: without CoreShowChannels they are never reconciled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ingest.ami.sources import NOT_AVAILABLE, PERMISSION_DENIED, TIMED_OUT
from ingest.keys import KeySchema
from ingest.store import StateStore
from simulator import (
    LEAST_PRIVILEGE,
    AmiSimulator,
    Privileges,
)
from tests.support.ami import SECRET, running_ingest, until
from tests.support.busy_lab import lab, traffic
from tests.support.expected import state_view, truth_view
from tests.support.proxy import FaultProxy

# Reads everything (FullyBooted, Reload), may still not ask for the lists.
LISTS_REFUSED = Privileges.parse(write="agent")
REFUSED = {
    "queueStatus": "ok",
    "coreShowChannels": PERMISSION_DENIED,
    "deviceStateList": PERMISSION_DENIED,
}


@pytest.fixture
async def simulator() -> AsyncIterator[AmiSimulator]:
    async with AmiSimulator(
        secret=SECRET, model=lab(), realtime=False, privileges=LEAST_PRIVILEGE
    ) as sim:
        yield sim


async def assert_equals_truth(store: StateStore, sim: AmiSimulator) -> None:
    """Queues and members (every compared field) are exactly the simulator's."""
    assert state_view(await store.snapshot()) == truth_view(sim.truth())


def asked(sim: AmiSimulator) -> tuple[int, int, int]:
    """How often QueueStatus, CoreShowChannels and DeviceStateList were asked."""
    counts = sim.actions_received
    return counts["QueueStatus"], counts["CoreShowChannels"], counts["DeviceStateList"]


async def test_first_login_builds_everything_from_queue_status_alone(
    simulator: AmiSimulator, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await traffic(simulator, 120)  # calls, pauses and counters before we ever connect
    simulator.model.queue_pause("Local/1002@agents/n", True, queue="sales", reason="lunch")
    async with running_ingest(store, simulator.port) as live:
        await live.settled()
        await assert_equals_truth(store, simulator)
        status = live.status
        assert status.reconciliations == 1 and not status.stale
        assert status.as_json()["snapshotSources"] == REFUSED
        assert asked(simulator) == (1, 1, 1)
    refusals = [m for m in caplog.messages if "Permission denied" in m]
    assert refusals == [
        "CoreShowChannels refused by Asterisk (Permission denied); the manager user needs "
        "write = system or reporting. Snapshots go on without it (channels come from "
        "events only); asked again every 3600 s",
        "DeviceStateList refused by Asterisk (Permission denied); the manager user needs "
        "write = call or reporting. Snapshots go on without it (a member Asterisk reports "
        "as UNKNOWN stays unknown); asked again every 3600 s",
    ]
    assert not [m for m in caplog.messages if "Snapshot not taken" in m]


async def test_refused_lists_are_asked_again_only_at_the_reconcile_interval(
    simulator: AmiSimulator, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_ingest(store, simulator.port, reconcile_interval=2.0) as live:
        await live.settled()
        for n in (2, 3):  # sooner than the interval: a reload, Redis back …
            live.ingest.request_reconcile("test: another snapshot")
            await live.settled(reconciliations=n)
        assert asked(simulator) == (3, 1, 1)
        await live.settled(reconciliations=4, timeout=10)  # the interval's own snapshot
        assert asked(simulator)[1:] == (2, 2)
        assert live.status.as_json()["snapshotSources"] == REFUSED
    # Reported once, not at every snapshot.
    assert sum("CoreShowChannels refused" in m for m in caplog.messages) == 1
    assert sum("DeviceStateList refused" in m for m in caplog.messages) == 1


async def test_a_reconnect_after_missed_events_reconciles_from_queue_status_alone(
    simulator: AmiSimulator, ami_proxy: FaultProxy, store: StateStore
) -> None:
    async with running_ingest(store, ami_proxy.port) as live:
        await live.settled()
        await traffic(simulator, 60)
        await live.settled(events=simulator.events_sent)
        simulator.drop_connections()
        ami_proxy.refuse(reset=False)
        await until(lambda: not live.status.connected, what="the drop noticed")
        await traffic(simulator, 120)  # nobody hears these
        await until(live.caught_up)
        assert state_view(await store.snapshot()) != truth_view(simulator.truth())

        ami_proxy.restore()
        await live.settled(reconciliations=2)
        await assert_equals_truth(store, simulator)
        status = live.status
        assert status.reconnects >= 1 and status.drift_corrections > 0
        assert status.as_json()["snapshotSources"] == REFUSED


@pytest.mark.parametrize(
    ("privileges", "fully_booted"),
    [
        pytest.param(LEAST_PRIVILEGE, False, id="read-call-agent-no-FullyBooted"),
        pytest.param(LISTS_REFUSED, True, id="read-all-FullyBooted"),
    ],
)
async def test_an_asterisk_restart_is_noticed_by_the_reconnect(
    store: StateStore,
    caplog: pytest.LogCaptureFixture,
    privileges: Privileges,
    fully_booted: bool,
) -> None:
    caplog.set_level(logging.INFO)
    before = AmiSimulator(secret=SECRET, model=lab(), realtime=False, privileges=privileges)
    after = AmiSimulator(secret=SECRET, model=lab(seed=8), realtime=False, privileges=privileges)
    proxy = FaultProxy("127.0.0.1", 1)
    async with before, after:
        proxy.upstream = ("127.0.0.1", before.port)
        await proxy.start()
        try:
            await traffic(before, 120)  # up for a while when we log in
            async with running_ingest(store, proxy.port) as live:
                await live.settled()
                await traffic(before, 120)
                await live.settled(events=before.events_sent)
                # Asterisk restarts: counters back to 0, pauses gone, calls dropped.
                proxy.upstream = ("127.0.0.1", after.port)
                before.drop_connections()
                await traffic(after, 10)
                await until(lambda: live.status.reconnects >= 1, what="the reconnect")
                await live.settled(reconciliations=2)
                await until(lambda: live.ingest.status.queue_depth == 0 and live.caught_up())
                await assert_equals_truth(store, after)
        finally:
            await proxy.stop()
    restarted = "Reconciliation requested: Asterisk restarted" in caplog.messages
    assert restarted is fully_booted


async def test_a_queue_reload_is_reconciled_from_queue_status_alone(store: StateStore) -> None:
    async with (
        AmiSimulator(secret=SECRET, model=lab(), realtime=False, privileges=LISTS_REFUSED) as sim,
        running_ingest(store, sim.port) as live,
    ):
        await live.settled()
        await traffic(sim, 60)
        await live.settled(events=sim.events_sent)
        # What a reload changes reaches no event (e.g. a penalty in queues.conf).
        sim.model.queue_penalty("Local/1003@agents/n", 4, queue="sales")
        sim.model.drain()
        assert state_view(await store.snapshot()) != truth_view(sim.truth())
        sim.emit(
            [
                {
                    "Event": "Reload",
                    "Privilege": "system,all",
                    "Module": "app_queue.so",
                    "Status": "0",
                }
            ]
        )
        await live.settled(reconciliations=2)
        await assert_equals_truth(store, sim)
        assert live.status.as_json()["snapshotSources"] == REFUSED


async def test_redis_back_empty_is_rebuilt_from_queue_status_alone(
    simulator: AmiSimulator,
    redis_proxy: FaultProxy,
    redis_client: Redis,
    store: StateStore,
    keys: KeySchema,
) -> None:
    flaky = Redis.from_url(
        f"redis://127.0.0.1:{redis_proxy.port}/0", socket_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    try:
        async with running_ingest(StateStore(flaky, keys), simulator.port) as live:
            await live.settled()
            await traffic(simulator, 60)
            await live.settled(events=simulator.events_sent)
            # Redis goes down and comes back empty while the calls go on.
            redis_proxy.refuse()
            await traffic(simulator, 60)
            await until(lambda: live.status.redis_errors > 0, what="a failed write")
            await store.clear()
            redis_proxy.restore()
            await live.settled(events=simulator.events_sent, reconciliations=2)
            await assert_equals_truth(store, simulator)
            assert live.status.events_dropped == 0
    finally:
        await flaky.aclose()


class SilentOnDevices(AmiSimulator):
    """An Asterisk that never answers DeviceStateList (a module stuck, a lost answer)."""

    def answer(self, name: str, message: Any, action_id: str | None) -> list[Any] | None:
        if name == "devicestatelist":
            return []
        return super().answer(name, message, action_id)


@pytest.mark.parametrize(
    ("silent", "privileges", "outcome"),
    [
        pytest.param(True, None, TIMED_OUT, id="no-answer"),
        pytest.param(
            False, Privileges.parse(unloaded=["DeviceStateList"]), NOT_AVAILABLE, id="unloaded"
        ),
    ],
)
async def test_a_list_without_an_answer_is_treated_like_a_refusal(
    store: StateStore, silent: bool, privileges: Privileges | None, outcome: str
) -> None:
    kind = SilentOnDevices if silent else AmiSimulator
    sim = kind(secret=SECRET, model=lab(), realtime=False, privileges=privileges)
    async with sim, running_ingest(store, sim.port, list_timeout=0.5) as live:
        await traffic(sim, 60)
        await live.settled(events=sim.events_sent)
        await assert_equals_truth(store, sim)
        assert live.status.as_json()["snapshotSources"] == {
            "queueStatus": "ok",
            "coreShowChannels": "ok",
            "deviceStateList": outcome,
        }
        # The channels Asterisk did list are reconciled all the same.
        assert live.status.reconciliations == 1
