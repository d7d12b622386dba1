"""Member administration: what QueueAdd, QueueRemove, QueuePause, QueuePenalty,
QueueMemberRingInUse and ``Setvar DEVICE_STATE(…)`` do to the call centre.

Each operation changes the members (or a phone), emits the events Asterisk
emits for it, and, where it may free someone to take a call, runs the
``dispatch`` it was given (the call flow's) before returning, as app_queue
does. How an AMI action becomes one of these calls, and its answer, is
:mod:`simulator.actions`.

Realtime members (``Membership: realtime``) are also reloaded from their
``queue_members`` rows (:meth:`MemberAdmin.reload_realtime`, app_queue's
``update_realtime_members``), silently; and what QueuePause, QueuePenalty and
QueueMemberRingInUse change on them is written back to the row through the
state's ``realtime_writer``.

Each operation also writes app_queue's queue_log lines when the centre keeps
one (:mod:`simulator.queue_log`): ADDMEMBER/REMOVEMEMBER (callid ``MANAGER``,
or ``REALTIME`` for a reload; agent = the interface, app_queue's default),
PAUSE/UNPAUSE with the reason (callid ``NONE``, agent = the MemberName),
preceded by PAUSEALL/UNPAUSEALL when no queue is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from simulator.config import DeviceState, MemberSetup
from simulator.errors import InvalidArgument, MemberExists, NotAMember, NotDynamic
from simulator.records import MemberRecord, QueueRecord
from simulator.state import CentreState

_LIST_STRATEGIES = frozenset({"linear", "rrordered"})
"""Strategies whose members app_queue keeps in a list (in the order added); the
others keep them in a 37-bucket hash table, iterated bucket by bucket."""


def member_bucket(interface: str) -> int:
    """The hash bucket of app_queue's member table (``member_hash_fn`` modulo 37).

    It hashes at most five characters from the ``/`` on, so ``Local/1004@agents/n``
    (bucket 1) comes before ``Local/1001@agents/n`` (bucket 8), as h_realtime shows.
    """
    slash = interface.find("/")
    name = interface[slash:] if slash >= 0 else interface
    total = 0
    for i, char in enumerate(name[:5]):
        code = ord(char)
        total += (0 if code < 32 else code - 64 if code > 96 else code - 32) << (i * 6)
    return total % 37


def insert_member(q: QueueRecord, member: MemberRecord) -> None:
    """Add ``member`` where app_queue's iteration (QueueStatus, ringing order) will find it."""
    if q.config.strategy in _LIST_STRATEGIES or not q.members:
        q.members[member.interface] = member
        return
    bucket = member_bucket(member.interface)
    items = list(q.members.items())
    at = next((i for i, (k, _) in enumerate(items) if member_bucket(k) > bucket), len(items))
    items.insert(at, (member.interface, member))
    q.members.clear()
    q.members.update(items)


class MemberAdmin:
    """The member operations on one centre's state."""

    def __init__(self, state: CentreState, dispatch: Callable[[], None]) -> None:
        self._state = state
        self._dispatch = dispatch

    def queue_add(
        self,
        queue: str,
        interface: str,
        *,
        penalty: int,
        paused: bool,
        reason: str,
        name: str,
        state_interface: str,
        wrapuptime: int = 0,
    ) -> None:
        """QueueAdd: a dynamic member joins ``queue`` (:func:`insert_member` says where).

        An empty ``name`` or ``state_interface`` is the interface. ``reason`` is
        stored even when not paused, as app_queue's ``add_to_queue`` does.
        """
        state = self._state
        q = state.queue(queue)
        if interface in q.members:
            raise MemberExists(interface)
        if penalty < 0:
            raise InvalidArgument("penalty")
        now = int(state.clock.now)
        member = MemberRecord(
            queue,
            interface,
            name or interface,
            state_interface or interface,
            "dynamic",
            penalty,
            now,
            paused_reason=reason,
            wrapuptime=max(0, wrapuptime),
        )
        if paused:
            member.paused, member.last_pause = True, now
        insert_member(q, member)
        state.devices.setdefault(member.state_interface, DeviceState.NOT_INUSE)
        state.reindex()
        state.emit_pause_state(member)
        state.emit(state.member_event("QueueMemberAdded", member))
        state.log_queue(queue, "MANAGER", interface, "ADDMEMBER", "PAUSED" if paused else "")
        state.mark(queue)
        self._dispatch()

    def queue_remove(self, queue: str, interface: str) -> None:
        """QueueRemove: only dynamic members can go."""
        state = self._state
        q = state.queue(queue)
        member = q.members.get(interface)
        if member is None:
            raise NotAMember(interface)
        if member.membership != "dynamic":
            raise NotDynamic(interface)
        del q.members[interface]
        state.reindex()
        state.emit(state.member_event("QueueMemberRemoved", member))
        state.log_queue(queue, "MANAGER", interface, "REMOVEMEMBER", "")
        state.emit_pause_state(member, removed=True)

    def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str = ""
    ) -> None:
        """QueuePause in ``queue``, or in every queue of the interface when ``None``.

        The event carries ``reason`` even on unpause, but the stored reason is
        cleared then (as the recorded QueueStatus shows). The pause device's
        DeviceStateChange goes out only where the pause state changed
        (e_member_admin: no event for a queue where the member was paused already).
        A realtime member's row gets ``reason_paused`` and ``paused``.
        """
        state = self._state
        members = state.targets(interface, queue)
        if not queue:
            event = "PAUSEALL" if paused else "UNPAUSEALL"
            state.log_queue("NONE", "NONE", members[0].name, event, reason)
        for member in members:
            state.log_queue(
                member.queue, "NONE", member.name, "PAUSE" if paused else "UNPAUSE", reason
            )
            state.write_realtime(
                member, {"reason_paused": reason, "paused": "1" if paused else "0"}
            )
            member.paused = paused
            if paused:
                member.last_pause = int(state.clock.now)
            member.paused_reason = reason if paused else ""
            state.emit_pause_state(member)
            state.emit(state.member_event("QueueMemberPause", member, reason=reason))
            if not paused:
                state.mark(member.queue)
        self._dispatch()

    def unpause(self, interface: str, queue: str | None) -> None:
        """End a pause (a generated one, or an auto-pause) in ``queue`` or everywhere.

        Memberships not paused any more are left alone.
        """
        members = [
            m
            for m in self._state.by_interface.get(interface, ())
            if m.paused and queue in (None, m.queue)
        ]
        for m in members:
            self.queue_pause(interface, False, queue=m.queue)

    def queue_penalty(self, interface: str, penalty: int, *, queue: str | None = None) -> None:
        """QueuePenalty in ``queue``, or in every queue of the interface."""
        if penalty < 0:
            raise InvalidArgument("penalty")
        state = self._state
        for member in state.targets(interface, queue):
            state.write_realtime(member, {"penalty": str(penalty)})
            member.penalty = penalty
            state.emit(state.member_event("QueueMemberPenalty", member))
            state.mark(member.queue)
        self._dispatch()

    def queue_ringinuse(self, interface: str, ringinuse: bool, *, queue: str | None = None) -> None:
        """QueueMemberRingInUse: stored and reported (the phones never take two calls)."""
        state = self._state
        for member in state.targets(interface, queue):
            state.write_realtime(member, {"ringinuse": "1" if ringinuse else "0"})
            member.ringinuse = ringinuse
            state.emit(state.member_event("QueueMemberRinginuse", member))

    def set_device_state(self, state_interface: str, state: DeviceState | int | str) -> None:
        """``Setvar DEVICE_STATE(<state_interface>)=<state>``: a phone changes state."""
        if isinstance(state, str):
            try:
                value = DeviceState[state.upper()]
            except KeyError:
                raise InvalidArgument(state) from None
        else:
            value = DeviceState(state)
        self._state.set_device(state_interface, value)
        self._dispatch()

    def reload_realtime(self, queue: str, rows: Iterable[MemberSetup]) -> None:
        """Make ``queue``'s realtime members what its ``queue_members`` rows say, silently.

        app_queue's ``update_realtime_members``: a new row becomes a realtime member
        (its status from its device); a known one keeps its calls and state but
        takes the row's penalty, paused (LastPause set if it had none), reason,
        wrap-up, ringinuse and state interface; a member without a row any more
        leaves (a call in progress goes on). No QueueMemberAdded/Removed/Pause is
        sent, only the pause devices' DeviceStateChange where they changed.
        Rows are matched by interface (Asterisk uses the row's uniqueid); a row
        naming a static or dynamic member of the queue is ignored.
        """
        state = self._state
        q = state.queue(queue)
        now = int(state.clock.now)
        seen: set[str] = set()
        for row in rows:
            if row.interface in seen:
                continue
            seen.add(row.interface)
            member = q.members.get(row.interface)
            state_interface = row.state_interface or row.interface
            if member is None:
                member = MemberRecord(
                    queue,
                    row.interface,
                    row.name or row.interface,
                    state_interface,
                    "realtime",
                    max(0, row.penalty),
                    now,
                    last_pause=now if row.paused else 0,
                    paused=row.paused,
                    paused_reason=row.paused_reason,
                    ringinuse=row.ringinuse,
                    wrapuptime=max(0, row.wrapuptime),
                )
                insert_member(q, member)
                event = "PAUSED" if row.paused else ""
                state.log_queue(queue, "REALTIME", row.interface, "ADDMEMBER", event)
            elif member.membership == "realtime":
                member.paused = row.paused
                if row.paused and not member.last_pause:
                    member.last_pause = now
                member.state_interface = state_interface
                member.penalty = max(0, row.penalty)
                member.ringinuse = row.ringinuse
                member.wrapuptime = max(0, row.wrapuptime)
                member.paused_reason = row.paused_reason
            else:
                continue
            state.devices.setdefault(state_interface, DeviceState.NOT_INUSE)
            state.emit_pause_state(member)
        gone = [
            m for m in q.members.values() if m.membership == "realtime" and m.interface not in seen
        ]
        for member in gone:
            del q.members[member.interface]
            state.log_queue(queue, "REALTIME", member.interface, "REMOVEMEMBER", "")
            state.emit_pause_state(member, removed=True)
        state.reindex()
        state.mark(queue)
        self._dispatch()
