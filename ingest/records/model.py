"""Durable call records and agent-time intervals: what the KPI store keeps.

Both sources build the same objects: `ingest.records.builder` from the live
AMI event stream, `ingest.records.queue_log` from Asterisk's queue_log. Pure
values, no I/O.

Conventions:

- Times (``*_at``) are epoch MILLISECONDS (``int``); durations taken from
  Asterisk (``hold_time``, ``ring_time``, ``talk_time``, ``wrap_up_time``) are
  whole SECONDS as Asterisk reports or configures them. ``None`` means "not known from this source".
- A call is keyed by the caller channel's ``Uniqueid`` and the queue (the
  queue_log ``callid`` is that same Uniqueid), so one call that is queued
  twice (e.g. sales, then billing) gives two records.
- `record_key` is stable for the same record however often the events that
  made it are replayed: the writer upserts on it, so nothing double-counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

RecordSource = Literal["ami", "queue_log"]


class CallOutcome(StrEnum):
    """How a queued call ended."""

    COMPLETED_BY_AGENT = "completed_by_agent"
    """Answered; the member hung up (AgentComplete Reason agent, COMPLETEAGENT)."""
    COMPLETED_BY_CALLER = "completed_by_caller"
    """Answered; the caller hung up (Reason caller, COMPLETECALLER)."""
    TRANSFERRED = "transferred"
    """Answered, then transferred (Reason transfer, BLIND/ATTENDEDTRANSFER)."""
    ABANDONED = "abandoned"
    """Left before an answer by hanging up (QueueCallerAbandon, ABANDON).

    From AMI this also covers the Queue() timeout, which Asterisk reports as
    an abandon: see `CallRecord.timed_out`."""
    TIMED_OUT = "timed_out"
    """Left by the Queue() timeout; only queue_log (EXITWITHTIMEOUT) says so."""
    EXIT_EMPTY = "exit_empty"
    """Left because the queue had no usable members (EXITEMPTY, leavewhenempty)."""
    EXIT_WITH_KEY = "exit_with_key"
    """Left by pressing a key of the queue's context (EXITWITHKEY)."""
    LEFT = "left"
    """Any other end: left without an answer for a reason the source does not
    give, or closed by the builder (too old, too many open calls)."""


ABANDON_OUTCOMES = frozenset({CallOutcome.ABANDONED, CallOutcome.TIMED_OUT})
"""Outcomes Asterisk's ``Abandoned`` counter counts (it counts timeouts too)."""

ANSWERED_OUTCOMES = frozenset(
    {CallOutcome.COMPLETED_BY_AGENT, CallOutcome.COMPLETED_BY_CALLER, CallOutcome.TRANSFERRED}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One caller's stay in one queue, from join to the end of the call."""

    queue: str
    uniqueid: str
    """The caller channel's Uniqueid (queue_log: the callid)."""
    linkedid: str | None
    caller_num: str | None
    caller_name: str | None
    entered_at: int | None
    """When the caller joined; None when the join was not seen."""
    position: int | None
    """Position at join."""
    original_position: int | None
    """Position at join as Asterisk reports it at the end (abandon, completion)."""
    answered_at: int | None
    answered_by: str | None
    """The member's interface (AMI). queue_log names members by MemberName,
    which is the interface when no name is configured, or what the replayer's
    name map says."""
    member_name: str | None
    ring_attempts: int
    """Members rung before the answer (AgentCalled count; queue_log:
    RINGNOANSWER count, plus the answering ring)."""
    ring_no_answers: int
    hold_time: int | None
    """Seconds waited (Asterisk's HoldTime at connect or abandon)."""
    ring_time: int | None
    """Seconds the answering member rang."""
    talk_time: int | None
    ended_at: int
    outcome: CallOutcome
    abandon_position: int | None
    """Position when the caller left unanswered (abandon, timeout, exit)."""
    timed_out: bool | None
    """True: left by the Queue() timeout; False: known not to; None: the
    source cannot tell (an AMI abandon)."""
    source: RecordSource
    transfer_target: str | None = None
    """``exten@context`` of a blind transfer, when the source says it."""
    wrap_up_time: int | None = None
    """Seconds of after-call work the member got once the call completed (the
    member's ``wrapuptime``, else the queue's), as the live builder knew it when
    the call ended; None when unknown (a queue_log does not say it). Kept on the
    call so the average handle time (talk + wrap-up) reads one table."""

    def record_key(self) -> str:
        """The idempotency key: ``<uniqueid>|<queue>``."""
        return f"{self.uniqueid}|{self.queue}"

    @property
    def answered(self) -> bool:
        """A member took the call."""
        return self.answered_at is not None

    @property
    def counts_as_abandoned(self) -> bool:
        """Counted by an ``abandoned`` KPI the way Asterisk counts it (timeouts too)."""
        return self.outcome in ABANDON_OUTCOMES


class IntervalKind(StrEnum):
    """What a member was doing in a queue for an interval."""

    LOGGED_IN = "logged_in"
    PAUSED = "paused"
    RINGING = "ringing"
    IN_CALL = "in_call"
    WRAP_UP = "wrap_up"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentInterval:
    """A closed interval of one member in one queue."""

    interface: str
    """The member interface (queue_log: the member name, see `CallRecord.answered_by`)."""
    queue: str
    kind: IntervalKind
    started_at: int
    ended_at: int
    member_name: str | None = None
    reason: str | None = None
    """The pause reason (PAUSED only; None when none was given)."""
    uniqueid: str | None = None
    """The caller's Uniqueid for RINGING, IN_CALL and WRAP_UP."""
    source: RecordSource = "ami"

    def record_key(self) -> str:
        """The idempotency key: ``<interface>|<queue>|<kind>|<started_at>``."""
        return f"{self.interface}|{self.queue}|{self.kind.value}|{self.started_at}"

    @property
    def duration_ms(self) -> int:
        """The length of the interval (never negative)."""
        return max(0, self.ended_at - self.started_at)


Record = CallRecord | AgentInterval
"""Anything a builder or the queue_log replayer emits."""
