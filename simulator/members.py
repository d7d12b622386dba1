"""Member administration: what QueueAdd, QueueRemove, QueuePause, QueuePenalty,
QueueMemberRingInUse and ``Setvar DEVICE_STATE(…)`` do to the call centre.

Each operation changes the members (or a phone), emits the events Asterisk
emits for it, and, where it may free someone to take a call, runs the
``dispatch`` it was given (the call flow's) before returning, as app_queue
does. How an AMI action becomes one of these calls, and its answer, is
:mod:`simulator.actions`.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.config import DeviceState
from simulator.errors import InvalidArgument, MemberExists, NotAMember, NotDynamic
from simulator.records import MemberRecord
from simulator.state import CentreState


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
    ) -> None:
        """QueueAdd: a dynamic member joins ``queue`` at the end of its member list.

        An empty ``name`` or ``state_interface`` is the interface.
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
        )
        if paused:
            member.paused, member.last_pause, member.paused_reason = True, now, reason
        q.members[interface] = member
        state.devices.setdefault(member.state_interface, DeviceState.NOT_INUSE)
        state.reindex()
        state.emit_pause_state(member)
        state.emit(state.member_event("QueueMemberAdded", member))
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

    def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str = ""
    ) -> None:
        """QueuePause in ``queue``, or in every queue of the interface when ``None``.

        The event carries ``reason`` even on unpause, but the stored reason is
        cleared then (as the recorded QueueStatus shows).
        """
        state = self._state
        members = state.targets(interface, queue)
        for member in members:
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
            member.penalty = penalty
            state.emit(state.member_event("QueueMemberPenalty", member))
            state.mark(member.queue)
        self._dispatch()

    def queue_ringinuse(self, interface: str, ringinuse: bool, *, queue: str | None = None) -> None:
        """QueueMemberRingInUse: stored and reported (the phones never take two calls)."""
        state = self._state
        for member in state.targets(interface, queue):
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
