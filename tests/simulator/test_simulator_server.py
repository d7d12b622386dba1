"""The simulator over real TCP sockets, checked against what Asterisk sent in the traces."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from panoramisk import Manager

from ingest.ami.message import AmiMessageDict
from simulator.centre import CallCentre
from simulator.privileges import LEAST_PRIVILEGE, Privileges
from simulator.replay import load_trace
from simulator.server import AmiSimulator, serve
from tests.support.ami_client import TIMEOUT, Client, Clients, recorded, without

START = 1795696000.0


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    model = CallCentre(clock=lambda: START, seed=3)
    async with AmiSimulator(secret="secret", model=model, realtime=False) as server:
        yield server


@pytest.fixture
async def client(sim: AmiSimulator, clients: Clients) -> Client:
    client = await clients.connect(sim.port)
    await client.login()
    return client


async def test_login_accepted_then_fully_booted(sim: AmiSimulator, clients: Clients) -> None:
    client = await clients.connect(sim.port)
    reply, booted = await client.login()
    expected = load_trace("a_startup").messages
    assert reply == expected[1]
    assert list(booted) == list(expected[2])
    assert booted["Event"] == "FullyBooted" and booted["Status"] == "Fully Booted"


async def test_bad_login_is_refused_and_hung_up(sim: AmiSimulator, clients: Clients) -> None:
    client = await clients.connect(sim.port)
    [reply] = await client.login(secret="wrong")
    assert reply == {
        "Response": "Error",
        "ActionID": "drv-1",
        "Message": "Authentication failed",
    }
    assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""


async def test_actions_before_login_are_denied(sim: AmiSimulator, clients: Clients) -> None:
    client = await clients.connect(sim.port)
    [reply] = await client.action({"Action": "QueueStatus", "ActionID": "early"})
    assert reply == {
        "Response": "Error",
        "ActionID": "early",
        "Message": "Permission denied",
    }


async def test_queue_status_at_rest_has_a_startups_shape(client: Client) -> None:
    ours = await client.listing({"Action": "QueueStatus", "ActionID": "drv-2"})
    theirs = recorded("a_startup", "drv-2")
    assert [list(m) for m in ours] == [list(m) for m in theirs]
    assert without(ours, "LoginTime") == without(theirs, "LoginTime")


@pytest.mark.parametrize(
    ("action", "action_id"),
    [
        ({"Action": "QueueSummary"}, "drv-3"),
        ({"Action": "QueueStatus", "Queue": "sales"}, "drv-4"),
        ({"Action": "QueueStatus", "Queue": "support", "Member": "Local/1002@agents/n"}, "drv-5"),
        ({"Action": "QueueSummary", "Queue": "billing"}, "drv-6"),
        ({"Action": "CoreShowChannels"}, "drv-7"),
    ],
)
async def test_lists_and_filters_like_a_startup(
    client: Client, action: dict[str, str], action_id: str
) -> None:
    ours = await client.listing({**action, "ActionID": action_id})
    assert without(ours, "LoginTime") == without(recorded("a_startup", action_id), "LoginTime")


async def test_device_state_list_framing(client: Client) -> None:
    ours = await client.listing({"Action": "DeviceStateList", "ActionID": "drv-8"})
    theirs = recorded("a_startup", "drv-8")
    assert ours[0] == theirs[0]
    assert {tuple(m) for m in ours[1:-1]} == {tuple(m) for m in theirs[1:-1]}
    states = {m["Device"]: m["State"] for m in ours[1:-1]}
    assert states["Custom:1007"] == "UNAVAILABLE"
    assert states["Queue:sales_pause_Local/1001@agents/n"] == "NOT_INUSE"
    assert list(ours[-1]) == list(theirs[-1])
    assert ours[-1]["ListItems"] == str(len(ours) - 2)


async def test_action_id_is_echoed_and_omitted_when_absent(client: Client) -> None:
    [pong] = await client.action({"Action": "ping", "ActionID": "p-1"})
    assert list(pong) == ["Response", "ActionID", "Ping", "Timestamp"]
    assert pong["Ping"] == "Pong" and float(str(pong["Timestamp"])) > 0
    await client.send({"Action": "QueueSummary", "Queue": "billing"})
    listing = await client.until(lambda m: m.get("Event") == "QueueSummaryComplete")
    assert all("ActionID" not in m for m in listing)
    [unknown] = await client.action({"Action": "Frobnicate", "ActionID": "u"})
    assert unknown["Response"] == "Error"
    assert str(unknown["Message"]).startswith("Invalid/unknown command: Frobnicate")


async def test_member_admin_like_e_member_admin(client: Client) -> None:
    trace = load_trace("e_member_admin")
    replies: dict[str, list[AmiMessageDict]] = {}
    for sent in trace.sent[1:8]:
        action = dict(sent)
        if action["Action"] == "QueueStatus":
            replies[str(action["ActionID"])] = await client.listing(action)
        else:
            replies[str(action["ActionID"])] = await client.action(action)
    expected = trace.messages
    # Responses exactly as recorded; events follow their response.
    for aid, line in (("drv-2", 4), ("drv-5", 14), ("drv-6", 15), ("drv-7", 17)):
        assert replies[aid][-1] == expected[line]
    added = [m for r in replies.values() for m in r if m.get("Event") == "QueueMemberAdded"]
    assert [(m["MemberName"], m["Status"], m["Paused"]) for m in added] == [
        ("Frank", "1", "0"),
        ("Grace", "5", "0"),
        ("Frank", "1", "1"),
    ]
    status = without(replies["drv-8"], "LoginTime", "LastPause")
    assert status == without(recorded("e_member_admin", "drv-8"), "LoginTime", "LastPause")
    errors = {
        "drv-19": {"Action": "QueueRemove", "Queue": "billing", "Interface": "Local/1999@agents/n"},
        "drv-20": {"Action": "QueueRemove", "Queue": "sales", "Interface": "Local/1001@agents/n"},
        "drv-21": {
            "Action": "QueuePause",
            "Queue": "sales",
            "Interface": "Local/1999@agents/n",
            "Paused": "true",
        },
    }
    for aid, failing in errors.items():
        [reply] = await client.action({**failing, "ActionID": aid})
        assert reply == next(m for m in expected if m.get("ActionID") == aid)
    removal = await client.action(
        {
            "Action": "QueueRemove",
            "ActionID": "r",
            "Queue": "support",
            "Interface": "Local/1006@agents/n",
        }
    )
    assert removal[-1]["Message"] == "Removed interface from queue"
    event = await client.read()
    assert (event["Event"], event["Queue"], event["MemberName"]) == (
        "QueueMemberRemoved",
        "support",
        "Frank",
    )


async def test_pause_and_penalty_without_queue_touch_every_queue(
    sim: AmiSimulator, client: Client
) -> None:
    [reply] = await client.action(
        {
            "Action": "QueuePenalty",
            "ActionID": "p",
            "Interface": "Local/1002@agents/n",
            "Penalty": "2",
        }
    )
    assert reply["Message"] == "Interface penalty set successfully"
    events = [await client.read(), await client.read()]
    assert [(e["Event"], e["Queue"], e["Penalty"]) for e in events] == [
        ("QueueMemberPenalty", "support", "2"),
        ("QueueMemberPenalty", "sales", "2"),
    ]
    [reply] = await client.action(
        {
            "Action": "QueuePause",
            "ActionID": "q",
            "Interface": "Local/1002@agents/n",
            "Paused": "true",
            "Reason": "break",
        }
    )
    assert reply["Message"] == "Interface paused successfully"
    events = await client.until(lambda m: m.get("Queue") == "sales")
    pauses = [e for e in events if e["Event"] == "QueueMemberPause"]
    assert [(e["Queue"], e["Paused"], e["PausedReason"]) for e in pauses] == [
        ("support", "1", "break"),
        ("sales", "1", "break"),
    ]
    bob = sim.truth()["members"]
    assert bob["sales"]["Local/1002@agents/n"]["paused_reason"] == "break"
    assert bob["support"]["Local/1002@agents/n"]["penalty"] == 2


async def test_a_call_driven_over_ami(sim: AmiSimulator, client: Client) -> None:
    trace = load_trace("b_single_call")
    [reply] = await client.action(dict(trace.sent[1]))  # the recorded Originate
    assert reply == trace.messages[4]
    sim.advance(15)
    events = await client.until(
        lambda m: m.get("Event") == "Hangup" and str(m["Channel"]).endswith("0;2")
    )
    queue_events = [e["Event"] for e in events if str(e["Event"]).startswith(("Queue", "Agent"))]
    assert queue_events == [
        "QueueCallerJoin",
        "AgentCalled",
        "QueueMemberStatus",
        "QueueCallerLeave",
        "AgentConnect",
        "QueueMemberStatus",
        "QueueMemberStatus",
        "AgentComplete",
    ]
    join = events[[e["Event"] for e in events].index("QueueCallerJoin")]
    assert (join["CallerIDNum"], join["CallerIDName"]) == ("5550001", "Customer One")
    summary = await client.listing({"Action": "QueueSummary", "ActionID": "s", "Queue": "sales"})
    assert (summary[1]["HoldTime"], summary[1]["TalkTime"]) == ("2", "6")


async def test_events_only_reach_sessions_that_asked(sim: AmiSimulator, clients: Clients) -> None:
    quiet = await clients.connect(sim.port)
    await quiet.login(events="off")
    loud = await clients.connect(sim.port)
    await loud.login()
    sim.model.queue_pause("Local/1001@agents/n", True)
    sim.flush()
    await loud.until(lambda m: m.get("Event") == "QueueMemberPause")
    [pong] = await quiet.action({"Action": "Ping", "ActionID": "1"})
    assert pong["Ping"] == "Pong"  # nothing arrived before the answer
    [reply] = await quiet.action({"Action": "Events", "ActionID": "2", "EventMask": "on"})
    assert reply == {"Response": "Success", "ActionID": "2", "Events": "On"}
    sim.model.queue_pause("Local/1001@agents/n", False)
    sim.flush()
    assert (await quiet.read())["Event"] == "DeviceStateChange"


# --- a least-privilege manager user ---------------------------------------------------


@pytest.fixture
async def monitor(clients: Clients) -> AsyncIterator[tuple[AmiSimulator, Client]]:
    """The lab served to a ``read = call,agent``, ``write = agent`` user, logged in."""
    model = CallCentre(clock=lambda: START, seed=3)
    async with AmiSimulator(
        secret="secret", model=model, realtime=False, privileges=LEAST_PRIVILEGE
    ) as server:
        client = await clients.connect(server.port)
        login = {"Action": "Login", "ActionID": "drv-1", "Username": "admin", "Secret": "secret"}
        [reply] = await client.action(login)
        assert reply["Message"] == "Authentication accepted"
        yield server, client


async def test_least_privilege_gets_no_system_event_and_is_refused_the_lists(
    monitor: tuple[AmiSimulator, Client],
) -> None:
    _, client = monitor
    # Nothing between the login and the answer to the next action: no FullyBooted.
    [pong] = await client.action({"Action": "Ping", "ActionID": "p"})
    assert pong["Ping"] == "Pong"
    for action in ("CoreShowChannels", "DeviceStateList", "Originate"):
        [refused] = await client.action({"Action": action, "ActionID": f"x-{action}"})
        assert refused == {
            "Response": "Error",
            "ActionID": f"x-{action}",
            "Message": "Permission denied",
        }
    status = await client.listing({"Action": "QueueStatus", "ActionID": "qs"})
    assert status[-1]["Event"] == "QueueStatusComplete"
    summary = await client.listing({"Action": "QueueSummary", "ActionID": "sum"})
    assert summary[-1]["Event"] == "QueueSummaryComplete"
    # write = agent: the supervisor actions run.
    pause = {"Action": "QueuePause", "ActionID": "pause", "Interface": "Local/1001@agents/n"}
    [paused] = await client.action({**pause, "Paused": "true", "Queue": "sales"})
    assert paused["Response"] == "Success"


async def test_least_privilege_reads_call_and_agent_events_only(
    monitor: tuple[AmiSimulator, Client],
) -> None:
    sim, client = monitor
    dialplan = {"Event": "Newexten", "Privilege": "dialplan,all", "Channel": "x"}
    booted = {"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}
    sim.emit([dialplan, booted, {"Event": "Hangup", "Privilege": "call,all", "Channel": "x"}])
    sim.model.queue_pause("Local/1001@agents/n", True, queue="sales")
    sim.flush()
    events = await client.until(lambda m: m.get("Event") == "QueueMemberPause")
    assert {e["Event"] for e in events} <= {"Hangup", "DeviceStateChange", "QueueMemberPause"}
    assert events[0]["Event"] == "Hangup"


async def test_an_action_whose_module_is_not_loaded_is_unknown(clients: Clients) -> None:
    privileges = Privileges.parse(unloaded=["DeviceStateList"])
    async with AmiSimulator(secret="secret", realtime=False, privileges=privileges) as sim:
        client = await clients.connect(sim.port)
        await client.login()
        [reply] = await client.action({"Action": "DeviceStateList", "ActionID": "d"})
        assert reply["Response"] == "Error"
        assert str(reply["Message"]).startswith("Invalid/unknown command: DeviceStateList")
        assert sim.actions_received["DeviceStateList"] == 1


async def test_logoff_says_goodbye_and_closes(client: Client) -> None:
    [reply] = await client.action({"Action": "Logoff", "ActionID": "bye"})
    assert reply == {
        "Response": "Goodbye",
        "ActionID": "bye",
        "Message": "Thanks for all the fish.",
    }
    assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""


async def test_drop_connections_resets_clients(sim: AmiSimulator, client: Client) -> None:
    assert sim.drop_connections() == 1
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await client.read()


async def test_paused_events_are_held_or_discarded(sim: AmiSimulator, client: Client) -> None:
    sim.pause_events()
    sim.model.queue_pause("Local/1001@agents/n", True)
    sim.flush()
    [pong] = await client.action({"Action": "Ping", "ActionID": "1"})
    assert "Ping" in pong
    sent = sim.events_sent
    sim.resume_events()
    held = [await client.read(), await client.read()]
    assert [e["Event"] for e in held] == ["DeviceStateChange", "QueueMemberPause"]
    assert sim.events_sent == sent + 2
    sim.pause_events()
    sim.model.queue_pause("Local/1001@agents/n", False)
    sim.flush()
    sim.resume_events(discard=True)
    [pong] = await client.action({"Action": "Ping", "ActionID": "2"})
    assert "Ping" in pong
    assert sim.truth()["members"]["sales"]["Local/1001@agents/n"]["paused"] == 0


async def test_realtime_clock_runs_calls_by_itself(clients: Clients) -> None:
    model = CallCentre(seed=1)
    async with AmiSimulator(secret="secret", model=model) as sim:
        client = await clients.connect(sim.port)
        await client.login()
        model.originate("support", talk=0.1)
        events = await client.until(lambda m: m.get("Event") == "QueueCallerJoin")
        assert events[-1]["Queue"] == "support"


async def test_slow_reader_is_cut_off_without_stalling_a_fast_one(clients: Clients) -> None:
    model = CallCentre(clock=lambda: START)
    async with AmiSimulator(
        secret="secret",
        model=model,
        realtime=False,
        write_timeout=0.5,
        high_water=16 * 1024,
        send_buffer=8 * 1024,
    ) as sim:
        fast = await clients.connect(sim.port)
        await fast.login()
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", sim.port))
        slow = await clients.connect(sim.port, sock=raw)
        await slow.login()  # then it stops reading

        batches, per_batch = 40, 100
        received = 0

        async def read_fast() -> None:
            nonlocal received
            while received < batches * per_batch:
                message = await fast.read()
                if message.get("Event") == "UserEvent":
                    received += 1

        reader = asyncio.create_task(read_fast())
        event = {"Event": "UserEvent", "Privilege": "user,all", "Data": "x" * 400}
        for _ in range(batches):
            sim.emit([event] * per_batch)
            await asyncio.sleep(0.01)
        await asyncio.wait_for(reader, TIMEOUT)
        assert received == batches * per_batch
        for _ in range(100):
            if sim.slow_disconnects:
                break
            await asyncio.sleep(0.05)
        assert sim.slow_disconnects == 1
        assert sim.connections == 1


async def test_panoramisk_talks_to_it(sim: AmiSimulator) -> None:
    paused: list[object] = []
    manager = Manager(
        host="127.0.0.1",
        port=sim.port,
        username="admin",
        secret="secret",
        ping_delay=60,
        loop=asyncio.get_running_loop(),
    )
    manager.register_event("QueueMemberPause", lambda _manager, message: paused.append(message))
    try:
        await asyncio.wait_for(manager.connect(), TIMEOUT)
        listing = await manager.send_action({"Action": "QueueStatus", "Queue": "sales"})
        assert [m.Event for m in listing[1:]] == ["QueueParams"] + ["QueueMember"] * 3 + [
            "QueueStatusComplete"
        ]
        reply = await manager.send_action(
            {"Action": "QueuePause", "Interface": "Local/1003@agents/n", "Paused": "yes"}
        )
        assert reply.Message == "Interface paused successfully"
        for _ in range(50):
            if paused:
                break
            await asyncio.sleep(0.02)
        assert len(paused) == 1
    finally:
        manager.close()


@pytest.mark.parametrize(
    ("rate", "replay_path"),
    [(None, None), (2000.0, None), (None, "b_single_call")],
    ids=["live", "rate", "replay"],
)
async def test_serve_runs_until_cancelled(
    clients: Clients, rate: float | None, replay_path: str | None
) -> None:
    ready: asyncio.Future[AmiSimulator] = asyncio.get_running_loop().create_future()
    running = serve(
        "127.0.0.1",
        0,
        username="admin",
        secret="secret",
        rate=rate,
        replay_path=replay_path,
        seed=1,
        ready=ready.set_result,
    )
    task = asyncio.create_task(running)
    try:
        server = await asyncio.wait_for(ready, TIMEOUT)
        client = await clients.connect(server.port)
        await client.login()
        listing = await client.listing({"Action": "QueueStatus", "ActionID": "s"})
        assert listing[-1]["Event"] == "QueueStatusComplete"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
