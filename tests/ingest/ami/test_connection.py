"""The AMI connection and the ordered consumer, against the simulator over real TCP."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ingest.ami.action_ids import PROCESS_TOKEN, is_ours, new_action_id
from ingest.ami.connection import AmiEndpoint
from ingest.ami.message import AmiMessage
from ingest.runners.ami_runner import AmiIngest, EventApplier
from simulator import AmiSimulator
from tests.support.proxy import FaultProxy


class Recorder:
    """An applier that records what the consumer hands it, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    async def apply_events(
        self, messages: list[AmiMessage], now: int, *, writer: tuple[str, int]
    ) -> int:
        self.log.extend(("event", dict(m)) for m in messages)
        return len(messages)

    async def apply_snapshot(
        self, collected: dict[str, list[Any]], now: int, *, queue: str | None = None
    ) -> int:
        self.log.append(("snapshot", {k: len(v) for k, v in collected.items()}))
        return 0

    def events(self, name: str) -> list[dict[str, Any]]:
        return [item for kind, item in self.log if kind == "event" and item.get("Event") == name]

    def snapshots(self) -> int:
        return sum(1 for kind, _ in self.log if kind == "snapshot")


async def _no_queues() -> set[str]:
    return set()


@pytest.fixture
async def simulator() -> AsyncIterator[AmiSimulator]:
    sim = AmiSimulator(secret="sim-secret")
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def _ingest(port: int, recorder: Recorder, secret: str = "sim-secret", **kwargs: Any) -> AmiIngest:
    return AmiIngest(
        AmiEndpoint("127.0.0.1", port, "admin", secret),
        EventApplier(recorder.apply_events, recorder.apply_snapshot),
        known_queues=_no_queues,
        **kwargs,
    )


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_connects_logs_in_and_takes_a_snapshot(
    simulator: AmiSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    recorder = Recorder()
    ingest = _ingest(simulator.port, recorder)
    ingest.start()
    try:
        await _until(lambda: recorder.snapshots() == 1)
        assert ingest.status.connected
        assert ingest.status.stale is False
    finally:
        await ingest.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert f"Connecting to AMI 127.0.0.1:{simulator.port} as admin" in messages
    assert "AMI connected" in messages


async def test_events_keep_arrival_order_around_the_snapshot(simulator: AmiSimulator) -> None:
    recorder = Recorder()
    ingest = _ingest(simulator.port, recorder, reconcile_interval=3600)
    ingest.start()
    try:
        await _until(lambda: recorder.snapshots() == 1)
        model = simulator.model
        assert model is not None
        for n in range(3):
            model.queue_pause("Local/1001@agents/n", True, queue="sales", reason=f"r{n}")
            model.queue_pause("Local/1001@agents/n", False, queue="sales")
        simulator.flush()
        await _until(lambda: len(recorder.events("QueueMemberPause")) == 6)
    finally:
        await ingest.stop()
    pauses = recorder.events("QueueMemberPause")
    assert [p["Paused"] for p in pauses] == ["1", "0"] * 3
    assert [p["PausedReason"] for p in pauses[::2]] == ["r0", "r1", "r2"]


async def test_reconnects_after_a_reset_and_reconciles_again(simulator: AmiSimulator) -> None:
    recorder = Recorder()
    ingest = _ingest(simulator.port, recorder)
    ingest.start()
    try:
        await _until(lambda: recorder.snapshots() == 1)
        simulator.drop_connections()
        await _until(lambda: not ingest.status.connected, timeout=5)
        assert ingest.status.stale is True
        await _until(lambda: recorder.snapshots() == 2)
        assert ingest.status.connected
        assert ingest.status.reconnects == 1
        assert ingest.status.stale is False
    finally:
        await ingest.stop()


async def test_a_blackhole_is_noticed_by_the_heartbeat(simulator: AmiSimulator) -> None:
    proxy = FaultProxy("127.0.0.1", simulator.port)
    await proxy.start()
    recorder = Recorder()
    ingest = _ingest(proxy.port, recorder, ping_interval=0.3)
    ingest.start()
    try:
        await _until(lambda: recorder.snapshots() == 1)
        proxy.blackhole()
        await _until(lambda: not ingest.status.connected, timeout=5)
        assert "Ping" in (ingest.status.last_error or "")
        proxy.restore()
        await _until(lambda: recorder.snapshots() == 2, timeout=15)
    finally:
        await ingest.stop()
        await proxy.stop()


async def test_refused_login_is_a_clear_error_without_the_secret(
    simulator: AmiSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + secrets.token_hex(8)
    recorder = Recorder()
    ingest = _ingest(simulator.port, recorder, secret=wrong)
    ingest.start()
    try:
        await _until(lambda: ingest.status.last_error is not None)
    finally:
        await ingest.stop()
    assert ingest.status.connected is False
    assert "login refused" in (ingest.status.last_error or "")
    assert any("AMI login refused for admin" in r.getMessage() for r in caplog.records)
    assert wrong not in caplog.text
    assert recorder.snapshots() == 0


async def test_unreachable_asterisk_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    recorder = Recorder()
    ingest = _ingest(1, recorder)
    ingest.start()
    try:
        await _until(lambda: ingest.connection.reconnects >= 2, timeout=10)
    finally:
        await ingest.stop()
    assert "connection failed" in (ingest.status.last_error or "")
    assert any("AMI connection to 127.0.0.1:1 failed" in r.getMessage() for r in caplog.records)


class CrowdedAsterisk(AmiSimulator):
    """Another manager session originates calls: its OriginateResponse events reach us
    too, with its ActionIDs. Before answering a QueueStatus, this Asterisk sends three:
    one with exactly our ActionID, one in panoramisk's form, one in our old snapshot form;
    then a member event, then the answer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queue_status_ids: list[str | None] = []

    def answer(self, name: str, message: Any, action_id: str | None) -> list[Any] | None:
        if name != "queuestatus":
            return super().answer(name, message, action_id)
        self.queue_status_ids.append(action_id)
        foreign = {
            "Event": "OriginateResponse",
            "Privilege": "call,all",
            "Response": "Failure",
            "Channel": "Local/sales@callers",
            "Reason": "0",
        }
        ids = [str(action_id), "action/3f1c2d9e-0000-4000-8000-000000000000/1/1", "qs-snapshot-1"]
        self.emit([{**foreign, "ActionID": foreign_id} for foreign_id in ids])
        self.model.queue_pause("Local/1001@agents/n", True, queue="sales", reason="crowded")
        self.flush()
        return super().answer(name, message, action_id)


async def test_another_sessions_action_ids_neither_answer_nor_place_the_snapshot() -> None:
    recorder = Recorder()
    sim = CrowdedAsterisk(secret="sim-secret", realtime=False)
    async with sim:
        ingest = _ingest(sim.port, recorder, reconcile_interval=3600)
        ingest.start()
        try:
            await _until(lambda: recorder.snapshots() == 1)
        finally:
            await ingest.stop()
    (action_id,) = sim.queue_status_ids
    assert action_id is not None and is_ours(action_id)
    kinds = [
        kind if kind == "snapshot" else f"{item['Event']}:{item.get('ActionID', '')}"
        for kind, item in recorder.log
    ]
    # The foreign messages are events like any other; the snapshot sits at our answer,
    # after the member event Asterisk sent before it.
    assert kinds == [
        "FullyBooted:",
        f"OriginateResponse:{action_id}",
        "OriginateResponse:action/3f1c2d9e-0000-4000-8000-000000000000/1/1",
        "OriginateResponse:qs-snapshot-1",
        "DeviceStateChange:",  # Queue:sales_pause_Local/1001@agents/n
        "QueueMemberPause:",
        "snapshot",
    ]
    (_, lists), *_ = [(k, i) for k, i in recorder.log if k == "snapshot"]
    assert lists["queue_status"] > 0


def test_our_action_ids_are_unique_to_this_process() -> None:
    first, second = new_action_id(), new_action_id("snapshot")
    assert first != second and all(map(is_ours, (first, second)))
    assert PROCESS_TOKEN in first and len(PROCESS_TOKEN) == 16
    assert not is_ours("action/3f1c2d9e-0000-4000-8000-000000000000/1/1")
    assert not is_ours("qs-snapshot-1")


@pytest.mark.parametrize(
    ("events", "mask"),
    [
        (None, frozenset({"system", "call", "agent"})),  # the default: AMI_EVENTS
        ("on", None),  # every class
    ],
)
async def test_logs_in_with_the_event_mask_it_is_given(
    simulator: AmiSimulator, events: str | None, mask: frozenset[str] | None
) -> None:
    recorder = Recorder()
    endpoint = AmiEndpoint("127.0.0.1", simulator.port, "admin", "sim-secret")
    if events is not None:
        endpoint = AmiEndpoint("127.0.0.1", simulator.port, "admin", "sim-secret", events)
    ingest = AmiIngest(
        endpoint,
        EventApplier(recorder.apply_events, recorder.apply_snapshot),
        known_queues=_no_queues,
    )
    ingest.start()
    try:
        await _until(lambda: recorder.snapshots() == 1)
        [session] = simulator._connections  # the session Asterisk keeps for our login
        assert session.mask == mask
    finally:
        await ingest.stop()


async def test_dispatch_remembers_routes_and_forgets_them_when_a_pattern_is_added() -> None:
    from panoramisk.message import Message

    from ingest.ami.connection import _Manager

    manager = _Manager(on_lost=lambda _: None, loop=asyncio.get_running_loop())
    seen: list[tuple[str, str]] = []
    manager.register_event("*", lambda _m, event: seen.append(("*", event.event)))
    manager.dispatch(Message({"Event": "Hangup"}))
    manager.dispatch(Message({"Event": "Hangup"}))
    manager.register_event("Hang*", lambda _m, event: seen.append(("Hang*", event.event)))
    matched = manager.dispatch(Message({"Event": "Hangup"}))
    manager.dispatch(Message({"Event": "Newstate"}))
    assert sorted(matched) == ["*", "Hang*"]
    assert seen == [
        ("*", "Hangup"),
        ("*", "Hangup"),
        ("*", "Hangup"),
        ("Hang*", "Hangup"),
        ("*", "Newstate"),
    ]
