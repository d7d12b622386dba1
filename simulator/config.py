"""What a simulated call centre starts with: queues, members, phones, generated traffic.

Frozen dataclasses, no behaviour beyond validation and two ready-made centres
(:meth:`CentreConfig.lab`, :meth:`CentreConfig.generated`). The run-time state
built from them lives in :mod:`simulator.state`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum


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


AVAILABLE = (DeviceState.NOT_INUSE, DeviceState.UNKNOWN)
"""Device states in which a member can be rung."""

STRATEGIES = ("ringall", "linear", "rrmemory", "roundrobin", "leastrecent", "fewestcalls", "random")
"""The ring strategies the model implements (queues.conf's ``strategy``)."""


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
    max_wait: float = 0.0
    """Queue()'s timeout argument for generated callers: seconds in the queue before
    app_queue gives up (AMI: an abandon; queue_log: EXITWITHTIMEOUT); 0 = none."""
    pause_rate: float = 0.0
    """Pauses per operator per hour (with a random reason)."""
    mean_pause: float = 120.0
    """Mean seconds a pause lasts; auto-paused operators are unpaused after it too."""

    @property
    def active(self) -> bool:
        """Whether anything is generated (callers or pauses)."""
        return self.arrival_rate > 0 or self.pause_rate > 0


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
