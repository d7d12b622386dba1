"""Members handling a caller: AgentCalled, AgentConnect, AgentComplete, AgentRingNoAnswer, AgentDump.

What app_queue does, and so what we reproduce (apps/app_queue.c):

- On answer, ``recalc_holdtime`` averages the caller's wait into the queue's
  hold time: the wait itself while the queue has completed and abandoned
  nothing yet, else ``(3 * old + wait) >> 2``. AgentConnect reports that
  wait as HoldTime (`smooth`).
- When the call ends, ``update_queue`` counts it: Completed + 1 and the talk
  time averaged the same way (the talk time itself for the first completed
  call). With ``shared_lastcall = yes`` (the lab's setting and FreePBX's
  default) it also sets LastCall and does CallsTaken + 1 in *every* queue the
  interface is a member of. No event carries those counts; the
  QueueMemberStatus that follows may show them or not, before or after
  AgentComplete, and for other queues may never come.

  So at AgentConnect each membership stages ``callsAfterCall`` = its
  CallsTaken + 1 (`copy`), and AgentComplete settles it (`fold`: raise
  ``callsTaken`` to it, drop the stage). A count Asterisk reported early is
  not counted twice, one it never reports is still there. The stage is the
  store's bookkeeping: it never shows in the operator's JSON.
- The queue's Completed and talk time move only if the member was still found
  in a queue at that moment (a member removed during the call gets an
  AgentComplete, but no count): the guard checks the operator still has a
  queue. A call answered within the queue's service level (its wait at most
  ServiceLevel seconds) is also counted in ``completedInServiceLevel``, from
  which the store derives ``serviceLevelPerf`` as QueueStatus reports it.

None of these events sets the operator's status: that is the device state
Asterisk reports in member events (see `ingest.reducer.members`). A ring
timeout does not stop the phone ringing at once, a completed call may leave
the device in use: Asterisk says so in the member event that follows, and a
guess here would disagree with its QueueStatus in between. RingNoAnswer and
Dump change nothing we keep. What Asterisk does hold per call is kept:
AgentConnect starts the member's call in the queue (app_queue's InCall),
AgentComplete ends it.

AgentComplete may come without any channel fields (the channels were already
gone): only Queue, Interface, MemberName, HoldTime, TalkTime and Reason are
relied on. AgentRingNoAnswer's RingTime is in milliseconds.
"""

from __future__ import annotations

from typing import Any

from ingest.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentEvent,
    AgentRingNoAnswer,
)
from ingest.patches import EACH, Change, Guard, Patch
from ingest.reducer.channels import refresh
from ingest.reducer.dispatch import register

CALLS_TAKEN = ("queues", EACH, "callsTaken")
CALLS_AFTER_CALL = ("callsAfterCall", EACH)
"""Staged per membership at AgentConnect: what CallsTaken becomes when the call ends.

Bookkeeping, not state: the store keeps this field out of the operator's JSON
(see `ingest.keys.KeySchema.staged`)."""

# recalc_holdtime: the sample alone while the queue has completed and abandoned nothing.
_HOLD_FIRST_WHEN_ZERO = (("completed",), ("abandoned",))
# update_queue: the sample alone for the first completed call (read before it is counted).
_TALK_FIRST_WHEN_ZERO = (("completed",),)


def _channels(event: AgentEvent, *, caller_member: bool) -> list[Change]:
    """The caller's channel and the member's leg (``Dest*``), named with queue and member."""
    caller_extra: dict[str, Any] = {"memberId": event.interface} if caller_member else {}
    return [
        *refresh(event.caller, **caller_extra),
        *refresh(event.dest, memberId=event.interface, queueName=event.queue),
    ]


@register(AgentCalled)
def reduce_agent_called(event: AgentCalled, now: int) -> list[Change]:
    """The member is being rung for a caller: the member's leg, named."""
    return _channels(event, caller_member=False)


@register(AgentConnect)
def reduce_agent_connect(event: AgentConnect, now: int) -> list[Change]:
    """The member answered: in a call in this queue, the current call, the queue's hold time."""
    data: dict[str, Any] = {"queues": {event.queue: {"queueName": event.queue, "inCall": True}}}
    if event.caller is not None:
        data["currentCallId"] = event.caller.uniqueid
    leg = event.dest or event.caller
    if leg is not None:
        data["currentChannel"] = leg.channel
    return [
        Patch(
            "operator",
            event.interface,
            data,
            copy=[(CALLS_TAKEN, CALLS_AFTER_CALL, 1)],
            create=False,
        ),
        Patch(
            "queue",
            event.queue,
            smooth=[(("holdTime",), event.hold_time, _HOLD_FIRST_WHEN_ZERO)],
        ),
        *_channels(event, caller_member=True),
    ]


@register(AgentComplete)
def reduce_agent_complete(event: AgentComplete, now: int) -> list[Change]:
    """The call ended: counted in the queue and (shared_lastcall) in every membership."""
    interface, queue = event.interface, event.queue
    still_a_member = Guard("operator", interface, ("queues",))
    return [
        Patch(
            "queue",
            queue,
            smooth=[(("talkTime",), event.talk_time, _TALK_FIRST_WHEN_ZERO)],
            count_within=[(("completedInServiceLevel",), event.hold_time, ("serviceLevel",))],
            incr=[(("completed",), 1)],
            only_if=still_a_member,
        ),
        Patch(
            "operator",
            interface,
            {"currentCallId": None, "currentChannel": None},
            fold=[(CALLS_AFTER_CALL, CALLS_TAKEN)],
            maximum=[(("queues", EACH, "lastCall"), now // 1000)],
            create=False,
        ),
        # Only for a membership that still exists: no half entry for a removed one.
        Patch(
            "operator",
            interface,
            {"queues": {queue: {"inCall": False}}},
            create=False,
            only_if=Guard("operator", interface, ("queues", queue)),
        ),
        *_channels(event, caller_member=True),
    ]


@register(AgentRingNoAnswer)
def reduce_agent_ring_no_answer(event: AgentRingNoAnswer, now: int) -> list[Change]:
    """Rung and not answered: the device may still ring; its member event will tell."""
    return []


@register(AgentDump)
def reduce_agent_dump(event: AgentDump, now: int) -> list[Change]:
    """The member hung up before the caller was bridged: its member event will tell."""
    return []
