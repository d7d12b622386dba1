"""Replaying recorded traces over TCP, and the helpers that locate QueueStatus points."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import pytest

from ingest.ami.message import AmiMessageDict
from simulator.connection import wanted
from simulator.replay import (
    NO_SNAPSHOT,
    Replay,
    ReplayOptions,
    Trace,
    final_queue_status,
    load_trace,
    queue_status_at,
    queue_status_points,
)
from simulator.server import AmiSimulator
from simulator.wire import BANNER
from tests.support.ami_client import Client as RawClient
from tests.support.traces import load_expected

TRACES = (
    "a_startup",
    "b_single_call",
    "c_ringnoanswer",
    "d_abandon",
    "e_member_admin",
    "h_realtime",
)
TIMEOUT = 5.0


class Client(RawClient):
    """The raw AMI client, with what the replay tests also ask of it."""

    async def read_events(self, count: int) -> list[AmiMessageDict]:
        return [await self.read() for _ in range(count)]

    async def listing(self, message: Mapping[str, str | list[str]]) -> list[AmiMessageDict]:
        await self.send(message)
        aid = message.get("ActionID")
        return await self.until(lambda m: m.get("ActionID") == aid and "ListItems" in m)

    async def quiet(self) -> bool:
        """True when nothing but the answer to a Ping arrives (no stray events)."""
        await self.send({"Action": "Ping", "ActionID": "quiet?"})
        return "Ping" in await self.read()


class Session:
    """Connects clients to one replaying simulator and cleans up after the test."""

    def __init__(self, sim: AmiSimulator) -> None:
        self.sim = sim
        self.clients: list[Client] = []

    async def connect(self, *, events: str = "on") -> tuple[Client, list[AmiMessageDict]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.sim.port)
        client = Client(reader, writer)
        self.clients.append(client)
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == BANNER
        await client.send(
            {
                "Action": "Login",
                "ActionID": "L",
                "Username": "admin",
                "Secret": "pw",
                "Events": events,
            }
        )
        reply = await client.read()
        assert reply == {
            "Response": "Success",
            "ActionID": "L",
            "Message": "Authentication accepted",
        }
        trace = self.sim.replay.trace if self.sim.replay else None
        preamble = trace.preamble if trace else 0
        return client, await client.read_events(preamble)

    async def close(self) -> None:
        for client in self.clients:
            client.writer.close()
            with contextlib.suppress(ConnectionError):
                await client.writer.wait_closed()


@contextlib.asynccontextmanager
async def replaying(name: str, options: ReplayOptions | None = None) -> AsyncIterator[Session]:
    replay = Replay(load_trace(name), options)
    async with AmiSimulator(secret="pw", replay=replay) as sim:
        session = Session(sim)
        try:
            yield session
        finally:
            await session.close()


@pytest.mark.parametrize("name", TRACES)
async def test_replay_streams_exactly_the_unsolicited_events(name: str) -> None:
    trace = load_trace(name)
    async with replaying(name) as session:
        client, preamble = await session.connect()
        snapshot = await client.listing({"Action": "QueueStatus", "ActionID": "mine-1"})
        streamed = await client.read_events(len(trace.events) - trace.preamble)
        assert [*preamble, *streamed] == list(trace.events)
        assert all("ActionID" not in m for m in streamed)
        assert await client.quiet()
        assert snapshot[0]["ActionID"] == "mine-1"
        assert all(m["ActionID"] == "mine-1" for m in snapshot)
        assert session.sim.events_sent == len(trace.events)


async def test_startup_snapshots_come_from_a_startup_with_the_clients_ids() -> None:
    startup = load_trace("a_startup")
    async with replaying("c_ringnoanswer", ReplayOptions(settle=0.2)) as session:
        client, _ = await session.connect()
        status = await client.listing({"Action": "QueueStatus", "ActionID": "x1"})
        recorded = startup.lists_of("QueueStatus")[0]
        assert status[1:-1] == [{**i, "ActionID": "x1"} for i in recorded.items]
        assert status[-1] == {**recorded.complete, "ActionID": "x1"}
        summary = await client.listing(
            {"Action": "QueueSummary", "ActionID": "x2", "Queue": "sales"}
        )
        assert [m["Queue"] for m in summary[1:-1]] == ["sales"]
        assert summary[-1]["ListItems"] == "1"
        channels = await client.listing({"Action": "CoreShowChannels", "ActionID": "x3"})
        assert channels[-1]["ListItems"] == "0"
        devices = await client.listing({"Action": "DeviceStateList", "ActionID": "x4"})
        assert len(devices) == 18 and devices[1]["ActionID"] == "x4"


async def test_h_realtime_answers_with_its_own_first_queue_status() -> None:
    trace = load_trace("h_realtime")
    async with replaying("h_realtime") as session:
        client, _ = await session.connect()
        status = await client.listing({"Action": "QueueStatus", "ActionID": "rt"})
        assert status[1:-1] == [{**i, "ActionID": "rt"} for i in trace.lists[0].items]
        assert {m.get("Queue") for m in status[1:-1]} == {"rtq"}


async def test_a_later_snapshot_request_is_an_error() -> None:
    async with replaying("b_single_call") as session:
        client, _ = await session.connect()
        await client.listing({"Action": "QueueStatus", "ActionID": "first"})
        await client.read_events(1)  # the stream has begun
        await client.send({"Action": "QueueStatus", "ActionID": "again"})
        reply = await client.until(lambda m: m.get("ActionID") == "again")
        assert reply[-1] == {
            "Response": "Error",
            "ActionID": "again",
            "Message": NO_SNAPSHOT,
        }
        assert all("ActionID" not in m for m in reply[:-1])  # only stream events before it


async def test_requests_in_the_startup_burst_all_get_startup_answers() -> None:
    options = ReplayOptions(await_snapshots=("QueueStatus", "CoreShowChannels"))
    async with replaying("d_abandon", options) as session:
        client, _ = await session.connect()
        for n, action in enumerate(("QueueStatus", "QueueSummary", "CoreShowChannels")):
            await client.send({"Action": action, "ActionID": f"b{n}"})
        messages = await client.until(lambda m: m.get("Event") == "CoreShowChannelsComplete")
        responses = [m for m in messages if "Response" in m]
        assert [r["Response"] for r in responses] == ["Success"] * 3
        assert all("ActionID" in m for m in messages)  # the stream waited for them


async def test_stop_after_streams_only_that_many_events() -> None:
    trace = load_trace("e_member_admin")
    point = queue_status_at(trace, 42)
    assert point is not None
    async with replaying(
        "e_member_admin", ReplayOptions(stop_after=point.events_before)
    ) as session:
        client, preamble = await session.connect()
        await client.listing({"Action": "QueueStatus", "ActionID": "s"})
        streamed = await client.read_events(point.events_before - len(preamble))
        assert [*preamble, *streamed] == list(trace.events[:42])
        assert await client.quiet()
    assert [i["Event"] for i in point.plain_items()] == [
        "QueueParams",
        "QueueMember",
        "QueueMember",
        "QueueEntry",
    ]


async def test_drop_after_closes_and_the_reconnect_sees_the_final_state() -> None:
    trace = load_trace("c_ringnoanswer")
    expected = load_expected("c_ringnoanswer")
    async with replaying("c_ringnoanswer", ReplayOptions(drop_after=100)) as session:
        client, preamble = await session.connect()
        await client.listing({"Action": "QueueStatus", "ActionID": "a"})
        streamed = await client.read_events(100 - len(preamble))
        assert [*preamble, *streamed] == list(trace.events[:100])
        assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""

        again, booted = await session.connect()
        assert booted == list(trace.events[: trace.preamble])
        status = await again.listing({"Action": "QueueStatus", "ActionID": "b"})
        final = final_queue_status(trace)
        assert status[1:-1] == [{**i, "ActionID": "b"} for i in final.items]
        members = [m for m in status if m.get("Event") == "QueueMember"]
        raw_members = [m for ms in expected["raw"]["QueueMember"].values() for m in ms]
        key = ("Queue", "Location", "CallsTaken", "Status", "Paused")
        assert sorted(tuple(m[k] for k in key) for m in members) == sorted(
            tuple(m[k] for k in key) for m in raw_members
        )
        summary = await again.listing({"Action": "QueueSummary", "ActionID": "c"})
        assert [m["Queue"] for m in summary[1:-1]] == [
            q["Queue"] for q in expected["queue_summary"]
        ]
        channels = await again.listing({"Action": "CoreShowChannels", "ActionID": "d"})
        assert channels[-1]["ListItems"] == "0"
        again_status = await again.listing({"Action": "QueueStatus", "ActionID": "e"})
        assert again_status[0]["Response"] == "Success"  # final answers never run out
        assert await again.quiet()


async def test_stream_without_waiting_for_a_snapshot() -> None:
    trace = load_trace("b_single_call")
    async with replaying("b_single_call", ReplayOptions(await_snapshots=())) as session:
        client, preamble = await session.connect()
        streamed = await client.read_events(len(trace.events) - len(preamble))
        assert streamed[-1] == trace.events[-1]


async def test_events_off_still_answers_snapshots() -> None:
    async with replaying("b_single_call", ReplayOptions(await_snapshots=())) as session:
        reader, writer = await asyncio.open_connection("127.0.0.1", session.sim.port)
        client = Client(reader, writer)
        session.clients.append(client)
        await reader.readline()
        await client.send({"Action": "Login", "Username": "admin", "Secret": "pw", "Events": "off"})
        assert (await client.read())["Response"] == "Success"
        await asyncio.sleep(0.1)
        assert await client.quiet()


def test_queue_status_points_locate_each_response() -> None:
    trace = load_trace("e_member_admin")
    points = queue_status_points(trace)
    assert [(p.action_id, p.events_before, p.line) for p in points] == [
        ("drv-8", 13, 21),
        ("drv-10", 42, 57),
        ("drv-22", 146, 178),
    ]
    assert points[0].request["Queue"] == "billing"
    assert queue_status_at(trace, 13) is points[0]
    assert queue_status_at(trace, 14) is None
    assert final_queue_status(trace) is points[-1]
    expected = load_expected("e_member_admin")
    assert points[-1].complete == expected["raw"]["Complete"]


@pytest.mark.parametrize("name", TRACES)
def test_every_trace_loads_with_a_login_preamble(name: str) -> None:
    trace = Trace.load(name)
    assert trace.preamble == 2
    assert [e["Event"] for e in trace.events[:2]] == ["FullyBooted", "SuccessfulAuth"]
    assert trace.event_lines[0] == 2


async def test_a_replay_sends_only_the_classes_of_the_login_mask() -> None:
    trace = load_trace("b_single_call")
    mask = frozenset({"system", "call", "agent"})
    expected = [e for e in trace.events if wanted(e, mask)]
    assert 0 < len(expected) < len(trace.events), "the trace has dialplan events to leave out"
    async with replaying("b_single_call", ReplayOptions(await_snapshots=())) as session:
        reader, writer = await asyncio.open_connection("127.0.0.1", session.sim.port)
        client = Client(reader, writer)
        session.clients.append(client)
        await reader.readline()
        await client.send(
            {"Action": "Login", "Username": "admin", "Secret": "pw", "Events": ",".join(mask)}
        )
        assert (await client.read())["Response"] == "Success"
        assert await client.read_events(len(expected)) == expected
        assert await client.quiet()
        assert session.sim.events_sent == len(expected)
