"""The call centre's run-time records: queues, members, channels, callers, ring attempts.

Plain mutable data, built from :mod:`simulator.config` and changed by the
parts of the model (:mod:`simulator.calls`, :mod:`simulator.members`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.clock import Timer
from simulator.config import QueueSetup


@dataclass(eq=False)
class MemberRecord:
    """One membership: an interface in one queue."""

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
class ChannelRecord:
    """One live channel."""

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
class RingAttempt:
    """A member's phone ringing for one caller."""

    member: MemberRecord
    leg1: ChannelRecord
    """The member's outbound channel (``…;1``): the ``Dest*`` snapshot."""
    leg2: ChannelRecord
    started: float
    timer: Timer | None = None


@dataclass(eq=False)
class CallerRecord:
    """One caller, from Originate until hang-up."""

    queue: str
    outer: ChannelRecord
    """``…;1``: the customer, who hangs up when patience runs out."""
    inner: ChannelRecord
    """``…;2``: the channel in Queue(), named in the queue events."""
    talk: float | None
    state: str = "dialing"
    joined_at: float = 0.0
    original_position: int = 0
    attempts: dict[str, RingAttempt] = field(default_factory=dict)
    retry_until: float = 0.0
    linpos: int = 0
    connected: RingAttempt | None = None
    connected_at: float = 0.0
    hold: int = 0
    timers: list[Timer] = field(default_factory=list)
    max_wait: float | None = None
    """Queue()'s timeout argument: seconds in the queue before it gives up."""


@dataclass(eq=False)
class QueueRecord:
    """One queue: its members, its waiting callers (in position order), its statistics."""

    config: QueueSetup
    members: dict[str, MemberRecord] = field(default_factory=dict)
    callers: list[CallerRecord] = field(default_factory=list)
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
