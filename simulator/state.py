"""The call centre's shared state, and the primitives every part of the model uses.

:class:`CentreState` holds the queues, members, phones and channels, the
pending events (the outbox) and the set of queues whose callers may now be
served (``dirty``). Its primitives create and hang up channels and change
device states, emitting the events Asterisk emits for each; the call flow
(:mod:`simulator.calls`), member administration (:mod:`simulator.members`)
and generated traffic (:mod:`simulator.traffic`) are built on them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from simulator import events
from simulator.clock import ModelClock
from simulator.config import AVAILABLE, CentreConfig, DeviceState, PhoneConfig
from simulator.errors import InterfaceNotFound, NoSuchQueue
from simulator.events import Event
from simulator.queue_log import QueueLogWriter
from simulator.records import ChannelRecord, MemberRecord, QueueRecord

RealtimeWriter = Callable[[str, str, dict[str, str]], None]
"""(queue, interface, fields) → None: a realtime member's row changes (column → value)."""


class CentreState:
    """Everything the model knows, in Asterisk's iteration order (queues, then members)."""

    def __init__(self, config: CentreConfig, clock: ModelClock, rng: random.Random) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng
        """The one source of randomness: a seed replays the same traffic."""
        self.listener: Callable[[], None] | None = None
        """Called when the first event becomes pending."""
        self.queues: dict[str, QueueRecord] = {}
        self.devices: dict[str, DeviceState] = {}
        """Phones by state interface."""
        self.by_interface: dict[str, list[MemberRecord]] = {}
        self.by_state: dict[str, list[MemberRecord]] = {}
        self.channels: dict[str, ChannelRecord] = {}
        self.engaged: set[str] = set()
        """Interfaces ringing or talking."""
        self.dirty: dict[str, None] = {}
        """Queues where something changed: their waiting callers may be served now."""
        self.pause_states: dict[str, str] = {}
        """The ``Queue:<q>_pause_<interface>`` devices as Asterisk's device-state cache holds
        them: a DeviceStateChange goes out only when one changes, and a removed member's
        entry stays."""
        self.hangup_hooks: list[Callable[[ChannelRecord], None]] = []
        """Called with a live channel about to hang up, before its Hangup event."""
        self.realtime_writer: RealtimeWriter | None = None
        """Where a realtime member's changed row fields go (app_queue's
        ``update_realtime_member_field``); None: nowhere."""
        self.queue_log: QueueLogWriter | None = None
        """Where the queue_log lines go (:mod:`simulator.queue_log`); None: not written."""
        self.timestamps = False
        """Add ``Timestamp:`` (model time) to every event, as manager.conf
        ``timestampevents = yes`` does."""
        self._outbox: list[Event] = []
        self._uid = itertools.count()
        self._local = itertools.count()
        login = int(clock.now)
        for si, phone in config.phones.items():
            self.devices[si] = phone.initial_state
        for qc in config.queues:
            queue = QueueRecord(qc)
            for mc in qc.members:
                queue.members[mc.interface] = MemberRecord(
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
                self.devices.setdefault(mc.state_interface, DeviceState.NOT_INUSE)
            self.queues[qc.name] = queue
        self.reindex()
        for q in self.queues.values():
            self.pause_states.update(events.pause_device(m) for m in q.members.values())

    # -- the outbox -----------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Queue ``event`` for the next :meth:`drain` (stamped with model time if asked)."""
        if self.timestamps:
            event = events.stamped(event, self.clock.now)
        self._outbox.append(event)
        if len(self._outbox) == 1 and self.listener is not None:
            self.listener()

    def drain(self) -> list[Event]:
        """The events produced since the last drain, in order."""
        out, self._outbox = self._outbox, []
        return out

    @property
    def pending(self) -> int:
        """Number of events waiting to be drained."""
        return len(self._outbox)

    def log_queue(self, queue: str, callid: str, agent: str, event: str, *data: str) -> None:
        """A queue_log line at model time, when a queue_log is kept."""
        if self.queue_log is not None:
            self.queue_log.write(self.clock.now, callid, queue, agent, event, *data)

    # -- look-ups -------------------------------------------------------------

    def queue(self, name: str) -> QueueRecord:
        """The queue called ``name``, or :class:`NoSuchQueue`."""
        try:
            return self.queues[name]
        except KeyError:
            raise NoSuchQueue(name) from None

    def targets(self, interface: str, queue: str | None) -> list[MemberRecord]:
        """The memberships of ``interface``, in ``queue`` only when one is given.

        None is :class:`InterfaceNotFound`.
        """
        members = [m for m in self.by_interface.get(interface, ()) if not queue or m.queue == queue]
        if not members:
            raise InterfaceNotFound(interface)
        return members

    def reindex(self) -> None:
        """Rebuild the member lists per interface and per state interface."""
        # In queue order: the order in which Asterisk emits one event per queue.
        self.by_interface = {}
        self.by_state = {}
        for q in self.queues.values():
            for m in q.members.values():
                self.by_interface.setdefault(m.interface, []).append(m)
                self.by_state.setdefault(m.state_interface, []).append(m)

    def status(self, member: MemberRecord) -> DeviceState:
        """The state of the member's device."""
        return self.devices.get(member.state_interface, DeviceState.NOT_INUSE)

    def phone(self, member: MemberRecord) -> PhoneConfig:
        """How the member's phone behaves."""
        return self.config.phones.get(member.state_interface) or PhoneConfig()

    def mark(self, queue: str) -> None:
        """Let the waiting callers of ``queue`` be served at the next dispatch."""
        self.dirty[queue] = None

    # -- events about members ---------------------------------------------------

    def member_event(self, name: str, m: MemberRecord, *, reason: str | None = None) -> Event:
        """A member event carrying the member's current device state."""
        return events.member_event(name, m, self.status(m), reason=reason)

    def emit_pause_state(self, m: MemberRecord, *, removed: bool = False) -> None:
        """The DeviceStateChange of the member's pause pseudo-device, when its state changed.

        ``removed``: the member left the queue, which app_queue reports as NOT_INUSE.
        """
        device, value = events.pause_device(m)
        if removed:
            value = "NOT_INUSE"
        if self.pause_states.get(device) != value:
            self.pause_states[device] = value
            self.emit(events.device_state_event(device, value))

    def write_realtime(self, m: MemberRecord, fields: dict[str, str]) -> None:
        """Hand a realtime member's changed ``queue_members`` fields to the writer, if any."""
        if m.membership == "realtime" and self.realtime_writer is not None:
            self.realtime_writer(m.queue, m.interface, fields)

    # -- channels and devices ---------------------------------------------------

    def new_uniqueid(self) -> str:
        """The next channel uniqueid (``<epoch>.<n>``, as Asterisk numbers them)."""
        return f"{int(self.clock.now)}.{next(self._uid)}"

    def new_pair(
        self, exten: str, context: str, linkedid: str | None
    ) -> tuple[ChannelRecord, ChannelRecord]:
        """A Local channel pair (``…;1`` down, ``…;2`` ringing), announced with Newchannel."""
        now = self.clock.now
        base = f"Local/{exten}@{context}-{next(self._local):08x}"
        uid1 = self.new_uniqueid()
        uid2 = self.new_uniqueid()
        link = linkedid or uid1
        one = ChannelRecord(f"{base};1", uid1, link, context, exten, 0, now)
        two = ChannelRecord(f"{base};2", uid2, link, context, exten, 4, now)
        for ch in (one, two):
            self.channels[ch.name] = ch
            self.emit(events.channel_event("Newchannel", ch))
        return one, two

    def set_state(self, ch: ChannelRecord, state: int) -> None:
        """A channel changes state (Newstate)."""
        ch.state = state
        self.emit(events.channel_event("Newstate", ch))

    def hangup(self, ch: ChannelRecord, cause: int) -> None:
        """A live channel hangs up (Hangup); a channel already gone is left alone."""
        if ch.name not in self.channels:
            return
        for hook in self.hangup_hooks:
            hook(ch)
        if self.channels.pop(ch.name, None) is not None:
            self.emit(events.hangup_event(ch, cause))

    def set_device(self, state_interface: str, state: DeviceState) -> None:
        """A phone changes state: QueueMemberStatus per membership, then DeviceStateChange."""
        # QueueMemberStatus fires only on a change, once per queue membership.
        if self.devices.get(state_interface, DeviceState.NOT_INUSE) == state:
            self.devices.setdefault(state_interface, state)  # known from now on
            return
        self.devices[state_interface] = state
        members = self.by_state.get(state_interface, ())
        for m in members:
            self.emit(self.member_event("QueueMemberStatus", m))
        self.emit(events.device_state_event(state_interface, state.name))
        if state in AVAILABLE:
            for m in members:
                self.dirty[m.queue] = None
