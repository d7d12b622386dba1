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
* :mod:`simulator.spying` — a supervisor listening in (Originate into ChanSpy);
* :mod:`simulator.snapshots` — list items and :meth:`CallCentre.truth`;
* :mod:`simulator.queue_log` — Asterisk's queue_log of what it simulates.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from simulator import events, snapshots
from simulator.calls import CallFlow
from simulator.clock import ModelClock
from simulator.config import CentreConfig, DeviceState, MemberSetup
from simulator.events import Event
from simulator.members import MemberAdmin
from simulator.queue_log import QueueLogWriter
from simulator.spying import Spies
from simulator.state import CentreState, RealtimeWriter
from simulator.traffic import Traffic


class CallCentre:
    """The simulated call centre.

    ``clock`` gives the initial time (and the target of :meth:`sync`); model
    time then only moves when told to. ``seed`` makes the traffic, the
    bridge ids and the random choices repeatable. ``queue_log``: a file (or
    writer) that gets Asterisk's queue_log lines of what happens, in model
    time (buffered: see :meth:`flush_queue_log`). ``timestamps``: every event
    carries ``Timestamp:`` in model time, as with manager.conf
    ``timestampevents = yes`` (the recordings have none, so off by default).
    """

    def __init__(
        self,
        config: CentreConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        queue_log: str | Path | QueueLogWriter | None = None,
        timestamps: bool = False,
    ) -> None:
        self.config = config or CentreConfig.lab()
        self._clock = ModelClock(clock)
        self.started_at = self._clock.now
        self._state = CentreState(self.config, self._clock, random.Random(seed))
        self._state.timestamps = timestamps
        if queue_log is not None:
            self.set_queue_log(queue_log)
        self._members = MemberAdmin(self._state, dispatch=self._dispatch)
        self._calls = CallFlow(self._state, self._members)
        self._traffic = Traffic(self._state, self._calls, self._members)
        self._spies = Spies(self._state)
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

    @property
    def queue_log(self) -> QueueLogWriter | None:
        """The queue_log writer, if one is kept."""
        return self._state.queue_log

    def set_queue_log(self, queue_log: str | Path | QueueLogWriter | None) -> None:
        """Start (or, with None, stop) writing the queue_log; it starts with ``QUEUESTART``,
        as Asterisk's does when app_queue loads."""
        if queue_log is not None and not isinstance(queue_log, QueueLogWriter):
            queue_log = QueueLogWriter(queue_log)
        self._state.queue_log = queue_log
        self._state.log_queue("NONE", "NONE", "NONE", "QUEUESTART", "")

    def flush_queue_log(self) -> int:
        """Append the buffered queue_log lines to its file now; how many (0 without one)."""
        writer = self._state.queue_log
        return 0 if writer is None else writer.flush()

    @property
    def timestamps(self) -> bool:
        """Whether events carry ``Timestamp:`` (model time)."""
        return self._state.timestamps

    @timestamps.setter
    def timestamps(self, on: bool) -> None:
        self._state.timestamps = on

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` when events become pending or an earlier wake-up is scheduled."""
        self._state.listener = listener
        self._clock.on_earlier = listener

    def stop_traffic(self) -> None:
        """End generated traffic (closing time): no new callers or random pauses; calls,
        pauses and auto-pauses under way still end."""
        self._traffic.stop()

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
        respond: bool = False,
        action_id: str | None = None,
        data: str | None = None,
        max_wait: float | None = None,
    ) -> str:
        """A customer calls ``queue`` (the lab's ``Originate Local/<queue>@callers/n``).

        The customer hangs up after ``patience`` seconds: an abandon if still
        waiting, ``Reason: caller`` if connected. ``talk`` is the agent's talk
        time (the ``TALK`` variable), else the phone's default. Returns the
        name of the caller's channel in the queue (``…;2``). ``respond``: an
        async Originate's ``OriginateResponse`` follows (with ``action_id``,
        and ``data`` as the Originate's ``Data``, else the patience). ``max_wait``:
        Queue()'s timeout — still waiting then, the caller leaves the queue
        (an abandon on AMI, EXITWITHTIMEOUT in the queue_log).
        """
        inner = self._calls.originate(
            queue,
            caller_num=caller_num,
            caller_name=caller_name,
            patience=patience,
            talk=talk,
            max_wait=max_wait,
        )
        if respond:
            outer = self._state.channels[inner.removesuffix(";2") + ";1"]
            shown = f"{patience:g}" if data is None else data
            self._state.emit(
                events.originate_response(action_id, outer, "Wait", shown, caller_num, caller_name)
            )
        return inner

    def chanspy(
        self,
        channel: str,
        data: str,
        *,
        caller_num: str | None = None,
        caller_name: str | None = None,
        action_id: str | None = None,
        respond: bool = True,
    ) -> str:
        """``Originate`` of ``channel`` (any ``Tech/resource``) into ``ChanSpy(data)``.

        ``data`` is ChanSpy's ``<channel prefix>[,<options>]``. The phone answers
        at once; ``respond`` sends the OriginateResponse (with ``action_id``);
        then ChanSpyStart if a live channel matches, else the leg hangs up.
        Returns the name of the supervisor's leg. See :mod:`simulator.spying`.
        """
        return self._spies.originate(
            channel,
            data,
            caller_num=caller_num,
            caller_name=caller_name,
            action_id=action_id,
            respond=respond,
        )

    def hangup(self, channel: str) -> None:
        """``Hangup`` of a supervisor's spy leg (its ChanSpyStop comes when the spied call ends).

        :class:`~simulator.errors.NoSuchChannel` when nothing has that name,
        :class:`~simulator.errors.NotSimulated` for a queue call's channels.
        """
        self._spies.hangup(channel)

    def spies(self) -> list[dict[str, str | bool]]:
        """The active ChanSpy sessions (started, not yet stopped), oldest first.

        Each: ``spyer``, ``spyer_uniqueid``, ``spyee``, ``spyee_uniqueid``,
        ``options``, ``mode`` (listen, whisper, barge) and ``spyer_up`` (False
        once the supervisor's leg was hung up while the spied call goes on).
        """
        return self._spies.active()

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
        wrapuptime: int = 0,
    ) -> None:
        """QueueAdd: a dynamic member joins ``queue``.

        At the end of a linear queue's members; elsewhere where app_queue's hash
        table puts it (:func:`simulator.members.member_bucket`).
        """
        self._members.queue_add(
            queue,
            interface,
            name=name,
            state_interface=state_interface,
            penalty=penalty,
            paused=paused,
            reason=reason,
            wrapuptime=wrapuptime,
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

    # -- realtime members ------------------------------------------------------

    def reload_realtime(self, queue: str, rows: Iterable[MemberSetup]) -> None:
        """Reload ``queue``'s realtime members from its ``queue_members`` rows, silently.

        What app_queue does on the next use of a realtime queue (QueueStatus,
        QueueSummary, QueuePause … naming it): see
        :meth:`simulator.members.MemberAdmin.reload_realtime`. ``rows``'
        ``membership`` is ignored: every row is a realtime member.
        """
        self._members.reload_realtime(queue, rows)

    def set_realtime_writer(self, writer: RealtimeWriter | None) -> None:
        """Where realtime members' row changes go: ``writer(queue, interface, fields)``.

        QueuePause writes ``reason_paused`` and ``paused`` (``"1"``/``"0"``),
        QueuePenalty ``penalty``, QueueMemberRingInUse ``ringinuse`` — also
        when generated traffic or an auto-pause changes them, as app_queue does.
        """
        self._state.realtime_writer = writer

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
