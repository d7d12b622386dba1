"""A simulated day, read two ways: AMI over TCP and the queue_log the simulator wrote.

The simulator runs a day of generated traffic in model time (``realtime=False``,
the test moves time), with ``timestamps`` and a ``queue_log``. The AMI events
go over a real socket to a raw client and through the typed parser into
:class:`~ingest.records.builder.CallRecordBuilder` (event time = the
``Timestamp`` header); the queue_log file goes through
:mod:`ingest.records.queue_log`. Both must give the same calls — per queue
offered/answered/completed/abandoned equal to each other, to the raw AMI
events and to Asterisk's own counters, and per call the same member, hold,
talk and ring times — and the same pause and in-call intervals. The one known
difference: a Queue() timeout is an abandon on AMI (``timed_out`` unknown)
and ``TIMED_OUT`` in the queue_log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.ami.message import AmiMessageDict
from ingest.ami.parser import EventParser
from ingest.records.builder import CallRecordBuilder
from ingest.records.model import (
    ANSWERED_OUTCOMES,
    AgentInterval,
    CallOutcome,
    CallRecord,
    IntervalKind,
    Record,
)
from ingest.records.queue_log import QueueLogReplayer, parse_queue_log
from ingest.records.tap import timestamp_ms
from simulator import (
    AmiSimulator,
    CallCentre,
    CentreConfig,
    MemberSetup,
    PhoneConfig,
    QueueSetup,
)
from tests.support.ami_client import Client, Clients
from tests.support.day_centre import INTERFACES, day_config

START = 1_800_000_000.0
DAY = 24 * 3600.0
STEP = 120.0
"""Model seconds per advance: the client catches up after each (no slow-reader drop)."""
COUNTED = ("QueueCallerJoin", "AgentConnect", "AgentComplete", "QueueCallerAbandon")


def _centre(queue_log: Path) -> CallCentre:
    """The day centre (`tests.support.day_centre`), stamped, writing a queue_log."""
    return CallCentre(
        day_config(arrival_rate=0.035, mean_patience=120),
        clock=lambda: START,
        seed=7,
        queue_log=queue_log,
        timestamps=True,
    )


@dataclass
class AmiSide:
    """What the AMI client saw: records built from it and raw event counts per queue."""

    builder: CallRecordBuilder = field(default_factory=CallRecordBuilder)
    parser: EventParser = field(default_factory=lambda: EventParser(_quiet()))
    records: list[Record] = field(default_factory=list)
    raw: Counter[tuple[str, str]] = field(default_factory=Counter)
    received: int = 0
    unstamped: int = 0

    def feed(self, message: AmiMessageDict) -> None:
        self.received += 1
        name = str(message.get("Event", ""))
        if name in COUNTED:
            self.raw[(str(message["Queue"]), name)] += 1
        stamp = message.get("Timestamp")
        if not isinstance(stamp, str):
            self.unstamped += 1
            return
        event = self.parser.parse(message)
        if event is not None:
            self.records.extend(self.builder.feed(event, timestamp_ms(stamp)))


def _quiet() -> logging.Logger:
    quiet = logging.getLogger("test.day_records")
    quiet.setLevel(logging.ERROR)
    return quiet


async def _read_until(client: Client, side: AmiSide, sim: AmiSimulator) -> None:
    """Read until the client has every event the simulator sent it."""
    while side.received < sim.events_sent:
        side.feed(await client.read())


def _calls(records: Iterable[Record]) -> dict[tuple[str, str], CallRecord]:
    return {(r.uniqueid, r.queue): r for r in records if isinstance(r, CallRecord)}


def _intervals(records: Iterable[Record], kind: IntervalKind) -> Counter[tuple[object, ...]]:
    """Intervals of ``kind`` to the whole second (the queue_log's resolution)."""
    return Counter(
        (
            r.interface,
            r.queue,
            r.reason or None,
            r.uniqueid,
            r.started_at // 1000,
            r.ended_at // 1000,
        )
        for r in records
        if isinstance(r, AgentInterval) and r.kind == kind
    )


def _per_queue(calls: Iterable[CallRecord]) -> dict[str, Counter[str]]:
    """offered / answered / completed / abandoned per queue, from the records."""
    out: dict[str, Counter[str]] = {}
    for call in calls:
        kpi = out.setdefault(call.queue, Counter())
        kpi["offered"] += call.entered_at is not None
        kpi["answered"] += call.answered
        kpi["completed"] += call.outcome in ANSWERED_OUTCOMES
        kpi["abandoned"] += call.counts_as_abandoned
    return out


def _same_call(ami: CallRecord, logged: CallRecord) -> tuple[object, ...]:
    """What both sources must agree on for one call (times to the second)."""
    return (
        ami.answered_by,
        ami.member_name,
        ami.hold_time,
        ami.talk_time,
        ami.ring_time,
        ami.ring_no_answers,
        ami.position,
        ami.caller_num,
        None if ami.entered_at is None else ami.entered_at // 1000 * 1000,
        None if ami.answered_at is None else ami.answered_at // 1000 * 1000,
        ami.ended_at // 1000 * 1000,
        ami.abandon_position,
        ami.original_position if not ami.answered else logged.original_position,
    ), (
        logged.answered_by,
        logged.member_name,
        logged.hold_time,
        logged.talk_time,
        logged.ring_time,
        logged.ring_no_answers,
        logged.position,
        logged.caller_num,
        logged.entered_at,
        logged.answered_at,
        logged.ended_at,
        logged.abandon_position,
        logged.original_position,
    )


async def test_a_simulated_day_gives_the_same_records_from_ami_and_queue_log(
    tmp_path: Path, clients: Clients
) -> None:
    queue_log = tmp_path / "queue_log"
    model = _centre(queue_log)
    side = AmiSide()
    async with AmiSimulator(secret="secret", model=model, realtime=False) as sim:
        client = await clients.connect(sim.port)
        # A manager user reading the agent class only: every queue event, no channel noise.
        await client.send(
            {"Action": "Login", "Username": "admin", "Secret": "secret", "Events": "agent"}
        )
        assert (await client.read()).get("Response") == "Success"
        elapsed = 0.0
        while elapsed < DAY:
            sim.advance(STEP)
            elapsed += STEP
            await _read_until(client, side, sim)
        model.stop_traffic()  # closing time: the calls in progress end
        sim.advance(3600)
        await _read_until(client, side, sim)
        status = await client.listing({"Action": "QueueStatus", "ActionID": "end"})
    # stop() flushed the queue_log.
    end_ms = round(model.now * 1000)
    side.records.extend(side.builder.close_all(end_ms))

    replayer = QueueLogReplayer(member_interfaces=INTERFACES)
    with queue_log.open(encoding="utf-8") as lines:
        logged = list(replayer.replay(parse_queue_log(lines)))
    logged.extend(replayer.close_all(end_ms))
    assert replayer.malformed == 0 and side.unstamped == 0

    ami_calls, log_calls = _calls(side.records), _calls(logged)
    assert len(ami_calls) > 3000
    assert ami_calls.keys() == log_calls.keys()
    assert all(
        c.outcome is not CallOutcome.LEFT for c in [*ami_calls.values(), *log_calls.values()]
    )

    # Per queue: the AMI records, the queue_log records and the raw events agree.
    ami_kpis, log_kpis = _per_queue(ami_calls.values()), _per_queue(log_calls.values())
    assert ami_kpis == log_kpis
    params = {m["Queue"]: m for m in status if m.get("Event") == "QueueParams"}
    for queue, kpi in ami_kpis.items():
        raw = {name: side.raw[(queue, name)] for name in COUNTED}
        print(
            f"{queue}: records {dict(kpi)}; raw events {raw}; Asterisk's counters "
            f"Completed {params[queue]['Completed']} Abandoned {params[queue]['Abandoned']}"
        )
        assert (kpi["offered"], kpi["answered"], kpi["completed"], kpi["abandoned"]) == (
            raw["QueueCallerJoin"],
            raw["AgentConnect"],
            raw["AgentComplete"],
            raw["QueueCallerAbandon"],
        )
        # No member left mid-call and no reload: Asterisk's counters agree too.
        assert (params[queue]["Completed"], params[queue]["Abandoned"]) == (
            str(kpi["completed"]),
            str(kpi["abandoned"]),
        )

    # Per call: the same member, times and positions; the outcome, but for timeouts.
    outcomes: Counter[CallOutcome] = Counter()
    for key, ami in ami_calls.items():
        log = log_calls[key]
        outcomes[log.outcome] += 1
        expected_ami = (
            CallOutcome.ABANDONED if log.outcome is CallOutcome.TIMED_OUT else log.outcome
        )
        assert ami.outcome is expected_ami, key
        assert (ami.timed_out, log.timed_out) == (
            (None, log.outcome is CallOutcome.TIMED_OUT)
            if ami.counts_as_abandoned
            else (None, None)
        ), key
        mine, theirs = _same_call(ami, log)
        assert mine == theirs, (ami, log)
    print(f"outcomes (queue_log): { {o.value: n for o, n in outcomes.items()} }")
    for outcome in (
        CallOutcome.COMPLETED_BY_AGENT,
        CallOutcome.COMPLETED_BY_CALLER,
        CallOutcome.ABANDONED,
        CallOutcome.TIMED_OUT,
    ):
        assert outcomes[outcome] > 10, outcome
    assert sum(c.ring_no_answers for c in ami_calls.values()) > 50

    # Agent time: pauses (with their reasons) and calls, to the second.
    ami_pauses = _intervals(side.records, IntervalKind.PAUSED)
    assert ami_pauses == _intervals(logged, IntervalKind.PAUSED)
    reasons = {reason for (_, _, reason, *_) in ami_pauses}
    assert {"Auto-Pause", "lunch", "break"} <= reasons
    assert _intervals(side.records, IntervalKind.IN_CALL) == _intervals(
        logged, IntervalKind.IN_CALL
    )


def test_asterisk_counts_a_queue_timeout_as_an_abandon(tmp_path: Path) -> None:
    """One caller, Queue() timeout 20 s, nobody answers: AMI has QueueCallerAbandon then
    QueueCallerLeave; the queue_log has the ring that timed out and EXITWITHTIMEOUT."""
    queue_log = tmp_path / "queue_log"
    config = CentreConfig(
        (
            QueueSetup(
                "sales",
                timeout=30,
                members=(MemberSetup("Local/3000@agents/n", "Ann", "Custom:3000"),),
            ),
        ),
        {"Custom:3000": PhoneConfig(ring_delay=None)},
    )
    model = CallCentre(config, clock=lambda: START, queue_log=queue_log, timestamps=True)
    inner = model.originate("sales", patience=120, max_wait=20)
    model.run_for(60)
    queue_events = [e for e in model.drain() if e["Event"].startswith(("QueueCaller", "Agent"))]
    assert [e["Event"] for e in queue_events] == [
        "QueueCallerJoin",
        "AgentCalled",
        "AgentRingNoAnswer",
        "QueueCallerAbandon",
        "QueueCallerLeave",
    ]
    abandon = queue_events[3]
    assert (abandon["Channel"], abandon["HoldTime"], abandon["Timestamp"]) == (
        inner,
        "20",
        f"{START + 20.5:.6f}",  # the dialplan's join delay, then the 20 s
    )
    assert list(abandon)[:3] == ["Event", "Privilege", "Timestamp"]
    uniqueid = abandon["Uniqueid"]
    assert model.flush_queue_log() == 4
    start = int(START)
    assert queue_log.read_text(encoding="utf-8").splitlines() == [
        f"{start}|NONE|NONE|NONE|QUEUESTART|",
        f"{start}|{uniqueid}|sales|NONE|ENTERQUEUE||{abandon['CallerIDNum']}|1",
        f"{start + 20}|{uniqueid}|sales|Ann|RINGNOANSWER|20000",
        f"{start + 20}|{uniqueid}|sales|NONE|EXITWITHTIMEOUT|1|1|20",
    ]
    assert model.queue_status("sales")[0]["Abandoned"] == "1"
