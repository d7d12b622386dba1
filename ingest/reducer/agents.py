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
  not counted twice, one it never reports is still there.
- The queue's Completed and talk time move only if the member was still found
  in a queue at that moment (a member removed during the call gets an
  AgentComplete, but no count): the guard checks the operator still has a
  queue. A call answered within the queue's service level (its wait at most
  ServiceLevel seconds) is also counted in ``completedInServiceLevel``, from
  which the store derives ``serviceLevelPerf`` as QueueStatus reports it.

The operator's status follows the device (QueueMemberStatus). AgentCalled and
AgentConnect set ringing and in_call at once; RingNoAnswer and Dump put a
still-ringing operator back to idle, AgentComplete a still-in-call one — the
device's own report, which follows, has the last word.

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
from ingest.domain import OperatorStatus
from ingest.patches import EACH, Change, Guard, Patch
from ingest.reducer.channels import refresh
from ingest.reducer.dispatch import register

CALLS_TAKEN = ("queues", EACH, "callsTaken")
CALLS_AFTER_CALL = ("queues", EACH, "callsAfterCall")
"""Staged per membership at AgentConnect: what CallsTaken becomes when the call ends."""

# recalc_holdtime: the sample alone while the queue has completed and abandoned nothing.
_HOLD_FIRST_WHEN_ZERO = (("completed",), ("abandoned",))
# update_queue: the sample alone for the first completed call (read before it is counted).
_TALK_FIRST_WHEN_ZERO = (("completed",),)


def _status_if(interface: str, status: OperatorStatus, was: OperatorStatus) -> Patch:
    """Set `status` only while the operator is still `was` (nothing newer reported)."""
    return Patch(
        "operator",
        interface,
        {"status": status.value},
        create=False,
        only_if=Guard("operator", interface, ("status",), equals=was.value),
    )


def _channels(event: AgentEvent, *, caller_member: bool) -> list[Change]:
    """The caller's channel and the member's leg (``Dest*``), named with queue and member."""
    caller_extra: dict[str, Any] = {"memberId": event.interface} if caller_member else {}
    return [
        *refresh(event.caller, **caller_extra),
        *refresh(event.dest, memberId=event.interface, queueName=event.queue),
    ]


@register(AgentCalled)
def reduce_agent_called(event: AgentCalled, now: int) -> list[Change]:
    """The member is being rung for a caller."""
    ringing = Patch(
        "operator", event.interface, {"status": OperatorStatus.RINGING.value}, create=False
    )
    return [ringing, *_channels(event, caller_member=False)]


@register(AgentConnect)
def reduce_agent_connect(event: AgentConnect, now: int) -> list[Change]:
    """The member answered: in call, the current call, the queue's hold time."""
    data: dict[str, Any] = {
        "status": OperatorStatus.IN_CALL.value,
        "queues": {event.queue: {"queueName": event.queue, "inCall": True}},
    }
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
        _status_if(interface, OperatorStatus.IDLE, was=OperatorStatus.IN_CALL),
        *_channels(event, caller_member=True),
    ]


@register(AgentRingNoAnswer)
def reduce_agent_ring_no_answer(event: AgentRingNoAnswer, now: int) -> list[Change]:
    """Rung and not answered (RingTime in ms): no longer ringing."""
    return [_status_if(event.interface, OperatorStatus.IDLE, was=OperatorStatus.RINGING)]


@register(AgentDump)
def reduce_agent_dump(event: AgentDump, now: int) -> list[Change]:
    """The member hung up before the caller was bridged: no longer ringing."""
    return [_status_if(event.interface, OperatorStatus.IDLE, was=OperatorStatus.RINGING)]
