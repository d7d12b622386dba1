"""Generated load: Poisson caller arrivals and operators pausing now and then.

Driven by :class:`~simulator.config.TrafficConfig`; with everything at zero
nothing is scheduled and the centre only does what it is told. :meth:`Traffic.stop`
ends it (the end of a simulated day: the calls in progress finish).
"""

from __future__ import annotations

from simulator.calls import CallFlow
from simulator.members import MemberAdmin
from simulator.state import CentreState

_PAUSE_REASONS = ("lunch", "break", "training", "meeting", "coffee")


class Traffic:
    """Schedules the next arrival and the next random pause, each rescheduling itself."""

    def __init__(self, state: CentreState, calls: CallFlow, members: MemberAdmin) -> None:
        self._state = state
        self._calls = calls
        self._members = members
        self._stopped = False

    def stop(self) -> None:
        """No more arrivals or random pauses (those under way still end)."""
        self._stopped = True

    def start(self) -> None:
        """Schedule the first arrival and the first pause."""
        self._schedule_arrival()
        self._schedule_random_pause()

    def _schedule_arrival(self) -> None:
        state = self._state
        rate = state.config.traffic.arrival_rate
        if rate > 0 and state.queues:
            state.clock.after(state.rng.expovariate(rate), self._arrive)

    def _arrive(self) -> None:
        if self._stopped:
            return
        self._schedule_arrival()
        state = self._state
        traffic = state.config.traffic
        staffed = [q.name for q in state.queues.values() if q.members] or list(state.queues)
        queue = state.rng.choice(staffed)
        patience = max(5.0, state.rng.expovariate(1.0 / traffic.mean_patience))
        talk = max(1.0, state.rng.expovariate(1.0 / traffic.mean_talk))
        self._calls.originate(
            queue,
            patience=round(patience, 1),
            talk=round(talk, 1),
            max_wait=traffic.max_wait or None,
        )

    def _schedule_random_pause(self) -> None:
        state = self._state
        traffic = state.config.traffic
        operators = len(state.by_interface)
        if traffic.pause_rate > 0 and operators:
            rate = traffic.pause_rate * operators / 3600.0
            state.clock.after(state.rng.expovariate(rate), self._random_pause)

    def _random_pause(self) -> None:
        if self._stopped:
            return
        self._schedule_random_pause()
        state = self._state
        idle = [
            iface
            for iface, members in state.by_interface.items()
            if not any(m.paused for m in members) and iface not in state.engaged
        ]
        if not idle:
            return
        iface = state.rng.choice(sorted(idle))
        self._members.queue_pause(iface, True, reason=state.rng.choice(_PAUSE_REASONS))
        duration = state.rng.expovariate(1.0 / state.config.traffic.mean_pause)
        state.clock.after(duration, lambda: self._members.unpause(iface, None))
