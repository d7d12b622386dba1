"""The call centre behind the simulator: queues, operators, callers, channels.

A discrete-event state machine with its own notion of time. Nothing here does
I/O or sleeps: the server (or a test) moves time forward with
:meth:`CallCentre.advance_to`, :meth:`CallCentre.run_for` or
:meth:`CallCentre.step`, and collects the AMI events the model produced with
:meth:`CallCentre.drain`. Randomness comes from one seeded ``random.Random``,
so a seed replays the same traffic.

The behaviour copies what Asterisk 22's app_queue did in the recorded lab
traces (see ``tests/fixtures/ami-traces/README.md``): event names, field names and
field order, ``shared_lastcall``, the exponential hold/talk averages,
ring-no-answer with auto-pause, abandon = QueueCallerAbandon then
QueueCallerLeave, one QueueMemberStatus per queue the device's member is in.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from simulator.wire import CHANNEL_KEYS

Event = dict[str, str]
"""One AMI message built by the model, keys in wire order."""


class DeviceState(IntEnum):
    """AST_DEVICE_* codes, as in the ``Status`` field of member events."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


STRATEGIES = ("ringall", "linear", "rrmemory", "roundrobin", "leastrecent", "fewestcalls", "random")

_STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
}
_CAUSE_TEXT = {0: "Unknown", 16: "Normal Clearing", 26: "Answered elsewhere"}
_AVAILABLE = (DeviceState.NOT_INUSE, DeviceState.UNKNOWN)
_PAUSE_REASONS = ("lunch", "break", "training", "meeting", "coffee")
_DEST_KEYS = tuple("Dest" + key for key in CHANNEL_KEYS)


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberSetup:
    """A member present at start: ``member =>`` in queues.conf, or a realtime row."""

    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    membership: str = "static"
    """``static`` or ``realtime`` (events say realtime, QueueStatus says static)."""
    paused: bool = False
    paused_reason: str = ""
    wrapuptime: int = 0
    """The member's own wrap-up; 0 = the queue's."""
    ringinuse: bool = False

    def __post_init__(self) -> None:
        if self.membership not in ("static", "realtime"):
            raise ValueError(f"membership must be static or realtime, not {self.membership!r}")


@dataclass(frozen=True)
class QueueSetup:
    """One queue, with the queues.conf settings the model honours."""

    name: str
    strategy: str = "ringall"
    timeout: float = 15.0
    """Seconds a member rings before AgentRingNoAnswer."""
    retry: float = 5.0
    """Seconds the caller waits before the next ring attempt."""
    wrapuptime: int = 0
    autopause: bool = False
    servicelevel: int = 60
    weight: int = 0
    maxlen: int = 0
    members: tuple[MemberSetup, ...] = ()

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}")


@dataclass(frozen=True)
class PhoneConfig:
    """How the phone behind a state interface behaves."""

    ring_delay: float | None = 2.0
    """Seconds of ringing before it answers; ``None`` = never answers."""
    talk_time: float = 6.0
    """Talk time when the caller brings none (the lab's ``TALK`` variable)."""
    no_answer: float = 0.0
    """Probability that one ring goes unanswered anyway."""
    initial_state: DeviceState = DeviceState.NOT_INUSE


@dataclass(frozen=True)
class TrafficConfig:
    """Generated load; all zero = only what :meth:`CallCentre.originate` asks for."""

    arrival_rate: float = 0.0
    """Callers per second (Poisson arrivals), spread evenly over the queues."""
    mean_patience: float = 60.0
    """Mean seconds a caller waits before hanging up (exponential, at least 5)."""
    mean_talk: float = 30.0
    """Mean talk seconds (exponential, at least 1)."""
    pause_rate: float = 0.0
    """Pauses per operator per hour (with a random reason)."""
    mean_pause: float = 120.0
    """Mean seconds a pause lasts; auto-paused operators are unpaused after it too."""


@dataclass(frozen=True)
class CentreConfig:
    """Queues, phones and traffic of one simulated call centre."""

    queues: tuple[QueueSetup, ...]
    phones: Mapping[str, PhoneConfig] = field(default_factory=dict)
    """Keyed by state interface; unknown ones get ``PhoneConfig()``."""
    join_delay: float = 0.5
    """Seconds from Originate until the caller enters Queue() (the lab's dialplan)."""
    traffic: TrafficConfig = TrafficConfig()
    quirks: float = 0.0
    """Share of agent-ended calls that show Asterisk's end-of-call races (both seen
    in c_ringnoanswer): AgentComplete without channel fields, and the member's
    other queues reporting QueueMemberStatus before shared_lastcall raised their
    CallsTaken. A tracker must survive both."""

    @classmethod
    def lab(cls, traffic: TrafficConfig | None = None) -> CentreConfig:
        """The recorded lab: sales (rrmemory), support (linear, autopause), billing (ringall).

        Queues are listed in the order Asterisk iterated them in the traces
        (billing, support, sales): QueueStatus and per-queue events use it.
        """

        def agent(ext: str, name: str, penalty: int = 0) -> MemberSetup:
            return MemberSetup(f"Local/{ext}@agents/n", name, f"Custom:{ext}", penalty)

        queues = (
            QueueSetup("billing", "ringall", timeout=10, retry=1, servicelevel=60),
            QueueSetup(
                "support",
                "linear",
                timeout=5,
                retry=1,
                autopause=True,
                servicelevel=30,
                members=(agent("1005", "Eve"), agent("1004", "Dave"), agent("1002", "Bob", 1)),
            ),
            QueueSetup(
                "sales",
                "rrmemory",
                timeout=8,
                retry=1,
                wrapuptime=2,
                servicelevel=20,
                members=(agent("1001", "Alice"), agent("1002", "Bob"), agent("1003", "Carol")),
            ),
        )
        phones = {
            "Custom:1001": PhoneConfig(2, 6),
            "Custom:1002": PhoneConfig(3, 8),
            "Custom:1003": PhoneConfig(None, 6),
            "Custom:1004": PhoneConfig(1, 5),
            "Custom:1005": PhoneConfig(10, 5),
            "Custom:1006": PhoneConfig(2, 7),
            "Custom:1007": PhoneConfig(4, 6, initial_state=DeviceState.UNAVAILABLE),
        }
        return cls(queues, phones, traffic=traffic or TrafficConfig())

    @classmethod
    def generated(
        cls,
        operators: int,
        queues: int,
        *,
        traffic: TrafficConfig | None = None,
        seed: int = 0,
    ) -> CentreConfig:
        """``operators`` operators spread over ``queues`` queues, for load tests.

        Operator ``i`` is ``Local/<20000+i>@agents/n`` in queue ``i % queues``;
        every third one also serves the next queue, so multi-queue members
        exist. Strategies cycle through the supported ones.
        """
        if operators < 1 or queues < 1:
            raise ValueError("need at least one operator and one queue")
        rng = random.Random(seed)
        strategies = ("ringall", "linear", "rrmemory", "leastrecent", "fewestcalls")
        members: list[list[MemberSetup]] = [[] for _ in range(queues)]
        phones: dict[str, PhoneConfig] = {}
        for i in range(operators):
            ext = str(20000 + i)
            member = MemberSetup(f"Local/{ext}@agents/n", f"Operator {i}", f"Custom:{ext}")
            members[i % queues].append(member)
            if queues > 1 and i % 3 == 0:
                members[(i + 1) % queues].append(member)
            phones[member.state_interface] = PhoneConfig(
                ring_delay=round(rng.uniform(1.0, 6.0), 1), talk_time=30.0, no_answer=0.05
            )
        configs = tuple(
            QueueSetup(
                f"q{n:02d}",
                strategies[n % len(strategies)],
                timeout=8,
                retry=1,
                wrapuptime=2 if n % 2 else 0,
                autopause=n % 4 == 1,
                servicelevel=30,
                members=tuple(members[n]),
            )
            for n in range(queues)
        )
        return cls(configs, phones, traffic=traffic or TrafficConfig())


# --------------------------------------------------------------------------
# Errors the AMI actions map to Asterisk's messages
# --------------------------------------------------------------------------


class ModelError(Exception):
    """An operation the call centre refuses."""


class NoSuchQueue(ModelError):
    """The queue does not exist."""


class MemberExists(ModelError):
    """The interface is already a member of the queue."""


class NotAMember(ModelError):
    """The interface is not a member of the queue."""


class NotDynamic(ModelError):
    """Only members added at run time can be removed."""


class InterfaceNotFound(ModelError):
    """No queue (or not the given one) has this interface."""


class InvalidArgument(ModelError):
    """A value is out of range."""


# --------------------------------------------------------------------------
# Run-time state
# --------------------------------------------------------------------------


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


@dataclass(eq=False)
class _Member:
    queue: str
    interface: str
    name: str
    state_interface: str
    membership: str
    penalty: int
    login_time: int
    calls: int = 0
    last_call: int = 0
    last_pause: int = 0
    in_call: bool = False
    paused: bool = False
    paused_reason: str = ""
    ringinuse: bool = False
    wrapuptime: int = 0


@dataclass(eq=False)
class _Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int
    created: float
    priority: str = "1"
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    con_num: str = "<unknown>"
    con_name: str = "<unknown>"
    application: str = ""
    app_data: str = ""
    bridge: str = ""


@dataclass(eq=False)
class _Attempt:
    member: _Member
    leg1: _Channel
    """The member's outbound channel (``…;1``): the ``Dest*`` snapshot."""
    leg2: _Channel
    started: float
    timer: _Timer | None = None


@dataclass(eq=False)
class _Entry:
    """One caller, from Originate until hang-up."""

    queue: str
    outer: _Channel
    """``…;1``: the customer, who hangs up when patience runs out."""
    inner: _Channel
    """``…;2``: the channel in Queue(), named in the queue events."""
    talk: float | None
    state: str = "dialing"
    joined_at: float = 0.0
    original_position: int = 0
    attempts: dict[str, _Attempt] = field(default_factory=dict)
    retry_until: float = 0.0
    linpos: int = 0
    connected: _Attempt | None = None
    connected_at: float = 0.0
    hold: int = 0
    timers: list[_Timer] = field(default_factory=list)


@dataclass(eq=False)
class _Queue:
    config: QueueSetup
    members: dict[str, _Member] = field(default_factory=dict)
    callers: list[_Entry] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0
    holdtime: int = 0
    talktime: int = 0
    rrpos: int = 0

    @property
    def name(self) -> str:
        return self.config.name

    def perf(self) -> tuple[str, str]:
        """ServicelevelPerf and ServicelevelPerf2 as app_queue prints them."""
        sl = 100.0 * self.completed_in_sl / self.completed if self.completed else 0.0
        total = self.completed + self.abandoned
        sl2 = 100.0 * (self.completed_in_sl + self.abandoned_in_sl) / total if total else 0.0
        return f"{sl:.1f}", f"{sl2:.1f}"


def _ema(old: int, new: int) -> int:
    # app_queue's exponential average with a filter coefficient of 4.
    return (old * 3 + new) >> 2


def _local_parts(interface: str) -> tuple[str, str]:
    """(exten, context) of ``Local/<exten>@<context>/n``; other techs keep their resource."""
    resource = interface.split("/", 1)[1] if "/" in interface else interface
    resource = resource.removesuffix("/n")
    exten, _, context = resource.partition("@")
    return exten, context or "agents"


class CallCentre:
    """The simulated call centre.

    ``clock`` gives the initial time (and the target of :meth:`sync`); model
    time then only moves when told to. ``seed`` makes the traffic, the
    bridge ids and the random choices repeatable.
    """

    def __init__(
        self,
        config: CentreConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.config = config or CentreConfig.lab()
        self._clock = clock
        self._now = clock()
        self.started_at = self._now
        self._rng = random.Random(seed)
        self._timers: list[_Timer] = []
        self._timer_seq = itertools.count()
        self._outbox: list[Event] = []
        self._listener: Callable[[], None] | None = None
        self._queues: dict[str, _Queue] = {}
        self._devices: dict[str, DeviceState] = {}
        self._by_interface: dict[str, list[_Member]] = {}
        self._by_state: dict[str, list[_Member]] = {}
        self._channels: dict[str, _Channel] = {}
        self._engaged: set[str] = set()
        self._dirty: dict[str, None] = {}
        self._uid = itertools.count()
        self._local = itertools.count()
        self._callers = itertools.count(1)
        login = int(self._now)
        for si, phone in self.config.phones.items():
            self._devices[si] = phone.initial_state
        for qc in self.config.queues:
            queue = _Queue(qc)
            for mc in qc.members:
                queue.members[mc.interface] = _Member(
                    qc.name,
                    mc.interface,
                    mc.name,
                    mc.state_interface,
                    mc.membership,
                    mc.penalty,
                    login,
                    last_pause=login if mc.paused else 0,
                    paused=mc.paused,
                    paused_reason=mc.paused_reason if mc.paused else "",
                    ringinuse=mc.ringinuse,
                    wrapuptime=mc.wrapuptime,
                )
                self._devices.setdefault(mc.state_interface, DeviceState.NOT_INUSE)
            self._queues[qc.name] = queue
        self._reindex()
        self._schedule_arrival()
        self._schedule_random_pause()

    # -- time ---------------------------------------------------------------

    @property
    def now(self) -> float:
        """Model time (epoch seconds)."""
        return self._now

    def clock(self) -> float:
        """The clock's time (what :meth:`sync` catches up with)."""
        return self._clock()

    def next_due(self) -> float | None:
        """When the next scheduled thing happens, or ``None`` if nothing is scheduled."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def step(self) -> bool:
        """Run the next scheduled thing, moving time to it; ``False`` when nothing is left."""
        while self._timers:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, timer.when)
            timer.action()
            self._dispatch()
            return True
        return False

    def advance_to(self, when: float) -> None:
        """Run everything scheduled up to ``when``; time ends at ``when``."""
        while (due := self.next_due()) is not None and due <= when:
            self.step()
        self._now = max(self._now, when)

    def run_for(self, seconds: float) -> None:
        """Fast-forward ``seconds`` of model time."""
        self.advance_to(self._now + seconds)

    def sync(self) -> None:
        """Catch up with the clock."""
        self.advance_to(self._clock())

    # -- output -------------------------------------------------------------

    def drain(self) -> list[Event]:
        """The events produced since the last drain, in order."""
        out, self._outbox = self._outbox, []
        return out

    @property
    def pending(self) -> int:
        """Number of events waiting to be drained."""
        return len(self._outbox)

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` when events become pending or an earlier wake-up is scheduled."""
        self._listener = listener

    # -- AMI-visible operations --------------------------------------------

    @property
    def queue_names(self) -> list[str]:
        """Queues in iteration order."""
        return list(self._queues)

    def originate(
        self,
        queue: str,
        *,
        caller_num: str | None = None,
        caller_name: str | None = None,
        patience: float = 60.0,
        talk: float | None = None,
    ) -> str:
        """A customer calls ``queue`` (the lab's ``Originate Local/<queue>@callers/n``).

        The customer hangs up after ``patience`` seconds: an abandon if still
        waiting, ``Reason: caller`` if connected. ``talk`` is the agent's talk
        time (the ``TALK`` variable), else the phone's default. Returns the
        name of the caller's channel in the queue (``…;2``).
        """
        if queue not in self._queues:
            raise NoSuchQueue(queue)
        n = next(self._callers)
        num = caller_num or f"555{n % 10000:04d}"
        name = caller_name or f"Customer {n}"
        outer, inner = self._new_pair(queue, "callers", None)
        for ch in (outer, inner):
            ch.cid_num = ch.con_num = num
            ch.cid_name = ch.con_name = name
        outer.application, outer.app_data = "Wait", f"{patience:g}"
        inner.application, inner.app_data = "Queue", f"{queue},r"
        inner.priority = "2"
        self._set_state(inner, 6)
        self._set_state(outer, 6)
        entry = _Entry(queue, outer, inner, talk)
        entry.timers.append(self._after(self.config.join_delay, lambda: self._join(entry)))
        entry.timers.append(self._after(patience, lambda: self._customer_hangup(entry)))
        return inner.name

    def queue_add(
        self,
        queue: str,
        interface: str,
        *,
        name: str = "",
        state_interface: str = "",
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
    ) -> None:
        """QueueAdd: a dynamic member joins ``queue`` at the end of its member list."""
        q = self._queue(queue)
        if interface in q.members:
            raise MemberExists(interface)
        if penalty < 0:
            raise InvalidArgument("penalty")
        member = _Member(
            queue,
            interface,
            name or interface,
            state_interface or interface,
            "dynamic",
            penalty,
            int(self._now),
        )
        if paused:
            member.paused, member.last_pause, member.paused_reason = True, int(self._now), reason
        q.members[interface] = member
        self._devices.setdefault(member.state_interface, DeviceState.NOT_INUSE)
        self._reindex()
        self._emit_pause_state(member)
        self._emit(self._member_event("QueueMemberAdded", member))
        self._dirty[queue] = None
        self._dispatch()

    def queue_remove(self, queue: str, interface: str) -> None:
        """QueueRemove: only dynamic members can go."""
        q = self._queue(queue)
        member = q.members.get(interface)
        if member is None:
            raise NotAMember(interface)
        if member.membership != "dynamic":
            raise NotDynamic(interface)
        del q.members[interface]
        self._reindex()
        self._emit(self._member_event("QueueMemberRemoved", member))

    def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str = ""
    ) -> None:
        """QueuePause in ``queue``, or in every queue of the interface when ``None``.

        The event carries ``reason`` even on unpause, but the stored reason is
        cleared then (as the recorded QueueStatus shows).
        """
        members = self._targets(interface, queue)
        for member in members:
            member.paused = paused
            if paused:
                member.last_pause = int(self._now)
            member.paused_reason = reason if paused else ""
            self._emit_pause_state(member)
            self._emit(self._member_event("QueueMemberPause", member, reason=reason))
            if not paused:
                self._dirty[member.queue] = None
        self._dispatch()

    def queue_penalty(self, interface: str, penalty: int, *, queue: str | None = None) -> None:
        """QueuePenalty in ``queue``, or in every queue of the interface."""
        if penalty < 0:
            raise InvalidArgument("penalty")
        for member in self._targets(interface, queue):
            member.penalty = penalty
            self._emit(self._member_event("QueueMemberPenalty", member))
            self._dirty[member.queue] = None
        self._dispatch()

    def queue_ringinuse(self, interface: str, ringinuse: bool, *, queue: str | None = None) -> None:
        """QueueMemberRingInUse: stored and reported (the phones never take two calls)."""
        for member in self._targets(interface, queue):
            member.ringinuse = ringinuse
            self._emit(self._member_event("QueueMemberRinginuse", member))

    def set_device_state(self, state_interface: str, state: DeviceState | int | str) -> None:
        """``Setvar DEVICE_STATE(<state_interface>)=<state>``: a phone changes state."""
        if isinstance(state, str):
            try:
                value = DeviceState[state.upper()]
            except KeyError:
                raise InvalidArgument(state) from None
        else:
            value = DeviceState(state)
        self._set_device(state_interface, value)
        self._dispatch()

    # -- snapshots (list items without ActionID) ---------------------------

    def queue_status(self, queue: str = "", member: str = "") -> list[Event]:
        """QueueParams, QueueMember and QueueEntry items, as ``QueueStatus`` lists them."""
        items: list[Event] = []
        now = int(self._now)
        for q in self._queues.values():
            if queue and q.name != queue:
                continue
            perf, perf2 = q.perf()
            items.append(
                {
                    "Event": "QueueParams",
                    "Queue": q.name,
                    "Max": str(q.config.maxlen),
                    "Strategy": q.config.strategy,
                    "Calls": str(len(q.callers)),
                    "Holdtime": str(q.holdtime),
                    "TalkTime": str(q.talktime),
                    "Completed": str(q.completed),
                    "Abandoned": str(q.abandoned),
                    "ServiceLevel": str(q.config.servicelevel),
                    "ServicelevelPerf": perf,
                    "ServicelevelPerf2": perf2,
                    "Weight": str(q.config.weight),
                }
            )
            for m in q.members.values():
                if member and member not in (m.interface, m.name):
                    continue
                items.append(
                    {
                        "Event": "QueueMember",
                        "Queue": q.name,
                        "Name": m.name,
                        "Location": m.interface,
                        "StateInterface": m.state_interface,
                        # app_queue lists realtime members as static here.
                        "Membership": "static" if m.membership == "realtime" else m.membership,
                        "Penalty": str(m.penalty),
                        "CallsTaken": str(m.calls),
                        "LastCall": str(m.last_call),
                        "LastPause": str(m.last_pause),
                        "LoginTime": str(m.login_time),
                        "InCall": "1" if m.in_call else "0",
                        "Status": str(int(self._status(m))),
                        "Paused": "1" if m.paused else "0",
                        "PausedReason": m.paused_reason,
                        "Wrapuptime": str(m.wrapuptime),
                    }
                )
            for pos, entry in enumerate(q.callers, 1):
                ch = entry.inner
                items.append(
                    {
                        "Event": "QueueEntry",
                        "Queue": q.name,
                        "Position": str(pos),
                        "Channel": ch.name,
                        "Uniqueid": ch.uniqueid,
                        "CallerIDNum": ch.cid_num,
                        "CallerIDName": ch.cid_name,
                        "ConnectedLineNum": ch.con_num,
                        "ConnectedLineName": ch.con_name,
                        "Wait": str(now - int(entry.joined_at)),
                        "Priority": "0",
                    }
                )
        return items

    def queue_summary(self, queue: str = "") -> list[Event]:
        """QueueSummary items."""
        items: list[Event] = []
        now = int(self._now)
        for q in self._queues.values():
            if queue and q.name != queue:
                continue
            logged_in = available = 0
            for m in q.members.values():
                status = self._status(m)
                if status in (DeviceState.UNAVAILABLE, DeviceState.INVALID):
                    continue
                logged_in += 1
                if status in _AVAILABLE and not m.paused:
                    available += 1
            longest = max((now - int(e.joined_at) for e in q.callers), default=0)
            items.append(
                {
                    "Event": "QueueSummary",
                    "Queue": q.name,
                    "LoggedIn": str(logged_in),
                    "Available": str(available),
                    "Callers": str(len(q.callers)),
                    "HoldTime": str(q.holdtime),
                    "TalkTime": str(q.talktime),
                    "LongestHoldTime": str(longest),
                }
            )
        return items

    def core_show_channels(self) -> list[Event]:
        """CoreShowChannel items (channel fields + Application … BridgeId), no ActionID."""
        items: list[Event] = []
        for ch in self._channels.values():
            secs = max(0, int(self._now - ch.created))
            item: Event = {"Event": "CoreShowChannel"}
            item.update(self._channel_fields(ch))
            item["Application"] = ch.application
            item["ApplicationData"] = ch.app_data
            item["Duration"] = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
            item["BridgeId"] = ch.bridge
            items.append(item)
        return items

    def device_states(self) -> list[tuple[str, str]]:
        """(Device, State) pairs for DeviceStateList: phones and queue pause states."""
        states = [(si, state.name) for si, state in self._devices.items()]
        for q in self._queues.values():
            for m in q.members.values():
                device = f"Queue:{q.name}_pause_{m.interface}"
                states.append((device, "INUSE" if m.paused else "NOT_INUSE"))
        return states

    def uptime(self) -> int:
        """Seconds since the model started."""
        return int(self._now - self.started_at)

    def truth(self) -> dict[str, Any]:
        """The whole current state as plain dicts.

        ``queues`` and ``members`` use the keys of the traces'
        ``expected.json`` (plus a few more), so the same comparison serves
        both; ``channels`` lists the live channels; ``devices`` the phones.
        """
        now = int(self._now)
        queues: dict[str, Any] = {}
        members: dict[str, Any] = {}
        for q in self._queues.values():
            perf, perf2 = q.perf()
            queues[q.name] = {
                "strategy": q.config.strategy,
                "calls_waiting": len(q.callers),
                "completed": q.completed,
                "abandoned": q.abandoned,
                "holdtime": q.holdtime,
                "talktime": q.talktime,
                "service_level": q.config.servicelevel,
                "service_level_perf": float(perf),
                "service_level_perf2": float(perf2),
                "waiting_callers": [
                    {
                        "position": pos,
                        "channel": e.inner.name,
                        "uniqueid": e.inner.uniqueid,
                        "caller_id_num": e.inner.cid_num,
                        "caller_id_name": e.inner.cid_name,
                        "wait": now - int(e.joined_at),
                    }
                    for pos, e in enumerate(q.callers, 1)
                ],
            }
            members[q.name] = {
                m.interface: {
                    "name": m.name,
                    "status": int(self._status(m)),
                    "paused": int(m.paused),
                    "paused_reason": m.paused_reason,
                    "in_call": int(m.in_call),
                    "calls_taken": m.calls,
                    "last_call": m.last_call,
                    "last_pause": m.last_pause,
                    "login_time": m.login_time,
                    "penalty": m.penalty,
                    "membership": m.membership,
                    "state_interface": m.state_interface,
                    "wrapuptime": m.wrapuptime,
                    "ringinuse": int(m.ringinuse),
                }
                for m in q.members.values()
            }
        channels = {
            ch.name: {
                "uniqueid": ch.uniqueid,
                "linkedid": ch.linkedid,
                "state": ch.state,
                "state_desc": _STATE_DESC[ch.state],
                "caller_id_num": ch.cid_num,
                "caller_id_name": ch.cid_name,
                "connected_line_num": ch.con_num,
                "connected_line_name": ch.con_name,
                "context": ch.context,
                "exten": ch.exten,
                "application": ch.application,
                "bridge_id": ch.bridge,
            }
            for ch in self._channels.values()
        }
        devices = {si: state.name for si, state in self._devices.items()}
        return {
            "time": self._now,
            "queues": queues,
            "members": members,
            "channels": channels,
            "devices": devices,
        }

    # -- internals: plumbing ------------------------------------------------

    def _after(self, delay: float, action: Callable[[], None]) -> _Timer:
        return self._at(self._now + max(0.0, delay), action)

    def _at(self, when: float, action: Callable[[], None]) -> _Timer:
        timer = _Timer(max(when, self._now), next(self._timer_seq), action)
        head = self._timers[0].when if self._timers else None
        heapq.heappush(self._timers, timer)
        if self._listener is not None and (head is None or timer.when < head):
            self._listener()
        return timer

    def _emit(self, event: Event) -> None:
        self._outbox.append(event)
        if len(self._outbox) == 1 and self._listener is not None:
            self._listener()

    def _queue(self, name: str) -> _Queue:
        try:
            return self._queues[name]
        except KeyError:
            raise NoSuchQueue(name) from None

    def _targets(self, interface: str, queue: str | None) -> list[_Member]:
        members = [
            m for m in self._by_interface.get(interface, ()) if not queue or m.queue == queue
        ]
        if not members:
            raise InterfaceNotFound(interface)
        return members

    def _reindex(self) -> None:
        # Member lists per interface and per state interface, in queue order:
        # the order in which Asterisk emits one event per queue.
        self._by_interface = {}
        self._by_state = {}
        for q in self._queues.values():
            for m in q.members.values():
                self._by_interface.setdefault(m.interface, []).append(m)
                self._by_state.setdefault(m.state_interface, []).append(m)

    def _status(self, member: _Member) -> DeviceState:
        return self._devices.get(member.state_interface, DeviceState.NOT_INUSE)

    def _phone(self, member: _Member) -> PhoneConfig:
        return self.config.phones.get(member.state_interface) or PhoneConfig()

    # -- internals: AMI event shapes ---------------------------------------

    @staticmethod
    def _channel_fields(ch: _Channel, keys: tuple[str, ...] = CHANNEL_KEYS) -> Event:
        values = (
            ch.name,
            str(ch.state),
            _STATE_DESC[ch.state],
            ch.cid_num,
            ch.cid_name,
            ch.con_num,
            ch.con_name,
            "en",
            "",
            ch.context,
            ch.exten,
            ch.priority,
            ch.uniqueid,
            ch.linkedid,
        )
        return dict(zip(keys, values, strict=True))

    def _channel_event(self, name: str, ch: _Channel) -> Event:
        event: Event = {"Event": name, "Privilege": "call,all"}
        event.update(self._channel_fields(ch))
        return event

    def _caller_event(self, name: str, entry: _Entry, dest: _Channel | None = None) -> Event:
        event: Event = {"Event": name, "Privilege": "agent,all"}
        event.update(self._channel_fields(entry.inner))
        if dest is not None:
            event.update(self._channel_fields(dest, _DEST_KEYS))
        event["Queue"] = entry.queue
        return event

    def _member_event(self, name: str, m: _Member, *, reason: str | None = None) -> Event:
        return {
            "Event": name,
            "Privilege": "agent,all",
            "Queue": m.queue,
            "MemberName": m.name,
            "Interface": m.interface,
            "StateInterface": m.state_interface,
            "Membership": m.membership,
            "Penalty": str(m.penalty),
            "CallsTaken": str(m.calls),
            "LastCall": str(m.last_call),
            "LastPause": str(m.last_pause),
            "LoginTime": str(m.login_time),
            "InCall": "1" if m.in_call else "0",
            "Status": str(int(self._status(m))),
            "Paused": "1" if m.paused else "0",
            "PausedReason": m.paused_reason if reason is None else reason,
            "Ringinuse": "1" if m.ringinuse else "0",
            "Wrapuptime": str(m.wrapuptime),
        }

    def _emit_pause_state(self, m: _Member) -> None:
        self._emit(
            {
                "Event": "DeviceStateChange",
                "Privilege": "call,all",
                "Device": f"Queue:{m.queue}_pause_{m.interface}",
                "State": "INUSE" if m.paused else "NOT_INUSE",
            }
        )

    # -- internals: channels and devices -----------------------------------

    def _new_pair(
        self, exten: str, context: str, linkedid: str | None
    ) -> tuple[_Channel, _Channel]:
        base = f"Local/{exten}@{context}-{next(self._local):08x}"
        uid1 = f"{int(self._now)}.{next(self._uid)}"
        uid2 = f"{int(self._now)}.{next(self._uid)}"
        link = linkedid or uid1
        one = _Channel(f"{base};1", uid1, link, context, exten, 0, self._now)
        two = _Channel(f"{base};2", uid2, link, context, exten, 4, self._now)
        for ch in (one, two):
            self._channels[ch.name] = ch
            self._emit(self._channel_event("Newchannel", ch))
        return one, two

    def _set_state(self, ch: _Channel, state: int) -> None:
        ch.state = state
        self._emit(self._channel_event("Newstate", ch))

    def _hangup(self, ch: _Channel, cause: int) -> None:
        if self._channels.pop(ch.name, None) is None:
            return
        event = self._channel_event("Hangup", ch)
        event["Cause"] = str(cause)
        event["Cause-txt"] = _CAUSE_TEXT.get(cause, "Unknown")
        self._emit(event)

    def _set_device(self, state_interface: str, state: DeviceState) -> None:
        # QueueMemberStatus fires only on a change, once per queue membership.
        if self._devices.get(state_interface, DeviceState.NOT_INUSE) == state:
            self._devices.setdefault(state_interface, state)  # known from now on
            return
        self._devices[state_interface] = state
        members = self._by_state.get(state_interface, ())
        for m in members:
            self._emit(self._member_event("QueueMemberStatus", m))
        self._emit(
            {
                "Event": "DeviceStateChange",
                "Privilege": "call,all",
                "Device": state_interface,
                "State": state.name,
            }
        )
        if state in _AVAILABLE:
            for m in members:
                self._dirty[m.queue] = None

    # -- internals: the call flow ------------------------------------------

    def _join(self, entry: _Entry) -> None:
        q = self._queues.get(entry.queue)
        if q is None:  # the queue vanished: the caller just hangs up
            self._release_caller(entry, 16)
            return
        entry.state = "waiting"
        entry.joined_at = self._now
        entry.inner.priority = "4"
        q.callers.append(entry)
        entry.original_position = len(q.callers)
        event = self._caller_event("QueueCallerJoin", entry)
        event["Position"] = event["Count"] = str(len(q.callers))
        self._emit(event)
        self._dirty[q.name] = None

    def _available(self, q: _Queue, m: _Member) -> bool:
        if m.paused or m.interface in self._engaged or self._status(m) not in _AVAILABLE:
            return False
        wrap = m.wrapuptime or q.config.wrapuptime
        return not (m.last_call and wrap and int(self._now) - wrap < m.last_call)

    def _dispatch(self) -> None:
        # Ring free members for waiting callers of every queue where something
        # changed. Callers are served in position order (autofill = yes).
        while self._dirty:
            names = list(self._dirty)
            self._dirty.clear()
            for name in names:
                q = self._queues.get(name)
                if q is None:
                    continue
                for entry in list(q.callers):
                    if entry.attempts or entry.retry_until > self._now:
                        continue
                    picked = self._pick(q, entry)
                    if not picked:
                        break
                    for member in picked:
                        self._ring(q, entry, member)

    def _pick(self, q: _Queue, entry: _Entry) -> list[_Member]:
        members = list(q.members.values())
        free = [(i, m) for i, m in enumerate(members) if self._available(q, m)]
        if not free:
            return []
        strategy = q.config.strategy
        if strategy == "ringall":
            low = min(m.penalty for _, m in free)
            return [m for _, m in free if m.penalty == low]
        n = len(members)
        key: Callable[[tuple[int, _Member]], tuple[float, float]]
        if strategy in ("rrmemory", "roundrobin"):
            key = lambda im: (im[1].penalty, (im[0] - q.rrpos) % n)  # noqa: E731
        elif strategy == "linear":
            key = lambda im: (im[1].penalty, (im[0] - entry.linpos) % n)  # noqa: E731
        elif strategy == "leastrecent":
            key = lambda im: (im[1].penalty, im[1].last_call)  # noqa: E731
        elif strategy == "fewestcalls":
            key = lambda im: (im[1].penalty, im[1].calls)  # noqa: E731
        else:
            key = lambda im: (im[1].penalty, self._rng.random())  # noqa: E731
        index, member = min(free, key=key)
        q.rrpos = (index + 1) % n
        entry.linpos = (index + 1) % n
        return [member]

    def _ring(self, q: _Queue, entry: _Entry, member: _Member) -> None:
        exten, context = _local_parts(member.interface)
        leg1, leg2 = self._new_pair(exten, context, entry.outer.linkedid)
        for ch in (leg1, leg2):
            ch.cid_num = ch.con_num = entry.inner.cid_num
            ch.cid_name = ch.con_name = entry.inner.cid_name
            # As in the traces: the legs are announced without caller id, then told it.
            event = self._channel_event("NewCallerid", ch)
            event["CID-CallingPres"] = "0 (Presentation Allowed, Not Screened)"
            self._emit(event)
        leg1.exten = q.name  # the dialled leg shows the queue as its exten
        leg1.application, leg1.app_data = "AppDial", "(Outgoing Line)"
        leg2.application = "Wait"
        attempt = _Attempt(member, leg1, leg2, self._now)
        entry.attempts[member.interface] = attempt
        self._engaged.add(member.interface)
        event = self._caller_event("AgentCalled", entry, leg1)
        event["Interface"] = member.interface
        event["MemberName"] = member.name
        self._emit(event)
        self._set_device(member.state_interface, DeviceState.RINGING)
        self._set_state(leg1, 5)
        phone = self._phone(member)
        delay = phone.ring_delay
        if phone.no_answer and self._rng.random() < phone.no_answer:
            delay = None
        if delay is not None and delay < q.config.timeout:
            attempt.timer = self._after(delay, lambda: self._answer(entry, attempt))
        else:
            attempt.timer = self._after(q.config.timeout, lambda: self._no_answer(entry, attempt))

    def _drop_attempt(self, entry: _Entry, attempt: _Attempt, cause: int) -> None:
        """Hang up a ringing member leg (cancelled, answered elsewhere, no answer)."""
        entry.attempts.pop(attempt.member.interface, None)
        if attempt.timer is not None:
            attempt.timer.cancelled = True
        self._hangup(attempt.leg1, cause)
        self._free_phone(attempt.member)
        self._hangup(attempt.leg2, cause)

    def _free_phone(self, member: _Member) -> None:
        self._engaged.discard(member.interface)
        # Its queues may have callers waiting, even if the device state did
        # not change (a state interface no call drives).
        for m in self._by_interface.get(member.interface, ()):
            self._dirty[m.queue] = None
        self._set_device(member.state_interface, DeviceState.NOT_INUSE)

    def _answer(self, entry: _Entry, attempt: _Attempt) -> None:
        q = self._queues[entry.queue]
        member = attempt.member
        entry.attempts.pop(member.interface, None)
        self._set_state(attempt.leg2, 6)
        self._set_state(attempt.leg1, 6)
        hold = int(self._now) - int(entry.joined_at)
        entry.hold = hold
        if q.completed + q.abandoned == 0:
            q.holdtime = hold
        else:
            q.holdtime = _ema(q.holdtime, hold)
        position = q.callers.index(entry) + 1
        q.callers.remove(entry)
        event = self._caller_event("QueueCallerLeave", entry)
        event["Position"] = str(position)
        event["Count"] = str(len(q.callers))
        self._emit(event)
        event = self._caller_event("AgentConnect", entry, attempt.leg1)
        event["Interface"] = member.interface
        event["MemberName"] = member.name
        event["HoldTime"] = str(hold)
        event["RingTime"] = str(int(round(self._now - attempt.started, 3)))
        self._emit(event)
        for other in list(entry.attempts.values()):
            self._drop_attempt(entry, other, 26)
        entry.state = "connected"
        entry.connected = attempt
        entry.connected_at = self._now
        bridge = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        entry.inner.bridge = attempt.leg1.bridge = bridge
        member.in_call = True
        self._set_device(member.state_interface, DeviceState.INUSE)
        talk = entry.talk if entry.talk is not None else self._phone(member).talk_time
        entry.timers.append(self._after(talk, lambda: self._complete(entry, "agent")))

    def _no_answer(self, entry: _Entry, attempt: _Attempt) -> None:
        q = self._queues[entry.queue]
        member = attempt.member
        event = self._caller_event("AgentRingNoAnswer", entry, attempt.leg1)
        event["Interface"] = member.interface
        event["MemberName"] = member.name
        event["RingTime"] = str(round((self._now - attempt.started) * 1000))
        self._emit(event)
        if q.config.autopause and member.queue == q.name and not member.paused:
            self.queue_pause(member.interface, True, queue=q.name, reason="Auto-Pause")
            if self._traffic_on():
                iface, qname = member.interface, q.name
                self._after(
                    self.config.traffic.mean_pause,
                    lambda: self._unpause_quietly(iface, qname),
                )
        attempt.timer = None
        self._drop_attempt(entry, attempt, 0)
        if not entry.attempts and entry.state == "waiting":
            entry.retry_until = self._now + q.config.retry
            qname = q.name
            entry.timers.append(self._after(q.config.retry, lambda: self._mark(qname)))

    def _mark(self, queue: str) -> None:
        self._dirty[queue] = None

    def _customer_hangup(self, entry: _Entry) -> None:
        if entry.state == "connected":
            self._complete(entry, "caller")
        elif entry.state == "waiting":
            self._abandon(entry)
        elif entry.state == "dialing":
            self._release_caller(entry, 16)

    def _abandon(self, entry: _Entry) -> None:
        q = self._queues[entry.queue]
        self._hangup(entry.outer, 0)
        ringing = list(entry.attempts.values())
        for attempt in ringing:
            if attempt.timer is not None:
                attempt.timer.cancelled = True
            self._hangup(attempt.leg1, 0)
        hold = int(self._now) - int(entry.joined_at)
        position = q.callers.index(entry) + 1
        event = self._caller_event("QueueCallerAbandon", entry)
        event["Position"] = str(position)
        event["OriginalPosition"] = str(entry.original_position)
        event["HoldTime"] = str(hold)
        self._emit(event)
        q.callers.remove(entry)
        q.abandoned += 1
        if hold <= q.config.servicelevel:
            q.abandoned_in_sl += 1
        event = self._caller_event("QueueCallerLeave", entry)
        event["Position"] = str(position)
        event["Count"] = str(len(q.callers))
        self._emit(event)
        self._release_caller(entry, 0)
        for attempt in ringing:
            entry.attempts.pop(attempt.member.interface, None)
            self._free_phone(attempt.member)
            self._hangup(attempt.leg2, 0)

    def _release_caller(self, entry: _Entry, cause: int) -> None:
        entry.state = "done"
        for timer in entry.timers:
            timer.cancelled = True
        self._hangup(entry.outer, cause)
        self._hangup(entry.inner, cause)

    def _complete(self, entry: _Entry, reason: str) -> None:
        attempt = entry.connected
        if attempt is None or entry.state != "connected":
            return
        member = attempt.member
        talk = int(self._now) - int(entry.connected_at)
        event = self._caller_event("AgentComplete", entry, attempt.leg1)
        event["Interface"] = member.interface
        event["MemberName"] = member.name
        event["HoldTime"] = str(entry.hold)
        event["TalkTime"] = str(talk)
        event["Reason"] = reason
        if reason == "agent":
            quirks = self.config.quirks
            racy = quirks > 0 and self._rng.random() < quirks
            if racy:  # the channels were gone when app_queue built the event
                event = {
                    "Event": "AgentComplete",
                    "Privilege": "agent,all",
                    "Queue": entry.queue,
                    "Interface": member.interface,
                    "MemberName": member.name,
                    "HoldTime": str(entry.hold),
                    "TalkTime": str(talk),
                    "Reason": reason,
                }
            # The agent's hang-up handler resets the phone before app_queue
            # reports the end of the call (b_single_call).
            self._hangup(attempt.leg2, 16)
            counted = self._member_done(member, stale=racy)
            self._emit(event)
            self._hangup(attempt.leg1, 16)
            self._release_caller(entry, 16)
        else:
            self._hangup(entry.outer, 16)
            self._emit(event)
            self._release_caller(entry, 16)
            self._hangup(attempt.leg1, 16)
            self._hangup(attempt.leg2, 16)
            counted = self._member_done(member)
        q = self._queues.get(entry.queue)
        if q is not None and counted:
            q.completed += 1
            if entry.hold <= q.config.servicelevel:
                q.completed_in_sl += 1
            q.talktime = talk if q.completed == 1 else _ema(q.talktime, talk)

    def _member_done(self, member: _Member, *, stale: bool = False) -> bool:
        """shared_lastcall: CallsTaken and LastCall move in every queue of the interface.

        With ``stale`` the other queues are updated only after their
        QueueMemberStatus went out, as in Asterisk's race. Returns whether the
        interface is still a member anywhere (else the queue does not count
        the call as completed).
        """
        now = int(self._now)
        members = self._by_interface.get(member.interface, [])
        late = [m for m in members if m.queue != member.queue] if stale else []
        member.in_call = False
        for m in members:
            m.in_call = False
            if m not in late:
                self._count_call(m, now)
        self._free_phone(member)
        for m in late:
            self._count_call(m, now)
        return bool(members)

    def _count_call(self, m: _Member, now: int) -> None:
        m.calls += 1
        m.last_call = now
        wrap = m.wrapuptime or self._queues[m.queue].config.wrapuptime
        if wrap:
            # Absolute whole second: the wrap-up test compares whole seconds.
            self._at(float(now + wrap), functools.partial(self._mark, m.queue))

    # -- internals: generated traffic --------------------------------------

    def _traffic_on(self) -> bool:
        traffic = self.config.traffic
        return traffic.arrival_rate > 0 or traffic.pause_rate > 0

    def _schedule_arrival(self) -> None:
        rate = self.config.traffic.arrival_rate
        if rate > 0 and self._queues:
            self._after(self._rng.expovariate(rate), self._arrive)

    def _arrive(self) -> None:
        self._schedule_arrival()
        traffic = self.config.traffic
        staffed = [q.name for q in self._queues.values() if q.members] or list(self._queues)
        queue = self._rng.choice(staffed)
        patience = max(5.0, self._rng.expovariate(1.0 / traffic.mean_patience))
        talk = max(1.0, self._rng.expovariate(1.0 / traffic.mean_talk))
        self.originate(queue, patience=round(patience, 1), talk=round(talk, 1))

    def _schedule_random_pause(self) -> None:
        traffic = self.config.traffic
        operators = len(self._by_interface)
        if traffic.pause_rate > 0 and operators:
            rate = traffic.pause_rate * operators / 3600.0
            self._after(self._rng.expovariate(rate), self._random_pause)

    def _random_pause(self) -> None:
        self._schedule_random_pause()
        idle = [
            iface
            for iface, members in self._by_interface.items()
            if not any(m.paused for m in members) and iface not in self._engaged
        ]
        if not idle:
            return
        iface = self._rng.choice(sorted(idle))
        self.queue_pause(iface, True, reason=self._rng.choice(_PAUSE_REASONS))
        duration = self._rng.expovariate(1.0 / self.config.traffic.mean_pause)
        self._after(duration, lambda: self._unpause_quietly(iface, None))

    def _unpause_quietly(self, interface: str, queue: str | None) -> None:
        members = [
            m
            for m in self._by_interface.get(interface, ())
            if m.paused and queue in (None, m.queue)
        ]
        for m in members:
            self.queue_pause(interface, False, queue=m.queue)
