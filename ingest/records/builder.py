"""Call records and agent intervals from the typed AMI event stream.

Feed every typed event (``EventParser().parse(message)``) in order with its
receive time in epoch milliseconds; `CallRecordBuilder.feed` returns the
records that became complete. Pure: no I/O, no clock, no logging.

Calls (key: caller Uniqueid + queue):

- QueueCallerJoin opens the call (entered_at, position, caller id).
  AgentCalled counts a ring attempt, AgentRingNoAnswer a no-answer.
  AgentConnect answers it (member, HoldTime, RingTime). AgentComplete ends it:
  Reason ``agent``/``caller``/``transfer`` -> COMPLETED_BY_AGENT /
  COMPLETED_BY_CALLER / TRANSFERRED (anything else: LEFT, still answered).
  AgentComplete may come without the caller snapshot (seen in c_ringnoanswer):
  the call is then the one that member answered in that queue.
- QueueCallerAbandon ends it as ABANDONED with the abandon position,
  OriginalPosition and HoldTime; the QueueCallerLeave that follows is ignored.
- QueueCallerLeave of an unanswered call only marks it left: Asterisk sends
  it BEFORE AgentConnect (same instant). The call is closed as LEFT when the
  caller channel hangs up still unanswered, or ``leave_grace_ms`` after the
  leave (checked on every feed), e.g. leavewhenempty or a Queue() timeout
  that AMI does not report as an abandon.
- An event for a call whose join was not seen (the builder started mid-call)
  opens it with entered_at estimated from HoldTime when there is one.
- Bounds: at most ``max_open_calls`` open calls (the oldest is closed as LEFT,
  counted in ``calls_evicted``) and none older than ``max_call_age_ms``
  (closed as LEFT, counted in ``calls_expired``).

Timeouts vs abandons (the rule): an AMI abandon is ABANDONED with
``timed_out=None`` (unknown). Asterisk sends the same QueueCallerAbandon for
a caller hanging up and for the Queue() timeout, with nothing telling them
apart, and no reliable signal was found in the recordings: in the lab
(asterisk-conf) Queue() is called as ``Queue(${EXTEN},r)`` with no timeout
argument at all, and queues.conf ``timeout`` (sales 8, support 5, billing 10)
is the per-member RING timeout, not the caller's wait limit, so comparing
d_abandon's HoldTimes (5, 3, 2) with it would say nothing. Comparing HoldTime
with a known Queue() timeout argument would misclassify callers who hang up
just before it. Only queue_log tells (EXITWITHTIMEOUT ->
TIMED_OUT, ``timed_out=True``); KPIs use `CallRecord.counts_as_abandoned`,
which is true for both, as Asterisk's ``Abandoned`` counter is.

Agent intervals (key: member interface + queue):

- LOGGED_IN: QueueMemberAdded -> QueueMemberRemoved (static members, never
  added, have none).
- PAUSED: QueueMemberPause paused -> unpaused, reason = the pause reason; a
  new reason while paused closes the interval and opens another; a member
  added paused opens one; removal closes it.
- RINGING: AgentCalled -> AgentRingNoAnswer / AgentConnect / AgentDump, or
  the end of the call (ringall: the others just stop ringing).
- IN_CALL: AgentConnect -> AgentComplete.
- WRAP_UP: from AgentComplete for the wrap-up time: the member's own
  ``wrapuptime`` (learned from any member event) when non-zero, else the
  queue's from ``queue_wrapup_s``; skipped when unknown or 0. The completed
  call carries the same time as ``wrap_up_time`` (None when unknown).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from ingest.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentEvent,
    AgentRingNoAnswer,
    AmiEvent,
    BlindTransfer,
    ChannelInfo,
    Hangup,
    MemberEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberRemoved,
)
from ingest.records.model import AgentInterval, CallOutcome, CallRecord, IntervalKind, Record
from ingest.records.state import CallTable, IntervalTable, OpenCall, OpenRecords, OpenSnapshot

_V = TypeVar("_V")

_COMPLETE_REASONS = {
    "agent": CallOutcome.COMPLETED_BY_AGENT,
    "caller": CallOutcome.COMPLETED_BY_CALLER,
    "transfer": CallOutcome.TRANSFERRED,
}

DEFAULT_MAX_OPEN_CALLS = 10_000
DEFAULT_MAX_CALL_AGE_MS = 6 * 3600 * 1000
DEFAULT_LEAVE_GRACE_MS = 5_000
DEFAULT_MAX_OPEN_INTERVALS = 50_000
TRANSFERS_REMEMBERED = 1_000
"""Blind-transfer targets waiting for their AgentComplete, and transferred calls waiting
for their BlindTransfer (the two come in either order): the newest kept."""


class CallRecordBuilder(OpenRecords):
    """Typed AMI events in, complete `CallRecord`s and `AgentInterval`s out."""

    def __init__(
        self,
        *,
        queue_wrapup_s: Mapping[str, int] | None = None,
        max_open_calls: int = DEFAULT_MAX_OPEN_CALLS,
        max_call_age_ms: int = DEFAULT_MAX_CALL_AGE_MS,
        leave_grace_ms: int = DEFAULT_LEAVE_GRACE_MS,
        max_open_intervals: int = DEFAULT_MAX_OPEN_INTERVALS,
    ) -> None:
        self._queue_wrapup_s = dict(queue_wrapup_s or {})
        self._member_wrapup_s: dict[tuple[str, str], int] = {}
        self._leave_grace_ms = leave_grace_ms
        self._calls = CallTable(source="ami", max_open=max_open_calls, max_age_ms=max_call_age_ms)
        self._intervals = IntervalTable(source="ami", max_open=max_open_intervals)
        self._transfer_targets: OrderedDict[str, str] = OrderedDict()
        """Caller Uniqueid -> ``exten@context`` of a BlindTransfer seen before its call ended."""
        self._untargeted: OrderedDict[str, list[CallRecord]] = OrderedDict()
        """Caller Uniqueid -> its calls that ended TRANSFERRED before their BlindTransfer."""
        self._handlers: dict[type[AmiEvent], _Handler | None] = {}
        """Each event class seen so far and its handler (None: not ours), as
        `_handler_of` resolves it: one dict lookup per event on the ingest's hot path."""

    # --- carried over a restart -------------------------------------------------

    def export_open(self) -> OpenSnapshot:
        """Copies of everything open (see `restore_open`)."""
        return OpenSnapshot(
            calls=self._calls.snapshot(),
            intervals=self._intervals.snapshot(),
            member_wrapup_s=[(i, q, s) for (i, q), s in self._member_wrapup_s.items()],
        )

    def restore_open(self, snapshot: OpenSnapshot) -> None:
        """Open again what `export_open` gave, e.g. in the next run of the service: a
        call that spans the restart then ends as one complete record."""
        self._calls.restore(snapshot.calls)
        self._intervals.restore(snapshot.intervals)
        for interface, queue, seconds in snapshot.member_wrapup_s:
            self._member_wrapup_s.setdefault((interface, queue), seconds)

    # --- input ----------------------------------------------------------------

    def feed(self, event: AmiEvent, now_ms: int) -> list[Record]:
        """Apply one event received at ``now_ms``; the records it completed."""
        out = self._swept(now_ms)
        kind = type(event)
        try:
            handler = self._handlers[kind]
        except KeyError:
            handler = self._handlers[kind] = _handler_of(kind)
        if handler is not None:
            handler(self, event, now_ms, out)
        return out

    def expire(self, now_ms: int) -> list[Record]:
        """Close what is due at ``now_ms`` without an event (call it on a timer)."""
        return self._swept(now_ms)

    def close_calls(self, now_ms: int) -> list[Record]:
        """Close every open call (LEFT) with its ringing and in-call intervals: Asterisk
        restarted, and its calls vanished without a hangup. Member intervals stay."""
        return self._with_call_intervals(self._calls.close_all(now_ms), now_ms)

    def _swept(self, now: int) -> list[Record]:
        closed = self._calls.sweep(now, leave_grace_ms=self._leave_grace_ms)
        return self._with_call_intervals(closed, now) if closed else []

    def _with_call_intervals(self, closed: list[CallRecord], now: int) -> list[Record]:
        """The closed calls, and the intervals tied to them (a call closed by the builder
        itself, not by an event, would leave its member ringing or in call forever)."""
        out: list[Record] = list(closed)
        for call in closed:
            for kind in (IntervalKind.RINGING, IntervalKind.IN_CALL):
                out.extend(
                    self._intervals.close_where(
                        now, queue=call.queue, kind=kind, uniqueid=call.uniqueid
                    )
                )
        return out

    def close_all(self, now_ms: int) -> list[Record]:
        """Close every open call (LEFT) and interval at ``now_ms``."""
        return [*self._calls.close_all(now_ms), *self._intervals.close_all(now_ms)]

    # --- calls ----------------------------------------------------------------

    def _call(self, uniqueid: str, queue: str, now: int, out: list[Record]) -> OpenCall:
        call, evicted = self._calls.open(uniqueid, queue, now)
        out.extend(evicted)
        return call

    @staticmethod
    def _caller(call: OpenCall, caller: ChannelInfo) -> None:
        call.linkedid = call.linkedid or caller.linkedid or None
        call.caller_num = call.caller_num or caller.caller_id_num
        call.caller_name = call.caller_name or caller.caller_id_name

    def _join(self, event: QueueCallerJoin, now: int, out: list[Record]) -> None:
        if event.caller is None:
            return
        call = self._call(event.caller.uniqueid, event.queue, now, out)
        if call.entered_at is None:
            call.entered_at = now
            call.position = event.position
        self._caller(call, event.caller)

    def _abandon(self, event: QueueCallerAbandon, now: int, out: list[Record]) -> None:
        if event.caller is None:
            return
        call = self._call(event.caller.uniqueid, event.queue, now, out)
        self._caller(call, event.caller)
        if call.entered_at is None:
            call.entered_at = now - event.hold_time * 1000
        call.original_position = event.original_position
        call.hold_time = event.hold_time
        self._calls.pop(call.uniqueid, call.queue)
        self._end_ringing(call, now, out)
        out.append(
            call.finish(
                ended_at=now,
                outcome=CallOutcome.ABANDONED,
                source="ami",
                abandon_position=event.position,
                timed_out=None,
            )
        )

    def _leave(self, event: QueueCallerLeave, now: int, out: list[Record]) -> None:
        if event.caller is None:
            return
        call = self._calls.get(event.caller.uniqueid, event.queue)
        if call is not None:
            self._calls.mark_left(call, now)

    def _hangup(self, event: Hangup, now: int, out: list[Record]) -> None:
        for call in self._calls.left_unanswered(event.channel.uniqueid):
            left_at = call.left_at if call.left_at is not None else now
            self._calls.pop(call.uniqueid, call.queue)
            self._end_ringing(call, now, out)
            out.append(call.finish(ended_at=left_at, outcome=CallOutcome.LEFT, source="ami"))

    def _end_ringing(self, call: OpenCall, now: int, out: list[Record]) -> None:
        out.extend(
            self._intervals.close_where(
                now, queue=call.queue, kind=IntervalKind.RINGING, uniqueid=call.uniqueid
            )
        )

    # --- agents ---------------------------------------------------------------

    def _agent(self, event: AgentEvent, now: int, out: list[Record]) -> None:
        if isinstance(event, AgentComplete):
            self._complete(event, now, out)
            return
        if event.caller is None:
            return
        call = self._call(event.caller.uniqueid, event.queue, now, out)
        self._caller(call, event.caller)
        ring_key = (event.interface, event.queue, IntervalKind.RINGING, call.uniqueid)
        if isinstance(event, AgentCalled):
            if call.answered_at is None:
                call.ring_attempts += 1
            # A member rung again for the same call: the old ring is over.
            closed = self._intervals.close(ring_key, now)
            if closed is not None:
                out.append(closed)
            self._intervals.open(ring_key, now, member_name=event.member_name)
        elif isinstance(event, AgentRingNoAnswer):
            call.ring_no_answers += 1
            self._close(ring_key, now, out)
        elif isinstance(event, AgentDump):
            self._close(ring_key, now, out)
        elif isinstance(event, AgentConnect):
            self._connect(event, call, now, out)

    def _connect(self, event: AgentConnect, call: OpenCall, now: int, out: list[Record]) -> None:
        if call.answered_at is not None:
            return  # a replayed AgentConnect
        if call.entered_at is None:
            call.entered_at = now - event.hold_time * 1000
        call.answered_at = now
        self._calls.answer(call, event.interface)
        call.member_name = event.member_name
        call.hold_time = event.hold_time
        call.ring_time = event.ring_time
        self._calls.clear_left(call)
        self._end_ringing(call, now, out)
        self._intervals.open(
            (event.interface, event.queue, IntervalKind.IN_CALL, call.uniqueid),
            now,
            member_name=event.member_name,
        )

    def _complete(self, event: AgentComplete, now: int, out: list[Record]) -> None:
        call = None
        if event.caller is not None:
            call = self._calls.get(event.caller.uniqueid, event.queue)
        if call is None:
            call = self._calls.find_answered(event.interface, event.queue)
        if call is None:
            return  # answered before we started, or a replay of a closed call
        self._calls.pop(call.uniqueid, call.queue)
        call.hold_time = event.hold_time
        call.talk_time = event.talk_time
        outcome = _COMPLETE_REASONS.get(event.reason.lower(), CallOutcome.LEFT)
        wrapup = self._wrapup_s(event.interface, event.queue)
        target = None
        if outcome is CallOutcome.TRANSFERRED:
            target = self._transfer_targets.pop(call.uniqueid, None)
        record = call.finish(
            ended_at=now,
            outcome=outcome,
            source="ami",
            wrap_up_time=wrapup,
            transfer_target=target,
        )
        out.append(record)
        if outcome is CallOutcome.TRANSFERRED and target is None:
            _remember(
                self._untargeted, call.uniqueid, [*self._untargeted.get(call.uniqueid, []), record]
            )
        self._close((event.interface, event.queue, IntervalKind.IN_CALL, call.uniqueid), now, out)
        if wrapup:
            out.append(
                AgentInterval(
                    interface=event.interface,
                    queue=event.queue,
                    kind=IntervalKind.WRAP_UP,
                    started_at=now,
                    ended_at=now + wrapup * 1000,
                    member_name=event.member_name,
                    uniqueid=call.uniqueid,
                )
            )

    def _blind_transfer(self, event: BlindTransfer, now: int, out: list[Record]) -> None:
        """Where a transferred call went. Either party may be the caller (the member
        usually transfers it); a call already ended is stated again with its target,
        which the writer's upsert keeps (same key, same end)."""
        if event.result.lower() != "success" or not event.extension:
            return
        target = f"{event.extension}@{event.context}" if event.context else event.extension
        parties = {uid for uid in (event.transferee_uniqueid, event.transferer_uniqueid) if uid}
        for uniqueid in parties:
            ended = self._untargeted.pop(uniqueid, None)
            if ended:
                out.extend(replace(record, transfer_target=target) for record in ended)
            else:
                _remember(self._transfer_targets, uniqueid, target)

    def _wrapup_s(self, interface: str, queue: str) -> int | None:
        """The wrap-up Asterisk gives this member after a call in this queue, in seconds:
        the member's own ``wrapuptime`` when non-zero, else the queue's; None when
        neither says (a member seen in no member event, or one with 0 in a queue whose
        own is not known: Asterisk would then apply the queue's)."""
        own = self._member_wrapup_s.get((interface, queue))
        return own if own else self._queue_wrapup_s.get(queue)

    # --- members --------------------------------------------------------------

    def _member(self, event: MemberEvent, now: int, out: list[Record]) -> None:
        m = event.member
        if m.wrapuptime is not None:
            self._member_wrapup_s[(m.interface, m.queue)] = m.wrapuptime
        login = (m.interface, m.queue, IntervalKind.LOGGED_IN, "")
        pause = (m.interface, m.queue, IntervalKind.PAUSED, "")
        if isinstance(event, QueueMemberAdded):
            self._intervals.open(login, now, member_name=m.member_name)
            if m.paused:
                self._intervals.open(pause, now, member_name=m.member_name, reason=m.paused_reason)
        elif isinstance(event, QueueMemberRemoved):
            self._close(pause, now, out)
            self._close(login, now, out)
            self._member_wrapup_s.pop((m.interface, m.queue), None)
        elif isinstance(event, QueueMemberPause):
            if not m.paused:
                self._close(pause, now, out)
            elif not self._intervals.is_open(pause):
                self._intervals.open(pause, now, member_name=m.member_name, reason=m.paused_reason)
            elif self._intervals.reason(pause) != m.paused_reason:
                self._close(pause, now, out)
                self._intervals.open(pause, now, member_name=m.member_name, reason=m.paused_reason)

    def _close(self, key: tuple[str, str, IntervalKind, str], now: int, out: list[Record]) -> None:
        closed = self._intervals.close(key, now)
        if closed is not None:
            out.append(closed)


_Handler = Callable[[CallRecordBuilder, Any, int, list[Record]], None]


def _remember(kept: OrderedDict[str, _V], key: str, value: _V) -> None:
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > TRANSFERS_REMEMBERED:
        kept.popitem(last=False)


def _handler_of(kind: type[AmiEvent]) -> _Handler | None:
    """The builder's handler of an event class (the first match, in this order), or None."""
    handlers: tuple[tuple[type[AmiEvent], _Handler], ...] = (
        (MemberEvent, CallRecordBuilder._member),
        (QueueCallerJoin, CallRecordBuilder._join),
        (QueueCallerAbandon, CallRecordBuilder._abandon),
        (QueueCallerLeave, CallRecordBuilder._leave),
        (AgentEvent, CallRecordBuilder._agent),
        (Hangup, CallRecordBuilder._hangup),
        (BlindTransfer, CallRecordBuilder._blind_transfer),
    )
    return next((handler for base, handler in handlers if issubclass(kind, base)), None)
