"""Asterisk's queue_log into the same `CallRecord`s and `AgentInterval`s as AMI.

A line is ``epoch|callid|queue|agent|EVENT|data1|data2|…``: `parse_queue_log`
splits lines and checks the numeric fields of the events below, yielding a
`ParsedLine` or, for anything it cannot read, a `MalformedLine` with the
1-based line number (it never raises; blank lines are skipped).
`QueueLogReplayer` turns parsed lines into records. Pure: no I/O, no clock.

Event data, as Asterisk 13–22 writes them (``?`` = older versions omit it):

- ENTERQUEUE ``url|callerid|position?``; CONNECT ``holdtime|bridged
  uniqueid|ringtime?``; RINGNOANSWER ``ringtime_ms``; RINGCANCELED
  ``ms_ringing`` (the caller hung up while that member rang)
- COMPLETEAGENT / COMPLETECALLER ``holdtime|calltime|origposition?``
- BLINDTRANSFER (and the old TRANSFER) ``exten|context|holdtime|calltime|
  origposition?``; ATTENDEDTRANSFER ``method|data…|holdtime|calltime|
  origposition`` (``LINK`` has two data fields, ``BRIDGE``/``APP`` one: the
  times are read from the END)
- ABANDON / EXITWITHTIMEOUT / EXITEMPTY ``position|origposition?|waittime?``;
  EXITWITHKEY ``key|position|origposition?|waittime?``
- PAUSE / UNPAUSE ``reason?``; ADDMEMBER ``PAUSED`` or empty (a member
  added paused gets no PAUSE line: its PAUSED interval opens here, reason
  unknown), REMOVEMEMBER (callid often ``NONE``, ``MANAGER`` or ``REALTIME``)

Outcomes: ABANDON -> ABANDONED (``timed_out=False``), EXITWITHTIMEOUT ->
TIMED_OUT (``timed_out=True``; both count as abandoned, see
`CallRecord.counts_as_abandoned`), EXITEMPTY -> EXIT_EMPTY, EXITWITHKEY ->
EXIT_WITH_KEY, COMPLETEAGENT/COMPLETECALLER -> COMPLETED_BY_AGENT/_CALLER,
transfers -> TRANSFERRED. Times are the line's epoch seconds × 1000.

queue_log names a member by its MemberName (the interface when none is
configured): pass ``member_interfaces`` (name -> interface) to key intervals
and ``answered_by`` by interface as the AMI builder does. queue_log has no
"agent called" line: ``ring_attempts`` is the RINGNOANSWER count plus one
for the ring that was answered; RINGING intervals end at the RINGNOANSWER,
RINGCANCELED or CONNECT and start ringtime before it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from ingest.records.model import (
    AgentInterval,
    CallOutcome,
    IntervalKind,
    Record,
)
from ingest.records.state import CallTable, IntervalTable, OpenCall, OpenRecords

_EPOCH = re.compile(r"\d{1,12}(?:\.\d{1,9})?")
_EVENT = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_INT = re.compile(r"-?\d{1,12}")

# event -> (data indices that must be integers, indices that are integers when present)
_NUMERIC: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "ENTERQUEUE": ((), (2,)),
    "CONNECT": ((0,), (2,)),
    "RINGNOANSWER": ((0,), ()),
    "RINGCANCELED": ((0,), ()),
    "COMPLETEAGENT": ((0, 1), (2,)),
    "COMPLETECALLER": ((0, 1), (2,)),
    "BLINDTRANSFER": ((2, 3), (4,)),
    "TRANSFER": ((2, 3), (4,)),
    "ABANDON": ((0,), (1, 2)),
    "EXITWITHTIMEOUT": ((0,), (1, 2)),
    "EXITEMPTY": ((0,), (1, 2)),
    "EXITWITHKEY": ((1,), (2, 3)),
}


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One well-formed queue_log line."""

    number: int
    time_ms: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]

    def field(self, index: int) -> str | None:
        """Data field ``index`` (0 = data1), None when absent or empty."""
        if -len(self.data) <= index < len(self.data):
            return self.data[index] or None
        return None

    def integer(self, index: int) -> int | None:
        """Data field ``index`` as an int (checked by the parser), None when absent."""
        value = self.field(index)
        return int(value) if value is not None and _INT.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A line that could not be read: its 1-based number, text and why."""

    number: int
    text: str
    reason: str


def parse_queue_log(lines: Iterable[str]) -> Iterator[ParsedLine | MalformedLine]:
    """Each non-blank line, parsed or reported malformed; never raises."""
    for number, raw in enumerate(lines, 1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        yield parse_line(number, text)


def parse_line(number: int, text: str) -> ParsedLine | MalformedLine:
    """One queue_log line (without its newline)."""
    parts = text.split("|")
    if len(parts) < 5:
        return MalformedLine(number, text, f"{len(parts)} fields, at least 5 expected")
    stamp, callid, queue, agent, event, *data = parts
    if not _EPOCH.fullmatch(stamp):
        return MalformedLine(number, text, f"bad timestamp {stamp[:40]!r}")
    if not _EVENT.fullmatch(event):
        return MalformedLine(number, text, f"bad event name {event[:40]!r}")
    if not callid or not queue:
        return MalformedLine(number, text, "empty callid or queue")
    required, optional = _NUMERIC.get(event, ((), ()))
    if event == "ATTENDEDTRANSFER":
        if len(data) < 4:
            return MalformedLine(number, text, f"ATTENDEDTRANSFER: {len(data)} data fields, 4+")
        required, optional = (-3, -2), (-1,)
    for index in required:
        value = data[index] if -len(data) <= index < len(data) else ""
        if not _INT.fullmatch(value):
            return MalformedLine(
                number, text, f"{event}: data{_nth(index, data)} {value[:40]!r} is not a number"
            )
    for index in optional:
        value = data[index] if -len(data) <= index < len(data) else ""
        if value and not _INT.fullmatch(value):
            return MalformedLine(
                number, text, f"{event}: data{_nth(index, data)} {value[:40]!r} is not a number"
            )
    return ParsedLine(
        number=number,
        time_ms=round(float(stamp) * 1000),
        callid=callid,
        queue=queue,
        agent=agent,
        event=event,
        data=tuple(data),
    )


def _nth(index: int, data: list[str]) -> int:
    """The 1-based data field number of an index (negative = from the end)."""
    return (index if index >= 0 else len(data) + index) + 1


_LEFT_UNANSWERED = {
    "ABANDON": (CallOutcome.ABANDONED, False),
    "EXITWITHTIMEOUT": (CallOutcome.TIMED_OUT, True),
    "EXITEMPTY": (CallOutcome.EXIT_EMPTY, False),
}
_COMPLETED = {
    "COMPLETEAGENT": CallOutcome.COMPLETED_BY_AGENT,
    "COMPLETECALLER": CallOutcome.COMPLETED_BY_CALLER,
}


class QueueLogReplayer(OpenRecords):
    """Parsed queue_log lines in, complete records out (same bounds as the AMI builder)."""

    def __init__(
        self,
        *,
        member_interfaces: Mapping[str, str] | None = None,
        max_open_calls: int = 10_000,
        max_call_age_ms: int = 6 * 3600 * 1000,
        max_open_intervals: int = 50_000,
    ) -> None:
        self._interfaces = dict(member_interfaces or {})
        self._calls = CallTable(
            source="queue_log", max_open=max_open_calls, max_age_ms=max_call_age_ms
        )
        self._intervals = IntervalTable(source="queue_log", max_open=max_open_intervals)
        self.malformed = 0
        """Malformed lines skipped by `replay`."""
        self.ignored = 0
        """Well-formed lines of events that make no record (CONFIGRELOAD, AGENTDUMP, …)."""

    def replay(self, items: Iterable[ParsedLine | MalformedLine]) -> Iterator[Record]:
        """Records from a parsed stream; malformed lines are counted and skipped."""
        for item in items:
            if isinstance(item, MalformedLine):
                self.malformed += 1
                continue
            yield from self.feed(item)

    def close_all(self, now_ms: int) -> list[Record]:
        """Close every open call (LEFT) and interval at ``now_ms`` (end of the file)."""
        return [*self._calls.close_all(now_ms), *self._intervals.close_all(now_ms)]

    def feed(self, line: ParsedLine) -> list[Record]:
        """Apply one line; the records it completed."""
        now = line.time_ms
        out: list[Record] = list(self._calls.sweep(now))
        event = line.event
        if event in ("PAUSE", "UNPAUSE", "ADDMEMBER", "REMOVEMEMBER"):
            self._member(line, out)
        elif event == "ENTERQUEUE":
            call = self._call(line, out)
            if call.entered_at is None:
                call.entered_at = now
                call.caller_num = line.field(1)
                call.position = line.integer(2)
        elif event == "RINGNOANSWER":
            self._ring_no_answer(line, out)
        elif event == "RINGCANCELED":
            out.append(self._ringing(line, line.time_ms - max(0, line.integer(0) or 0)))
        elif event == "CONNECT":
            self._connect(line, out)
        elif event in _COMPLETED:
            self._end_answered(line, _COMPLETED[event], hold=0, talk=1, orig=2, out=out)
        elif event in ("BLINDTRANSFER", "TRANSFER"):
            target = f"{line.field(0) or ''}@{line.field(1) or ''}"
            self._end_answered(line, CallOutcome.TRANSFERRED, 2, 3, 4, out, target)
        elif event == "ATTENDEDTRANSFER":
            self._end_answered(line, CallOutcome.TRANSFERRED, -3, -2, -1, out)
        elif event in _LEFT_UNANSWERED:
            outcome, timed_out = _LEFT_UNANSWERED[event]
            self._end_unanswered(line, outcome, timed_out, 0, out)
        elif event == "EXITWITHKEY":
            self._end_unanswered(line, CallOutcome.EXIT_WITH_KEY, False, 1, out)
        else:
            self.ignored += 1
        return out

    # --- calls ----------------------------------------------------------------

    def _interface(self, agent: str) -> str:
        return self._interfaces.get(agent, agent)

    def _call(self, line: ParsedLine, out: list[Record]) -> OpenCall:
        call, evicted = self._calls.open(line.callid, line.queue, line.time_ms)
        out.extend(evicted)
        return call

    def _ring_no_answer(self, line: ParsedLine, out: list[Record]) -> None:
        call = self._call(line, out)
        call.ring_attempts += 1
        call.ring_no_answers += 1
        ring_ms = max(0, line.integer(0) or 0)
        out.append(self._ringing(line, line.time_ms - ring_ms))

    def _ringing(self, line: ParsedLine, started_at: int) -> AgentInterval:
        return AgentInterval(
            interface=self._interface(line.agent),
            queue=line.queue,
            kind=IntervalKind.RINGING,
            started_at=min(started_at, line.time_ms),
            ended_at=line.time_ms,
            member_name=line.agent,
            uniqueid=line.callid,
            source="queue_log",
        )

    def _connect(self, line: ParsedLine, out: list[Record]) -> None:
        call = self._call(line, out)
        if call.answered_at is not None:
            return
        now = line.time_ms
        hold = line.integer(0) or 0
        ring = line.integer(2)
        if call.entered_at is None:
            call.entered_at = now - hold * 1000
        call.answered_at = now
        interface = self._interface(line.agent)
        self._calls.answer(call, interface)
        call.member_name = line.agent
        call.hold_time = hold
        call.ring_time = ring
        call.ring_attempts += 1
        if ring is not None:
            out.append(self._ringing(line, now - ring * 1000))
        self._intervals.open(
            (interface, line.queue, IntervalKind.IN_CALL, call.uniqueid),
            now,
            member_name=line.agent,
        )

    def _end_answered(
        self,
        line: ParsedLine,
        outcome: CallOutcome,
        hold: int,
        talk: int,
        orig: int,
        out: list[Record],
        target: str | None = None,
    ) -> None:
        call = self._call(line, out)
        self._calls.pop(call.uniqueid, call.queue)
        now = line.time_ms
        call.hold_time = line.integer(hold)
        call.talk_time = line.integer(talk)
        call.original_position = line.integer(orig)
        interface = self._interface(line.agent)
        if call.answered_at is None:  # the CONNECT was not seen
            call.answered_at = now - (call.talk_time or 0) * 1000
            call.answered_by = interface
            call.member_name = line.agent
        if call.entered_at is None:
            call.entered_at = call.answered_at - (call.hold_time or 0) * 1000
        out.append(
            call.finish(ended_at=now, outcome=outcome, source="queue_log", transfer_target=target)
        )
        key = (interface, line.queue, IntervalKind.IN_CALL, call.uniqueid)
        closed = self._intervals.close(key, now)
        out.append(
            closed
            if closed is not None
            else AgentInterval(
                interface=interface,
                queue=line.queue,
                kind=IntervalKind.IN_CALL,
                started_at=call.answered_at,
                ended_at=now,
                member_name=line.agent,
                uniqueid=call.uniqueid,
                source="queue_log",
            )
        )

    def _end_unanswered(
        self,
        line: ParsedLine,
        outcome: CallOutcome,
        timed_out: bool,
        first: int,
        out: list[Record],
    ) -> None:
        """``first`` is the index of the position field (then origposition, waittime)."""
        call = self._call(line, out)
        self._calls.pop(call.uniqueid, call.queue)
        now = line.time_ms
        wait = line.integer(first + 2)
        call.original_position = line.integer(first + 1)
        call.hold_time = wait
        if call.entered_at is None and wait is not None:
            call.entered_at = now - wait * 1000
        out.append(
            call.finish(
                ended_at=now,
                outcome=outcome,
                source="queue_log",
                abandon_position=line.integer(first),
                timed_out=timed_out,
            )
        )

    # --- members --------------------------------------------------------------

    def _member(self, line: ParsedLine, out: list[Record]) -> None:
        if line.queue == "NONE" or not line.agent or line.agent == "NONE":
            self.ignored += 1  # PAUSEALL-style lines: the per-queue lines follow
            return
        now = line.time_ms
        interface = self._interface(line.agent)
        login = (interface, line.queue, IntervalKind.LOGGED_IN, "")
        pause = (interface, line.queue, IntervalKind.PAUSED, "")
        reason = line.field(0)
        if line.event == "ADDMEMBER":
            self._intervals.open(login, now, member_name=line.agent)
            if reason == "PAUSED":
                self._intervals.open(pause, now, member_name=line.agent)
        elif line.event == "REMOVEMEMBER":
            out.extend(c for c in (self._intervals.close(pause, now),) if c is not None)
            out.extend(c for c in (self._intervals.close(login, now),) if c is not None)
        elif line.event == "UNPAUSE":
            out.extend(c for c in (self._intervals.close(pause, now),) if c is not None)
        elif not self._intervals.is_open(pause):
            self._intervals.open(pause, now, member_name=line.agent, reason=reason)
        elif self._intervals.reason(pause) != reason:
            out.extend(c for c in (self._intervals.close(pause, now),) if c is not None)
            self._intervals.open(pause, now, member_name=line.agent, reason=reason)
