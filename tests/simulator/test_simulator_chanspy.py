"""A supervisor console listening in: Originate into ChanSpy, over a real TCP socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ingest.ami.message import AmiMessageDict
from simulator.centre import CallCentre
from simulator.privileges import Privileges
from simulator.replay import load_trace
from simulator.server import AmiSimulator
from simulator.wire import CHANNEL_KEYS
from tests.support.ami_client import Client, Clients

START = 1795696000.0
SPY_KEYS = [
    "Event",
    "Privilege",
    *("Spyer" + key for key in CHANNEL_KEYS),
    *("Spyee" + key for key in CHANNEL_KEYS),
]


@pytest.fixture
async def sim() -> AsyncIterator[AmiSimulator]:
    model = CallCentre(clock=lambda: START, seed=3)
    async with AmiSimulator(secret="secret", model=model, realtime=False) as server:
        yield server


async def answered_call(sim: AmiSimulator, client: Client) -> AmiMessageDict:
    """A sales caller answered by Alice (talking 6 s from START + 2.5); her AgentConnect."""
    sim.model.originate("sales", caller_num="5550001", caller_name="Customer One", talk=6)
    sim.advance(3)
    events = await client.until(lambda m: m.get("Event") == "AgentConnect")
    await client.pending()
    return events[-1]


def spy(channel: str, data: str, action_id: str = "spy-1", **extra: str) -> dict[str, str]:
    return {
        "Action": "Originate",
        "ActionID": action_id,
        "Channel": channel,
        "Application": "ChanSpy",
        "Data": data,
        "CallerID": '"Supervisor" <1009>',
        "Async": "true",
        **extra,
    }


def named(events: list[AmiMessageDict], name: str) -> list[AmiMessageDict]:
    return [e for e in events if e.get("Event") == name]


async def test_listen_in_on_an_operator_until_the_call_ends(
    sim: AmiSimulator, clients: Clients
) -> None:
    client = await clients.connect(sim.port)
    await client.login()
    connect = await answered_call(sim, client)
    operator = str(connect["DestChannel"])
    assert operator == "Local/1001@agents-00000001;1"
    [reply] = await client.action(spy("PJSIP/1009", f"{operator},q"))
    assert reply == {
        "Response": "Success",
        "ActionID": "spy-1",
        "Message": "Originate successfully queued",
    }
    events = await client.pending()
    assert [e["Event"] for e in events] == [
        "Newchannel",
        "NewCallerid",
        "Newstate",
        "OriginateResponse",
        "ChanSpyStart",
    ]
    leg = events[0]
    assert (leg["Channel"], leg["ChannelState"], leg["CallerIDNum"]) == (
        "PJSIP/1009-00000000",
        "0",
        "<unknown>",
    )
    assert (events[1]["CallerIDNum"], events[1]["ConnectedLineName"]) == ("1009", "Supervisor")
    assert events[3] == {
        "Event": "OriginateResponse",
        "Privilege": "call,all",
        "ActionID": "spy-1",
        "Response": "Success",
        "Channel": "PJSIP/1009-00000000",
        "Application": "ChanSpy",
        "Data": f"{operator},q",
        "Reason": "4",
        "Uniqueid": leg["Uniqueid"],
        "CallerIDNum": "1009",
        "CallerIDName": "Supervisor",
    }
    start = events[4]
    assert list(start) == SPY_KEYS
    assert start["Privilege"] == "call,all"
    assert {k: start[k] for k in ("SpyerChannel", "SpyerUniqueid", "SpyerChannelState")} == {
        "SpyerChannel": "PJSIP/1009-00000000",
        "SpyerUniqueid": leg["Uniqueid"],
        "SpyerChannelState": "6",
    }
    # The spied channel's snapshot is the operator leg AgentConnect named (Dest*).
    assert {key: start["Spyee" + key] for key in CHANNEL_KEYS} == {
        key: connect["Dest" + key] for key in CHANNEL_KEYS
    }
    [active] = sim.model.spies()
    assert active == {
        "spyer": "PJSIP/1009-00000000",
        "spyer_uniqueid": leg["Uniqueid"],
        "spyee": operator,
        "spyee_uniqueid": connect["DestUniqueid"],
        "options": "q",
        "mode": "listen",
        "spyer_up": True,
    }
    channels = await client.listing({"Action": "CoreShowChannels", "ActionID": "c"})
    spying = [c for c in channels if c.get("Channel") == "PJSIP/1009-00000000"]
    assert [(c["Application"], c["ApplicationData"]) for c in spying] == [
        ("ChanSpy", f"{operator},q")
    ]

    sim.advance(10)  # the call ends
    events = await client.pending()
    stop = named(events, "ChanSpyStop")
    assert len(stop) == 1 and list(stop[0]) == SPY_KEYS
    assert (stop[0]["SpyerChannel"], stop[0]["SpyeeChannel"]) == ("PJSIP/1009-00000000", operator)
    hangups = [str(e["Channel"]) for e in named(events, "Hangup")]
    order = [e.get("Event") for e in events]
    # ChanSpyStop, then the operator leg's Hangup, then the supervisor's leg hangs up.
    assert order.index("ChanSpyStop") < events.index(
        next(e for e in named(events, "Hangup") if e["Channel"] == operator)
    )
    assert hangups[-1] == "PJSIP/1009-00000000"
    assert sim.model.spies() == []
    assert "PJSIP/1009-00000000" not in sim.truth()["channels"]


async def test_a_local_supervisor_channel_whispering(sim: AmiSimulator, clients: Clients) -> None:
    client = await clients.connect(sim.port)
    await client.login()
    connect = await answered_call(sim, client)
    operator = str(connect["DestChannel"])
    channel = "Local/1009@supervisors/n"
    await client.action(spy(channel, f"{operator},qw", action_id="w"))
    events = await client.pending()
    names = [(e["Event"], e.get("Channel", e.get("SpyerChannel"))) for e in events]
    one, two = "Local/1009@supervisors-00000002;1", "Local/1009@supervisors-00000002;2"
    assert names == [
        ("Newchannel", one),
        ("Newchannel", two),
        ("NewCallerid", one),
        ("NewCallerid", two),
        ("Newstate", two),
        ("Newstate", one),
        ("OriginateResponse", one),
        ("ChanSpyStart", one),
    ]
    assert (events[0]["Context"], events[0]["Exten"]) == ("supervisors", "1009")
    assert events[6]["ActionID"] == "w"
    assert sim.model.spies()[0]["mode"] == "whisper"
    sim.advance(10)
    events = await client.pending()
    assert len(named(events, "ChanSpyStop")) == 1
    gone = {str(e["Channel"]) for e in named(events, "Hangup")}
    assert {"Local/1009@supervisors-00000002;1", "Local/1009@supervisors-00000002;2"} <= gone


async def test_spying_on_a_channel_that_does_not_exist(sim: AmiSimulator, clients: Clients) -> None:
    client = await clients.connect(sim.port)
    await client.login()
    [reply] = await client.action(spy("PJSIP/1009", "Local/1001@agents-000000ff;1,q"))
    assert reply["Message"] == "Originate successfully queued"
    events = await client.pending()
    assert [e["Event"] for e in events] == [
        "Newchannel",
        "NewCallerid",
        "Newstate",
        "OriginateResponse",
        "Hangup",
    ]
    assert events[3]["Response"] == "Success"
    assert (events[4]["Channel"], events[4]["Cause"]) == ("PJSIP/1009-00000000", "16")
    assert sim.model.spies() == []


async def test_the_spy_legs_hangup_is_answered_at_once_its_stop_comes_with_the_call_end(
    sim: AmiSimulator, clients: Clients
) -> None:
    client = await clients.connect(sim.port)
    await client.login()
    connect = await answered_call(sim, client)
    await client.action(spy("SIP/1009", f"{connect['DestChannel']},qB"))
    await client.pending()
    assert sim.model.spies()[0]["mode"] == "barge"
    [reply] = await client.action(
        {"Action": "Hangup", "ActionID": "h", "Channel": "SIP/1009-00000000"}
    )
    assert reply == {"Response": "Success", "ActionID": "h", "Message": "Channel Hungup"}
    events = await client.pending()
    assert [(e["Event"], e["Channel"]) for e in events] == [("Hangup", "SIP/1009-00000000")]
    assert sim.model.spies()[0]["spyer_up"] is False
    sim.advance(10)
    stop = named(await client.pending(), "ChanSpyStop")
    assert [(e["SpyerChannel"], e["SpyeeChannel"]) for e in stop] == [
        ("SIP/1009-00000000", connect["DestChannel"])
    ]
    assert sim.model.spies() == []
    for channel, message in (
        ("SIP/1009-00000000", "No such channel"),
        ("", "No channel specified"),
    ):
        [refused] = await client.action({"Action": "Hangup", "ActionID": "g", "Channel": channel})
        assert refused == {"Response": "Error", "ActionID": "g", "Message": message}


async def test_bridged_only_and_prefix_matching(sim: AmiSimulator, clients: Clients) -> None:
    client = await clients.connect(sim.port)
    await client.login()
    sim.model.originate("sales", talk=6)
    sim.advance(1.5)  # Alice's phone rings: her legs exist, nothing is bridged yet
    await client.pending()
    await client.action(spy("PJSIP/1009", "Local/1001@agents,qb", action_id="b"))
    assert named(await client.pending(), "ChanSpyStart") == []  # b: bridged channels only
    await client.action(spy("PJSIP/1009", "local/1001@AGENTS,q", action_id="p"))
    [start] = named(await client.pending(), "ChanSpyStart")
    # A prefix, any case: the first channel whose name starts with it.
    assert start["SpyeeChannel"] == "Local/1001@agents-00000001;1"


async def test_the_callers_originate_answers_like_b_single_call(clients: Clients) -> None:
    trace = load_trace("b_single_call")
    model = CallCentre(clock=lambda: 1795696328.0, seed=3)
    async with AmiSimulator(secret="secret", model=model, realtime=False) as sim:
        client = await clients.connect(sim.port)
        await client.login()
        await client.action(dict(trace.sent[1]))
        [response] = named(await client.pending(), "OriginateResponse")
        assert response == next(m for m in trace.messages if m.get("Event") == "OriginateResponse")
        # Without Async, no OriginateResponse.
        await client.action({**dict(trace.sent[1]), "ActionID": "sync", "Async": "false"})
        assert named(await client.pending(), "OriginateResponse") == []


@pytest.mark.parametrize(
    ("channel", "message"),
    [("", "Channel not specified"), ("PJSIP", "Invalid channel")],
)
async def test_originate_refusals(
    sim: AmiSimulator, clients: Clients, channel: str, message: str
) -> None:
    client = await clients.connect(sim.port)
    await client.login()
    [reply] = await client.action(spy(channel, "x,q"))
    assert reply == {"Response": "Error", "ActionID": "spy-1", "Message": message}
    assert await client.pending() == []


@pytest.mark.parametrize(
    ("read", "write", "sees_spy_events", "may_hang_up"),
    [
        ("agent", "originate", False, False),
        ("call,agent", "originate,call", True, True),
    ],
)
async def test_spy_events_are_class_call(
    clients: Clients, read: str, write: str, sees_spy_events: bool, may_hang_up: bool
) -> None:
    privileges = Privileges.parse(read=read, write=write)
    model = CallCentre(clock=lambda: START, seed=3)
    async with AmiSimulator(
        secret="secret", model=model, realtime=False, privileges=privileges
    ) as sim:
        client = await clients.connect(sim.port)
        login = {"Action": "Login", "ActionID": "l", "Username": "admin", "Secret": "secret"}
        await client.action(login)
        model.originate("sales", talk=6)
        sim.advance(3)
        await client.until(lambda m: m.get("Event") == "AgentConnect")
        await client.pending()
        [reply] = await client.action(spy("PJSIP/1009", "Local/1001@agents,q"))
        assert reply["Response"] == "Success"
        seen = {str(e["Event"]) for e in await client.pending()}
        assert len(model.spies()) == 1  # it runs either way; only the events are filtered
        spy_events = {"OriginateResponse", "ChanSpyStart", "Newchannel", "NewCallerid", "Newstate"}
        assert (seen == spy_events) if sees_spy_events else (seen == set())
        [hangup] = await client.action(
            {"Action": "Hangup", "ActionID": "h", "Channel": "PJSIP/1009-00000000"}
        )
        expected = "Channel Hungup" if may_hang_up else "Permission denied"
        assert hangup["Message"] == expected
