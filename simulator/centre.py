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

:class:`CallCentre` is the one entry point; it composes the parts, each in its
own module:

* :mod:`simulator.clock` — model time and timers;
* :mod:`simulator.state` — the shared state and its primitives (channels,
  devices, the outbox), over :mod:`simulator.records` and the event shapes of
  :mod:`simulator.events`;
* :mod:`simulator.calls` — the call state machine;
* :mod:`simulator.members` — member administration (QueueAdd, QueuePause …);
* :mod:`simulator.traffic` — generated arrivals and pauses;
* :mod:`simulator.snapshots` — list items and :meth:`CallCentre.truth`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from simulator import snapshots
from simulator.calls import CallFlow
from simulator.clock import ModelClock
from simulator.config import CentreConfig, DeviceState
from simulator.events import Event
from simulator.members import MemberAdmin
from simulator.state import CentreState
from simulator.traffic import Traffic


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
        self._clock = ModelClock(clock)
        self.started_at = self._clock.now
        self._state = CentreState(self.config, self._clock, random.Random(seed))
        self._members = MemberAdmin(self._state, dispatch=self._dispatch)
        self._calls = CallFlow(self._state, self._members)
        self._traffic = Traffic(self._state, self._calls, self._members)
        self._traffic.start()

    # -- time ---------------------------------------------------------------

    @property
    def now(self) -> float:
        """Model time (epoch seconds)."""
        return self._clock.now

    def clock(self) -> float:
        """The clock's time (what :meth:`sync` catches up with)."""
        return self._clock.source()

    def next_due(self) -> float | None:
        """When the next scheduled thing happens, or ``None`` if nothing is scheduled."""
        return self._clock.next_due()

    def step(self) -> bool:
        """Run the next scheduled thing, moving time to it; ``False`` when nothing is left."""
        timer = self._clock.pop_due()
        if timer is None:
            return False
        timer.action()
        self._dispatch()
        return True

    def advance_to(self, when: float) -> None:
        """Run everything scheduled up to ``when``; time ends at ``when``."""
        while (due := self.next_due()) is not None and due <= when:
            self.step()
        self._clock.move_to(when)

    def run_for(self, seconds: float) -> None:
        """Fast-forward ``seconds`` of model time."""
        self.advance_to(self._clock.now + seconds)

    def sync(self) -> None:
        """Catch up with the clock."""
        self.advance_to(self._clock.source())

    # -- output -------------------------------------------------------------

    def drain(self) -> list[Event]:
        """The events produced since the last drain, in order."""
        return self._state.drain()

    @property
    def pending(self) -> int:
        """Number of events waiting to be drained."""
        return self._state.pending

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` when events become pending or an earlier wake-up is scheduled."""
        self._state.listener = listener
        self._clock.on_earlier = listener

    # -- AMI-visible operations --------------------------------------------

    @property
    def queue_names(self) -> list[str]:
        """Queues in iteration order."""
        return list(self._state.queues)

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
        return self._calls.originate(
            queue, caller_num=caller_num, caller_name=caller_name, patience=patience, talk=talk
        )

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
        self._members.queue_add(
            queue,
            interface,
            name=name,
            state_interface=state_interface,
            penalty=penalty,
            paused=paused,
            reason=reason,
        )

    def queue_remove(self, queue: str, interface: str) -> None:
        """QueueRemove: only dynamic members can go."""
        self._members.queue_remove(queue, interface)

    def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str = ""
    ) -> None:
        """QueuePause in ``queue``, or in every queue of the interface when ``None``.

        The event carries ``reason`` even on unpause, but the stored reason is
        cleared then (as the recorded QueueStatus shows).
        """
        self._members.queue_pause(interface, paused, queue=queue, reason=reason)

    def queue_penalty(self, interface: str, penalty: int, *, queue: str | None = None) -> None:
        """QueuePenalty in ``queue``, or in every queue of the interface."""
        self._members.queue_penalty(interface, penalty, queue=queue)

    def queue_ringinuse(self, interface: str, ringinuse: bool, *, queue: str | None = None) -> None:
        """QueueMemberRingInUse: stored and reported (the phones never take two calls)."""
        self._members.queue_ringinuse(interface, ringinuse, queue=queue)

    def set_device_state(self, state_interface: str, state: DeviceState | int | str) -> None:
        """``Setvar DEVICE_STATE(<state_interface>)=<state>``: a phone changes state."""
        self._members.set_device_state(state_interface, state)

    # -- snapshots (list items without ActionID) ---------------------------

    def queue_status(self, queue: str = "", member: str = "") -> list[Event]:
        """QueueParams, QueueMember and QueueEntry items, as ``QueueStatus`` lists them."""
        return snapshots.queue_status(self._state, queue, member)

    def queue_summary(self, queue: str = "") -> list[Event]:
        """QueueSummary items."""
        return snapshots.queue_summary(self._state, queue)

    def core_show_channels(self) -> list[Event]:
        """CoreShowChannel items (channel fields + Application … BridgeId), no ActionID."""
        return snapshots.core_show_channels(self._state)

    def device_states(self) -> list[tuple[str, str]]:
        """(Device, State) pairs for DeviceStateList: phones and queue pause states."""
        return snapshots.device_states(self._state)

    def uptime(self) -> int:
        """Seconds since the model started."""
        return int(self._clock.now - self.started_at)

    def truth(self) -> dict[str, Any]:
        """The whole current state as plain dicts (see :func:`simulator.snapshots.truth`)."""
        return snapshots.truth(self._state)

    # -- internals ------------------------------------------------------------

    def _dispatch(self) -> None:
        # Ring whoever is free for the callers waiting where something changed.
        self._calls.dispatch()
