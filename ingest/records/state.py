"""The in-memory state both record builders share: open calls and open intervals.

Bounded: `CallTable` holds at most ``max_open`` calls and closes a call older
than ``max_age_ms`` as LEFT (counted in ``expired``/``evicted``, never
logged); `IntervalTable` holds at most ``max_open`` intervals and drops the
oldest beyond that (counted in ``dropped``). Pure, no clock: callers pass the
time in.

Fed on the live ingest's hot path, so nothing here scans the open state per
event: the lookups the builders make per call event (a caller's calls that
left, the call a member answered, the intervals of one call) go through
indexes kept beside the main tables, and the sweeps only look at the head of
tables kept in deadline order.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from ingest.records.model import (
    AgentInterval,
    CallOutcome,
    CallRecord,
    IntervalKind,
    RecordSource,
)

CallKey = tuple[str, str]
"""(caller Uniqueid, queue)."""

IntervalKey = tuple[str, str, IntervalKind, str]
"""(interface, queue, kind, caller Uniqueid or "")."""

SavedInterval = tuple[IntervalKey, int, str | None, str | None]
"""An open interval as `IntervalTable.snapshot` gives it: (key, started_at, member_name, reason)."""


@dataclass(slots=True, kw_only=True)
class OpenCall:
    """A call still in progress (mutable; `CallTable.snapshot` hands out copies)."""

    queue: str
    uniqueid: str
    opened_at: int
    """When the builder first saw the call (for the age bound)."""
    linkedid: str | None = None
    caller_num: str | None = None
    caller_name: str | None = None
    entered_at: int | None = None
    position: int | None = None
    original_position: int | None = None
    answered_at: int | None = None
    answered_by: str | None = None
    member_name: str | None = None
    ring_attempts: int = 0
    ring_no_answers: int = 0
    hold_time: int | None = None
    ring_time: int | None = None
    talk_time: int | None = None
    left_at: int | None = None
    """When the caller left the queue (AMI QueueCallerLeave) unanswered so far."""

    @property
    def key(self) -> CallKey:
        return (self.uniqueid, self.queue)

    def finish(
        self,
        *,
        ended_at: int,
        outcome: CallOutcome,
        source: RecordSource,
        abandon_position: int | None = None,
        timed_out: bool | None = None,
        transfer_target: str | None = None,
        wrap_up_time: int | None = None,
    ) -> CallRecord:
        """The closed record of this call."""
        return CallRecord(
            queue=self.queue,
            uniqueid=self.uniqueid,
            linkedid=self.linkedid,
            caller_num=self.caller_num,
            caller_name=self.caller_name,
            entered_at=self.entered_at,
            position=self.position,
            original_position=self.original_position,
            answered_at=self.answered_at,
            answered_by=self.answered_by,
            member_name=self.member_name,
            ring_attempts=self.ring_attempts,
            ring_no_answers=self.ring_no_answers,
            hold_time=self.hold_time,
            ring_time=self.ring_time,
            talk_time=self.talk_time,
            ended_at=ended_at,
            outcome=outcome,
            abandon_position=abandon_position,
            timed_out=timed_out,
            source=source,
            transfer_target=transfer_target,
            wrap_up_time=wrap_up_time,
        )


class CallTable:
    """Open calls by (Uniqueid, queue), bounded in number and age."""

    def __init__(self, *, source: RecordSource, max_open: int, max_age_ms: int) -> None:
        if max_open < 1 or max_age_ms < 1:
            raise ValueError("max_open and max_age_ms must be positive")
        self._source: RecordSource = source
        self._max_open = max_open
        self._max_age_ms = max_age_ms
        self._calls: dict[CallKey, OpenCall] = {}
        self._opened: dict[CallKey, int] = {}
        """Each open call's rank in `_calls`' order (which opened later)."""
        self._next_rank = 0
        self._left: dict[CallKey, OpenCall] = {}
        """Unanswered calls that left the queue, in the order they left."""
        self._left_by_caller: dict[str, dict[CallKey, OpenCall]] = {}
        """`_left` by caller Uniqueid, each in the order they left."""
        self._answered: dict[tuple[str, str], dict[CallKey, OpenCall]] = {}
        """Open calls answered through `answer`, by (member interface, queue)."""
        self.expired = 0
        """Calls closed as LEFT because they stayed open longer than ``max_age_ms``."""
        self.evicted = 0
        """Calls closed as LEFT to keep at most ``max_open`` open."""

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, uniqueid: str, queue: str) -> OpenCall | None:
        return self._calls.get((uniqueid, queue))

    def open(self, uniqueid: str, queue: str, now: int) -> tuple[OpenCall, list[CallRecord]]:
        """The open call of this key, opened now if new, and any call evicted for room."""
        call = self._calls.get((uniqueid, queue))
        if call is not None:
            return call, []
        evicted: list[CallRecord] = []
        while len(self._calls) >= self._max_open:
            # dicts keep insertion order: the first is the oldest opened.
            oldest = next(iter(self._calls.values()))
            evicted.append(self._close_left(oldest, now))
            self.evicted += 1
        call = OpenCall(queue=queue, uniqueid=uniqueid, opened_at=now)
        self._add(call)
        return call, evicted

    def pop(self, uniqueid: str, queue: str) -> OpenCall | None:
        key = (uniqueid, queue)
        call = self._calls.pop(key, None)
        if call is not None:
            self._forget(key, call)
        return call

    def answer(self, call: OpenCall, interface: str) -> None:
        """Record who answered an open call (what `find_answered` looks up)."""
        if call.answered_by is not None:
            self._unindex_answered(call.key, call)
        call.answered_by = interface
        if self._calls.get(call.key) is call:
            self._answered.setdefault((interface, call.queue), {})[call.key] = call

    def find_answered(self, interface: str, queue: str) -> OpenCall | None:
        """The open call this member answered in this queue (the newest opened if several);
        only calls answered through `answer` (or restored) are known here."""
        found = self._answered.get((interface, queue))
        if not found:
            return None
        # Nearly always one: a member is in one call per queue at a time.
        return max(found.values(), key=lambda call: self._opened[call.key])

    def sweep(self, now: int, *, leave_grace_ms: int | None = None) -> list[CallRecord]:
        """Close calls older than the age limit, and (with ``leave_grace_ms``)
        unanswered calls that left the queue longer ago than that, as LEFT.

        Cheap enough to run on every event: both scans stop at the first call
        not yet due (calls are kept in the order they were opened / left, so
        with times going backwards a call may close a little late, never early).
        """
        closed: list[CallRecord] = []
        calls = self._calls
        while calls:
            oldest = next(iter(calls.values()))
            if now - oldest.opened_at <= self._max_age_ms:
                break
            closed.append(self._close_left(oldest, now))
            self.expired += 1
        if leave_grace_ms is None:
            return closed
        left = self._left
        while left:
            first = next(iter(left.values()))
            left_at = first.left_at if first.left_at is not None else now
            if now - left_at <= leave_grace_ms:
                break
            closed.append(self._close_left(first, left_at))
        return closed

    def mark_left(self, call: OpenCall, now: int) -> None:
        """The caller left the queue unanswered (an answer may still follow)."""
        if call.answered_at is None and call.left_at is None and call.key in self._calls:
            call.left_at = now
            self._add_left(call)

    def clear_left(self, call: OpenCall) -> None:
        """The call was answered after all."""
        call.left_at = None
        self._remove_left(call.key)

    def left_unanswered(self, uniqueid: str) -> list[OpenCall]:
        """The calls of this caller channel that left their queue unanswered."""
        found = self._left_by_caller.get(uniqueid)
        return list(found.values()) if found else []

    def close_all(self, now: int) -> list[CallRecord]:
        """Close every open call as LEFT (shutdown, end of a replayed file)."""
        return [self._close_left(call, call.left_at or now) for call in list(self._calls.values())]

    def snapshot(self) -> list[OpenCall]:
        """Copies of the open calls, oldest first."""
        return [copy.copy(call) for call in self._calls.values()]

    def restore(self, calls: Iterable[OpenCall]) -> None:
        """Put back calls `snapshot` gave (oldest first); a call open already is kept."""
        for call in calls:
            if call.key not in self._calls:
                self._add(copy.copy(call))
        left = [c for c in self._calls.values() if c.left_at is not None and c.answered_at is None]
        left.sort(key=lambda c: c.left_at or 0)
        self._left = {}
        self._left_by_caller = {}
        for call in left:
            self._add_left(call)

    def _close_left(self, call: OpenCall, ended_at: int) -> CallRecord:
        del self._calls[call.key]
        self._forget(call.key, call)
        return call.finish(ended_at=ended_at, outcome=CallOutcome.LEFT, source=self._source)

    # --- the indexes (every change to `_calls` and `_left` goes through these) ---------

    def _add(self, call: OpenCall) -> None:
        key = call.key
        self._calls[key] = call
        self._opened[key] = self._next_rank
        self._next_rank += 1
        if call.answered_by is not None:
            self._answered.setdefault((call.answered_by, call.queue), {})[key] = call

    def _forget(self, key: CallKey, call: OpenCall) -> None:
        """Drop a call just removed from `_calls` from every index."""
        del self._opened[key]
        self._remove_left(key)
        if call.answered_by is not None:
            self._unindex_answered(key, call)

    def _unindex_answered(self, key: CallKey, call: OpenCall) -> None:
        by_member = (call.answered_by or "", call.queue)
        found = self._answered.get(by_member)
        if found is not None and found.pop(key, None) is not None and not found:
            del self._answered[by_member]

    def _add_left(self, call: OpenCall) -> None:
        self._left[call.key] = call
        self._left_by_caller.setdefault(call.uniqueid, {})[call.key] = call

    def _remove_left(self, key: CallKey) -> None:
        if self._left.pop(key, None) is None:
            return
        found = self._left_by_caller[key[0]]
        del found[key]
        if not found:
            del self._left_by_caller[key[0]]


@dataclass(slots=True, kw_only=True)
class _OpenInterval:
    started_at: int
    member_name: str | None
    reason: str | None


class IntervalTable:
    """Open member intervals by (interface, queue, kind, call), bounded in number."""

    def __init__(self, *, source: RecordSource, max_open: int) -> None:
        if max_open < 1:
            raise ValueError("max_open must be positive")
        self._source: RecordSource = source
        self._max_open = max_open
        self._open: dict[IntervalKey, _OpenInterval] = {}
        self._by_call: dict[tuple[str, str], dict[IntervalKey, None]] = {}
        """The keys of `_open` by (queue, caller Uniqueid or ""), each in `_open`'s order."""
        self.dropped = 0
        """Open intervals forgotten (never emitted) to keep at most ``max_open``."""

    def __len__(self) -> int:
        return len(self._open)

    def is_open(self, key: IntervalKey) -> bool:
        return key in self._open

    def reason(self, key: IntervalKey) -> str | None:
        found = self._open.get(key)
        return found.reason if found else None

    def open(
        self,
        key: IntervalKey,
        now: int,
        *,
        member_name: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Open an interval; False (and nothing changes) if it is already open."""
        if key in self._open:
            return False
        while len(self._open) >= self._max_open:
            oldest = next(iter(self._open))
            del self._open[oldest]
            self._unindex(oldest)
            self.dropped += 1
        self._open[key] = _OpenInterval(started_at=now, member_name=member_name, reason=reason)
        self._by_call.setdefault((key[1], key[3]), {})[key] = None
        return True

    def close(self, key: IntervalKey, now: int) -> AgentInterval | None:
        """Close an open interval: the record, or None if it was not open."""
        found = self._open.pop(key, None)
        if found is None:
            return None
        self._unindex(key)
        interface, queue, kind, uniqueid = key
        return AgentInterval(
            interface=interface,
            queue=queue,
            kind=kind,
            started_at=found.started_at,
            ended_at=max(now, found.started_at),
            member_name=found.member_name,
            reason=found.reason,
            uniqueid=uniqueid or None,
            source=self._source,
        )

    def close_where(
        self,
        now: int,
        *,
        interface: str | None = None,
        queue: str | None = None,
        kind: IntervalKind | None = None,
        uniqueid: str | None = None,
    ) -> list[AgentInterval]:
        """Close every open interval matching all the given parts (oldest first)."""
        if queue is not None and uniqueid is not None:
            # The builders' case (one call's intervals): its index, not every open interval.
            of_call = self._by_call.get((queue, uniqueid))
            if not of_call:
                return []
            candidates: Iterable[IntervalKey] = of_call
        else:
            candidates = self._open
        keys = [
            key
            for key in candidates
            if (interface is None or key[0] == interface)
            and (queue is None or key[1] == queue)
            and (kind is None or key[2] == kind)
            and (uniqueid is None or key[3] == uniqueid)
        ]
        return [closed for key in keys if (closed := self.close(key, now)) is not None]

    def close_all(self, now: int) -> list[AgentInterval]:
        return self.close_where(now)

    def _unindex(self, key: IntervalKey) -> None:
        """Drop a key just removed from `_open` from the index."""
        call = (key[1], key[3])
        of_call = self._by_call[call]
        del of_call[key]
        if not of_call:
            del self._by_call[call]

    def snapshot(self) -> list[SavedInterval]:
        """The open intervals, oldest first (for `restore` after a restart)."""
        return [(key, o.started_at, o.member_name, o.reason) for key, o in self._open.items()]

    def restore(self, intervals: Iterable[SavedInterval]) -> None:
        """Put back intervals `snapshot` gave; one open already is kept."""
        for key, started_at, member_name, reason in intervals:
            self.open(key, started_at, member_name=member_name, reason=reason)


@dataclass(slots=True)
class OpenSnapshot:
    """Everything a builder holds open, to carry it over a restart of the service."""

    calls: list[OpenCall] = field(default_factory=list)
    intervals: list[SavedInterval] = field(default_factory=list)
    member_wrapup_s: list[tuple[str, str, int]] = field(default_factory=list)
    """(interface, queue, wrap-up seconds) learned from member events."""


class OpenRecords:
    """What both record sources keep open (calls, agent intervals), and its counters."""

    _calls: CallTable
    _intervals: IntervalTable

    def open_calls(self) -> list[OpenCall]:
        """Copies of the calls still open, oldest first."""
        return self._calls.snapshot()

    @property
    def open_intervals(self) -> int:
        """Agent intervals still open."""
        return len(self._intervals)

    @property
    def calls_expired(self) -> int:
        """Calls closed as LEFT because they stayed open too long."""
        return self._calls.expired

    @property
    def calls_evicted(self) -> int:
        """Calls closed early to keep the number open bounded."""
        return self._calls.evicted

    @property
    def intervals_dropped(self) -> int:
        """Intervals dropped to keep the number open bounded."""
        return self._intervals.dropped
