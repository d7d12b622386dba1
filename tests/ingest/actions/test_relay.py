"""The action relay on real Redis: a requester (`RelayedConsole`) and the leader's server
(`ActionRelayServer`) running the real Asterisk console over the real ingest, logged in
to the simulator over TCP.

The leadership is the election's contract made by hand (a flag, an epoch, and the
epoch key the take script checks), so a test can say who leads, and when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from api.action_relay import RelayedConsole
from api.errors import GatewayTimeout, Unavailable
from ingest.actions.console import ActionOutcome, AsteriskConsole
from ingest.actions.relay_metrics import RelayMetrics
from ingest.actions.relay_server import GROUP, ActionRelayServer
from ingest.actions.relay_wire import Answer, Call, UnreadableCall, decode_answer, decode_call
from ingest.actions.requests import (
    AddMember,
    AmiRequest,
    Listen,
    ListenMode,
    PauseMember,
    SetPenalty,
)
from ingest.actions.verdicts import AsteriskRefused
from ingest.keys import KeySchema
from ingest.store import StateStore
from simulator import AmiSimulator, CallCentre, CentreConfig
from tests.ingest.actions.conftest import membership
from tests.support.ami import SECRET, LiveIngest, until

ALICE = "Local/1001@agents/n"  # static in sales
BOB = "Local/1002@agents/n"


@pytest.fixture
async def simulator() -> AsyncIterator[AmiSimulator]:
    """The lab call centre, quiet."""
    model = CallCentre(CentreConfig.lab(), seed=1)
    async with AmiSimulator(secret=SECRET, model=model, realtime=False) as sim:
        yield sim


@dataclass
class Leadership:
    """Who leads, as the election would say it."""

    leader: bool
    epoch: int

    def fencing_epoch(self) -> int:
        return self.epoch


@dataclass
class Leader:
    """A relay server running, with what it ran."""

    server: ActionRelayServer
    leadership: Leadership
    metrics: RelayMetrics
    task: asyncio.Task[None]


class CountingConsole(AsteriskConsole):
    """The real console, counting the actions it was given (at most once: the point)."""

    ran: list[str]

    async def send(self, request: AmiRequest) -> ActionOutcome:
        self.ran.append(type(request).__name__)
        return await super().send(request)


def counting_console(live: LiveIngest, store: StateStore) -> CountingConsole:
    console = CountingConsole(live.ingest, store, confirm_timeout=2.0)
    console.ran = []
    return console


@asynccontextmanager
async def leading(
    redis: Redis, keys: KeySchema, console: AsteriskConsole, epoch: int, **options: object
) -> AsyncIterator[Leader]:
    """A relay server leading with `epoch` (the PBX's epoch key set to it)."""
    await redis.set(keys.ingest("epoch"), epoch)
    leadership = Leadership(True, epoch)
    metrics = RelayMetrics(CollectorRegistry())
    server = ActionRelayServer(
        redis,
        keys,
        console,
        leadership,
        metrics=metrics,
        **options,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(server.run())
    try:
        yield Leader(server, leadership, metrics, task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def requester(redis: Redis, keys: KeySchema, *, take: float = 5.0) -> RelayedConsole:
    return RelayedConsole(
        redis,
        keys,
        take_timeout=take,
        confirm_timeout=2.0,
        metrics=RelayMetrics(CollectorRegistry()),
    )


def served(leader: Leader, outcome: str) -> float:
    value = leader.metrics.served.labels(outcome)._value.get()
    return float(value)


async def test_a_relayed_pause_runs_on_the_leader_and_comes_back_as_its_outcome(
    live: LiveIngest, store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    console = counting_console(live, store)
    async with leading(redis_client, keys, console, epoch=1) as leader:
        outcome = await requester(redis_client, keys).send(
            PauseMember(ALICE, ("sales",), True, "lunch")
        )

    assert outcome == ActionOutcome(True, "ami", "Interface paused successfully")
    after = await membership(store, ALICE, "sales")
    assert after is not None and (after["paused"], after["pausedReason"]) == (True, "lunch")
    assert console.ran == ["PauseMember"]
    assert served(leader, "ok") == 1
    # Answered and acknowledged: nothing left in the stream or pending in the group.
    assert await redis_client.xlen(keys.actions("requests")) == 0
    assert (await redis_client.xpending(keys.actions("requests"), GROUP))["pending"] == 0


async def test_asterisk_refusal_comes_back_with_its_words(
    live: LiveIngest, store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    console = counting_console(live, store)
    async with leading(redis_client, keys, console, epoch=1):
        with pytest.raises(AsteriskRefused) as refused:
            await requester(redis_client, keys).send(
                PauseMember("PJSIP/9999", ("sales",), True, "")
            )
    assert refused.value.action == "QueuePause"
    assert refused.value.asterisk_message == "Interface not found"


async def test_without_a_leader_the_action_is_refused_and_never_run_later(
    live: LiveIngest, store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    with pytest.raises(Unavailable) as refused:
        await requester(redis_client, keys, take=0.3).send(
            PauseMember(ALICE, ("sales",), True, "lunch")
        )
    assert refused.value.status_code == 503
    assert "no ingest leader took the action within 0.3 s" in refused.value.message
    assert await redis_client.xlen(keys.actions("requests")) == 1

    console = counting_console(live, store)
    async with leading(redis_client, keys, console, epoch=1) as leader:
        await until(lambda: served(leader, "expired") == 1, 10, "the stale request closed")
    assert console.ran == []
    after = await membership(store, ALICE, "sales")
    assert after is not None and after["paused"] is False
    assert await redis_client.xlen(keys.actions("requests")) == 0


async def test_a_request_pending_across_a_leader_change_runs_once_on_the_new_leader(
    live: LiveIngest, store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    """The old leader (epoch 1) reads the request after a newer one was elected (epoch 2):
    its take is refused as stale, it leaves the request pending, and the new leader
    claims and runs it once."""
    old_console, new_console = counting_console(live, store), counting_console(live, store)
    relay = requester(redis_client, keys)
    async with leading(redis_client, keys, old_console, epoch=1) as old:
        await redis_client.incr(keys.ingest("epoch"))  # elected elsewhere; it does not know
        waiting = asyncio.create_task(relay.send(SetPenalty("sales", ALICE, 3)))
        await until(lambda: relay.waiting == 1, 5, "the request sent")
        group = keys.actions("requests")

        async def pending() -> int:
            return int((await redis_client.xpending(group, GROUP))["pending"])

        async with asyncio.timeout(5):
            while await pending() == 0:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the old leader's take ran (and was refused)
        assert not waiting.done()
        old.leadership.leader = False
        async with leading(redis_client, keys, new_console, epoch=2) as new:
            outcome = await waiting
    assert outcome.confirmed is True
    assert old_console.ran == []
    assert new_console.ran == ["SetPenalty"]
    assert served(new, "ok") == 1
    after = await membership(store, ALICE, "sales")
    assert after is not None and after["penalty"] == 3


async def test_an_action_taken_by_a_leader_that_died_is_not_run_again(
    live: LiveIngest, store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    """Taken at epoch 1 (its leader died running it, before answering): the next leader
    acknowledges it without running it, and the requester answers 504."""
    relay = requester(redis_client, keys, take=1.0)
    relay.answer_timeout = 1.0
    stream = keys.actions("requests")
    await redis_client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    waiting = asyncio.create_task(relay.send(PauseMember(ALICE, ("sales",), True, "")))
    read: Any = []
    async with asyncio.timeout(5):
        while not read:
            read = await redis_client.xreadgroup(
                GROUP, "dead-leader", {stream: ">"}, count=1, block=100
            )
    request_id = read[0][1][0][1][b"id"].decode()
    await redis_client.set(keys.actions(f"taken:{request_id}"), "1")  # the leader took it

    console = counting_console(live, store)
    async with leading(redis_client, keys, console, epoch=2) as leader:
        with pytest.raises(GatewayTimeout) as timed_out:
            await waiting
        assert served(leader, "abandoned") == 1
    assert timed_out.value.status_code == 504
    assert "Asterisk may have done it" in timed_out.value.message
    assert console.ran == []
    assert await redis_client.xlen(stream) == 0


async def test_a_redelivered_request_gets_its_stored_answer_without_running_again(
    live: LiveIngest, store: StateStore, redis_client: Redis, keys: KeySchema
) -> None:
    stream = keys.actions("requests")
    stored = Answer(ActionOutcome(True, "ami", "from the first run")).encode()
    await redis_client.set(keys.actions("answer:r1"), stored)
    call = Call("send", PauseMember(ALICE, ("sales",), True, "")).encode()
    await redis_client.xadd(stream, {"v": "1", "id": "r1", "within": "5000", "call": call})
    console = counting_console(live, store)
    async with leading(redis_client, keys, console, epoch=1) as leader:
        popped = await redis_client.blpop([keys.actions("reply:r1")], timeout=5)
        assert served(leader, "duplicate") == 1
    assert popped is not None and decode_answer(popped[1]).outcome == ActionOutcome(
        True, "ami", "from the first run"
    )
    assert console.ran == []


def test_calls_round_trip_and_every_value_is_checked_again() -> None:
    for request in (
        PauseMember(BOB, ("sales", "support"), True, "lunch", all_queues=True),
        AddMember("sales", "Local/1006@agents/n", "Frank", "Custom:1006", 2, True, "x"),
        SetPenalty("sales", ALICE, 7),
        Listen("PJSIP/1009", "Local/1001@agents-0000000c;1", ListenMode.WHISPER),
    ):
        assert decode_call(Call("send", request).encode()).request == request
    smuggled = Call("send", PauseMember(ALICE, ("sales",), True, "x\r\nAction: Logoff"))
    with pytest.raises(UnreadableCall, match="reason"):
        decode_call(smuggled.encode())
    with pytest.raises(UnreadableCall):
        decode_call('{"method":"send","request":{"kind":"hangup"}}')
    with pytest.raises(UnreadableCall):
        decode_call("not json")
    assert decode_answer("{}").failure == "failed"
