"""The call state machine: a caller from Originate to hang-up.

Originate creates the caller's Local channel pair; after the dialplan's join
delay the caller enters the queue, free members are rung by the queue's
strategy (:meth:`CallFlow.dispatch`), and the call ends in an answer, a ring
with no answer (retry, auto-pause), an abandon, the Queue() timeout or a
completion, each with the events app_queue sent in the recorded traces:
``shared_lastcall``, the exponential hold/talk averages, abandon =
QueueCallerAbandon then QueueCallerLeave, the end-of-call races of
:attr:`CentreConfig.quirks`. The Queue() timeout is an abandon on AMI too
(app_queue's ``record_abandoned``); only the queue_log tells it apart
(``EXITWITHTIMEOUT``, see :mod:`simulator.queue_log`), and each step writes
its queue_log line when the centre keeps one.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable

from simulator import events
from simulator.config import AVAILABLE, DeviceState
from simulator.errors import NoSuchQueue
from simulator.members import MemberAdmin
from simulator.records import CallerRecord, MemberRecord, QueueRecord, RingAttempt
from simulator.state import CentreState


def _ema(old: int, new: int) -> int:
    # app_queue's exponential average with a filter coefficient of 4.
    return (old * 3 + new) >> 2


def _local_parts(interface: str) -> tuple[str, str]:
    """(exten, context) of ``Local/<exten>@<context>/n``; other techs keep their resource."""
    resource = interface.split("/", 1)[1] if "/" in interface else interface
    resource = resource.removesuffix("/n")
    exten, _, context = resource.partition("@")
    return exten, context or "agents"


class CallFlow:
    """Callers of one centre: Originate, queueing, ringing, talking, hanging up.

    ``members`` pauses a member whose queue auto-pauses on no answer.
    """

    def __init__(self, state: CentreState, members: MemberAdmin) -> None:
        self._state = state
        self._clock = state.clock
        self._members = members
        self._callers = itertools.count(1)

    def originate(
        self,
        queue: str,
        *,
        patience: float,
        talk: float | None,
        caller_num: str | None = None,
        caller_name: str | None = None,
        max_wait: float | None = None,
    ) -> str:
        """A caller's Local pair now; joining the queue and hanging up scheduled.

        ``max_wait``: Queue()'s timeout argument (seconds in the queue before
        it gives up on the caller), None for none.

        :meth:`CallCentre.originate <simulator.centre.CallCentre.originate>`
        says what the caller then does.
        """
        if queue not in self._state.queues:
            raise NoSuchQueue(queue)
        n = next(self._callers)
        num = caller_num or f"555{n % 10000:04d}"
        name = caller_name or f"Customer {n}"
        outer, inner = self._state.new_pair(queue, "callers", None)
        for ch in (outer, inner):
            ch.cid_num = ch.con_num = num
            ch.cid_name = ch.con_name = name
        outer.application, outer.app_data = "Wait", f"{patience:g}"
        timeout = f",,,{max_wait:g}" if max_wait else ""
        inner.application, inner.app_data = "Queue", f"{queue},r{timeout}"
        inner.priority = "2"
        self._state.set_state(inner, 6)
        self._state.set_state(outer, 6)
        entry = CallerRecord(queue, outer, inner, talk, max_wait=max_wait or None)
        entry.timers.append(
            self._clock.after(self._state.config.join_delay, lambda: self._join(entry))
        )
        entry.timers.append(self._clock.after(patience, lambda: self._customer_hangup(entry)))
        return inner.name

    # -- internals -------------------------------------------------------------

    def _join(self, entry: CallerRecord) -> None:
        q = self._state.queues.get(entry.queue)
        if q is None:  # the queue vanished: the caller just hangs up
            self._release_caller(entry, 16)
            return
        entry.state = "waiting"
        entry.joined_at = self._clock.now
        entry.inner.priority = "4"
        q.callers.append(entry)
        entry.original_position = len(q.callers)
        event = events.caller_event("QueueCallerJoin", entry)
        event["Position"] = event["Count"] = str(len(q.callers))
        self._state.emit(event)
        # url|callerid|position (no URL in the lab's Queue() call).
        self._state.log_queue(
            q.name,
            entry.inner.uniqueid,
            "NONE",
            "ENTERQUEUE",
            "",
            entry.inner.cid_num,
            str(entry.original_position),
        )
        if entry.max_wait is not None:
            entry.timers.append(self._clock.after(entry.max_wait, lambda: self._time_out(entry)))
        self._state.mark(q.name)

    def _available(self, q: QueueRecord, m: MemberRecord) -> bool:
        if m.paused or m.interface in self._state.engaged or self._state.status(m) not in AVAILABLE:
            return False
        wrap = m.wrapuptime or q.config.wrapuptime
        return not (m.last_call and wrap and int(self._clock.now) - wrap < m.last_call)

    def dispatch(self) -> None:
        # Ring free members for waiting callers of every queue where something
        # changed. Callers are served in position order (autofill = yes).
        while self._state.dirty:
            names = list(self._state.dirty)
            self._state.dirty.clear()
            for name in names:
                q = self._state.queues.get(name)
                if q is None:
                    continue
                for entry in list(q.callers):
                    if entry.attempts or entry.retry_until > self._clock.now:
                        continue
                    picked = self._pick(q, entry)
                    if not picked:
                        break
                    for member in picked:
                        self._ring(q, entry, member)

    def _pick(self, q: QueueRecord, entry: CallerRecord) -> list[MemberRecord]:
        members = list(q.members.values())
        free = [(i, m) for i, m in enumerate(members) if self._available(q, m)]
        if not free:
            return []
        strategy = q.config.strategy
        if strategy == "ringall":
            low = min(m.penalty for _, m in free)
            return [m for _, m in free if m.penalty == low]
        n = len(members)
        key: Callable[[tuple[int, MemberRecord]], tuple[float, float]]
        if strategy in ("rrmemory", "roundrobin"):
            key = lambda im: (im[1].penalty, (im[0] - q.rrpos) % n)  # noqa: E731
        elif strategy == "linear":
            key = lambda im: (im[1].penalty, (im[0] - entry.linpos) % n)  # noqa: E731
        elif strategy == "leastrecent":
            key = lambda im: (im[1].penalty, im[1].last_call)  # noqa: E731
        elif strategy == "fewestcalls":
            key = lambda im: (im[1].penalty, im[1].calls)  # noqa: E731
        else:
            key = lambda im: (im[1].penalty, self._state.rng.random())  # noqa: E731
        index, member = min(free, key=key)
        q.rrpos = (index + 1) % n
        entry.linpos = (index + 1) % n
        return [member]

    def _ring(self, q: QueueRecord, entry: CallerRecord, member: MemberRecord) -> None:
        exten, context = _local_parts(member.interface)
        leg1, leg2 = self._state.new_pair(exten, context, entry.outer.linkedid)
        for ch in (leg1, leg2):
            ch.cid_num = ch.con_num = entry.inner.cid_num
            ch.cid_name = ch.con_name = entry.inner.cid_name
            # As in the traces: the legs are announced without caller id, then told it.
            event = events.channel_event("NewCallerid", ch)
            event["CID-CallingPres"] = "0 (Presentation Allowed, Not Screened)"
            self._state.emit(event)
        leg1.exten = q.name  # the dialled leg shows the queue as its exten
        leg1.application, leg1.app_data = "AppDial", "(Outgoing Line)"
        leg2.application = "Wait"
        attempt = RingAttempt(member, leg1, leg2, self._clock.now)
        entry.attempts[member.interface] = attempt
        self._state.engaged.add(member.interface)
        event = events.caller_event("AgentCalled", entry, leg1)
        event["Interface"] = member.interface
        event["MemberName"] = member.name
        self._state.emit(event)
        self._state.set_device(member.state_interface, DeviceState.RINGING)
        self._state.set_state(leg1, 5)
        phone = self._state.phone(member)
        delay = phone.ring_delay
        if phone.no_answer and self._state.rng.random() < phone.no_answer:
            delay = None
        if delay is not None and delay < q.config.timeout:
            attempt.timer = self._clock.after(delay, lambda: self._answer(entry, attempt))
        else:
            attempt.timer = self._clock.after(
                q.config.timeout, lambda: self._no_answer(entry, attempt)
            )

    def _drop_attempt(self, entry: CallerRecord, attempt: RingAttempt, cause: int) -> None:
        """Hang up a ringing member leg (cancelled, answered elsewhere, no answer)."""
        entry.attempts.pop(attempt.member.interface, None)
        if attempt.timer is not None:
            attempt.timer.cancelled = True
        self._state.hangup(attempt.leg1, cause)
        self._free_phone(attempt.member)
        self._state.hangup(attempt.leg2, cause)

    def _free_phone(self, member: MemberRecord) -> None:
        self._state.engaged.discard(member.interface)
        # Its queues may have callers waiting, even if the device state did
        # not change (a state interface no call drives).
        for m in self._state.by_interface.get(member.interface, ()):
            self._state.mark(m.queue)
        self._state.set_device(member.state_interface, DeviceState.NOT_INUSE)

    def _answer(self, entry: CallerRecord, attempt: RingAttempt) -> None:
        q = self._state.queues[entry.queue]
        member = attempt.member
        entry.attempts.pop(member.interface, None)
        self._state.set_state(attempt.leg2, 6)
        self._state.set_state(attempt.leg1, 6)
        hold = int(self._clock.now) - int(entry.joined_at)
        entry.hold = hold
        if q.completed + q.abandoned == 0:
            q.holdtime = hold
        else:
            q.holdtime = _ema(q.holdtime, hold)
        position = q.callers.index(entry) + 1
        q.callers.remove(entry)
        event = events.caller_event("QueueCallerLeave", entry)
        event["Position"] = str(position)
        event["Count"] = str(len(q.callers))
        self._state.emit(event)
        event = events.caller_event("AgentConnect", entry, attempt.leg1)
        event["Interface"] = member.interface
        event["MemberName"] = member.name
        event["HoldTime"] = str(hold)
        event["RingTime"] = str(int(round(self._clock.now - attempt.started, 3)))
        self._state.log_queue(
            q.name,
            entry.inner.uniqueid,
            member.name,
            "CONNECT",
            str(hold),
            attempt.leg1.uniqueid,
            event["RingTime"],
        )
        self._state.emit(event)
        for other in list(entry.attempts.values()):
            self._drop_attempt(entry, other, 26)
        entry.state = "connected"
        entry.connected = attempt
        entry.connected_at = self._clock.now
        bridge = str(uuid.UUID(int=self._state.rng.getrandbits(128), version=4))
        entry.inner.bridge = attempt.leg1.bridge = bridge
        member.in_call = True
        self._state.set_device(member.state_interface, DeviceState.INUSE)
        talk = entry.talk if entry.talk is not None else self._state.phone(member).talk_time
        entry.timers.append(self._clock.after(talk, lambda: self._complete(entry, "agent")))

    def _no_answer(self, entry: CallerRecord, attempt: RingAttempt) -> None:
        q = self._state.queues[entry.queue]
        member = attempt.member
        event = events.caller_event("AgentRingNoAnswer", entry, attempt.leg1)
        event["Interface"] = member.interface
        event["MemberName"] = member.name
        event["RingTime"] = str(round((self._clock.now - attempt.started) * 1000))
        self._state.emit(event)
        self._state.log_queue(
            q.name, entry.inner.uniqueid, member.name, "RINGNOANSWER", event["RingTime"]
        )
        if q.config.autopause and member.queue == q.name and not member.paused:
            self._members.queue_pause(member.interface, True, queue=q.name, reason="Auto-Pause")
            if self._state.config.traffic.active:
                iface, qname = member.interface, q.name
                self._clock.after(
                    self._state.config.traffic.mean_pause,
                    lambda: self._members.unpause(iface, qname),
                )
        attempt.timer = None
        self._drop_attempt(entry, attempt, 0)
        if not entry.attempts and entry.state == "waiting":
            entry.retry_until = self._clock.now + q.config.retry
            qname = q.name
            entry.timers.append(self._clock.after(q.config.retry, lambda: self._state.mark(qname)))

    def _customer_hangup(self, entry: CallerRecord) -> None:
        if entry.state == "connected":
            self._complete(entry, "caller")
        elif entry.state == "waiting":
            self._abandon(entry)
        elif entry.state == "dialing":
            self._release_caller(entry, 16)

    def _abandon(self, entry: CallerRecord) -> None:
        q = self._state.queues[entry.queue]
        self._state.hangup(entry.outer, 0)
        ringing = list(entry.attempts.values())
        for attempt in ringing:
            if attempt.timer is not None:
                attempt.timer.cancelled = True
            self._state.hangup(attempt.leg1, 0)
            ringing_ms = round((self._clock.now - attempt.started) * 1000)
            self._state.log_queue(
                q.name, entry.inner.uniqueid, attempt.member.name, "RINGCANCELED", str(ringing_ms)
            )
        self._leave_unanswered(q, entry, "ABANDON")
        self._release_caller(entry, 0)
        for attempt in ringing:
            entry.attempts.pop(attempt.member.interface, None)
            self._free_phone(attempt.member)
            self._state.hangup(attempt.leg2, 0)

    def _time_out(self, entry: CallerRecord) -> None:
        """Queue()'s timeout: the members still ringing time out (app_queue cuts their
        ring short), then ``record_abandoned`` as for an abandon, ``EXITWITHTIMEOUT``
        in the queue_log; the caller goes back to the dialplan, which hangs up."""
        if entry.state != "waiting":
            return
        q = self._state.queues[entry.queue]
        for attempt in list(entry.attempts.values()):
            if attempt.timer is not None:
                attempt.timer.cancelled = True
            self._no_answer(entry, attempt)
        self._leave_unanswered(q, entry, "EXITWITHTIMEOUT")
        self._release_caller(entry, 16)

    def _leave_unanswered(self, q: QueueRecord, entry: CallerRecord, logged: str) -> None:
        """``record_abandoned``: QueueCallerAbandon, the queue_log line ``logged``
        (position|origposition|waittime), then QueueCallerLeave."""
        hold = int(self._clock.now) - int(entry.joined_at)
        position = q.callers.index(entry) + 1
        event = events.caller_event("QueueCallerAbandon", entry)
        event["Position"] = str(position)
        event["OriginalPosition"] = str(entry.original_position)
        event["HoldTime"] = str(hold)
        self._state.emit(event)
        self._state.log_queue(
            q.name,
            entry.inner.uniqueid,
            "NONE",
            logged,
            str(position),
            str(entry.original_position),
            str(hold),
        )
        q.callers.remove(entry)
        q.abandoned += 1
        if hold <= q.config.servicelevel:
            q.abandoned_in_sl += 1
        event = events.caller_event("QueueCallerLeave", entry)
        event["Position"] = str(position)
        event["Count"] = str(len(q.callers))
        self._state.emit(event)

    def _release_caller(self, entry: CallerRecord, cause: int) -> None:
        entry.state = "done"
        for timer in entry.timers:
            timer.cancelled = True
        self._state.hangup(entry.outer, cause)
        self._state.hangup(entry.inner, cause)

    def _complete(self, entry: CallerRecord, reason: str) -> None:
        attempt = entry.connected
        if attempt is None or entry.state != "connected":
            return
        member = attempt.member
        talk = int(self._clock.now) - int(entry.connected_at)
        event = events.caller_event("AgentComplete", entry, attempt.leg1)
        event["Interface"] = member.interface
        event["MemberName"] = member.name
        event["HoldTime"] = str(entry.hold)
        event["TalkTime"] = str(talk)
        event["Reason"] = reason
        self._state.log_queue(
            entry.queue,
            entry.inner.uniqueid,
            member.name,
            "COMPLETEAGENT" if reason == "agent" else "COMPLETECALLER",
            str(entry.hold),
            str(talk),
            str(entry.original_position),
        )
        if reason == "agent":
            quirks = self._state.config.quirks
            racy = quirks > 0 and self._state.rng.random() < quirks
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
            self._state.hangup(attempt.leg2, 16)
            counted = self._member_done(member, stale=racy)
            self._state.emit(event)
            self._state.hangup(attempt.leg1, 16)
            self._release_caller(entry, 16)
        else:
            self._state.hangup(entry.outer, 16)
            self._state.emit(event)
            self._release_caller(entry, 16)
            self._state.hangup(attempt.leg1, 16)
            self._state.hangup(attempt.leg2, 16)
            counted = self._member_done(member)
        q = self._state.queues.get(entry.queue)
        if q is not None and counted:
            q.completed += 1
            if entry.hold <= q.config.servicelevel:
                q.completed_in_sl += 1
            q.talktime = talk if q.completed == 1 else _ema(q.talktime, talk)

    def _member_done(self, member: MemberRecord, *, stale: bool = False) -> bool:
        """shared_lastcall: CallsTaken and LastCall move in every queue of the interface.

        With ``stale`` the other queues are updated only after their
        QueueMemberStatus went out, as in Asterisk's race. Returns whether the
        interface is still a member anywhere (else the queue does not count
        the call as completed).
        """
        now = int(self._clock.now)
        members = self._state.by_interface.get(member.interface, [])
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

    def _count_call(self, m: MemberRecord, now: int) -> None:
        m.calls += 1
        m.last_call = now
        wrap = m.wrapuptime or self._state.queues[m.queue].config.wrapuptime
        if wrap:
            # Absolute whole second: the wrap-up test compares whole seconds.
            self._clock.at(float(now + wrap), functools.partial(self._state.mark, m.queue))
