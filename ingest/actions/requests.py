"""The actions a supervisor sends, as AMI sees them, and the events that confirm each.

Each request is built from checked values (`ingest.actions.values`) and knows
its AMI headers and the events that show Asterisk did it: a QueuePause is
confirmed by one ``QueueMemberPause`` per queue it touched, a QueueAdd by
``QueueMemberAdded``, a listen-in by ``ChanSpyStart`` on the operator's channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ListenMode(Enum):
    """How a supervisor joins an operator's call; the value is ChanSpy's options."""

    # q: no beep when the spy starts; w: whisper (the operator hears the supervisor);
    # B: barge (both parties hear the supervisor).
    LISTEN = "q"
    WHISPER = "qw"
    BARGE = "qB"


@dataclass(frozen=True, slots=True)
class Expected:
    """One event that confirms an action: its name and the headers it must carry."""

    event: str
    headers: tuple[tuple[str, str], ...]

    def matches(self, message: Mapping[str, Any]) -> bool:
        """Whether `message` is this event (header names in any letter case)."""
        fields = {str(key).lower(): value for key, value in message.items()}
        if str(fields.get("event", "")).lower() != self.event.lower():
            return False
        return all(str(fields.get(name.lower(), "")) == value for name, value in self.headers)


def _member_event(event: str, queue: str, interface: str, **more: str) -> Expected:
    return Expected(event, (("Queue", queue), ("Interface", interface), *more.items()))


@dataclass(frozen=True, slots=True)
class PauseMember:
    """QueuePause: pause (with a reason) or unpause a member in one queue or all of them."""

    interface: str
    queues: tuple[str, ...]
    """The queues it applies to; with `all_queues` the member's queues as we know them."""
    paused: bool
    reason: str = ""
    all_queues: bool = False

    def ami(self) -> dict[str, str]:
        """The action's headers."""
        action = {
            "Action": "QueuePause",
            "Interface": self.interface,
            "Paused": "true" if self.paused else "false",
        }
        if not self.all_queues:
            action["Queue"] = self.queues[0]
        if self.reason:
            action["Reason"] = self.reason
        return action

    def expected(self) -> list[Expected]:
        """One QueueMemberPause per queue, with the new paused flag."""
        flag = "1" if self.paused else "0"
        return [
            _member_event("QueueMemberPause", q, self.interface, Paused=flag) for q in self.queues
        ]


@dataclass(frozen=True, slots=True)
class AddMember:
    """QueueAdd: a dynamic member."""

    queue: str
    interface: str
    member_name: str = ""
    state_interface: str = ""
    penalty: int = 0
    paused: bool = False
    reason: str = ""

    def ami(self) -> dict[str, str]:
        """The action's headers."""
        action = {
            "Action": "QueueAdd",
            "Queue": self.queue,
            "Interface": self.interface,
            "Penalty": str(self.penalty),
            "Paused": "true" if self.paused else "false",
        }
        if self.member_name:
            action["MemberName"] = self.member_name
        if self.state_interface:
            action["StateInterface"] = self.state_interface
        if self.paused and self.reason:
            action["Reason"] = self.reason
        return action

    def expected(self) -> list[Expected]:
        """The QueueMemberAdded of this interface in this queue."""
        return [_member_event("QueueMemberAdded", self.queue, self.interface)]


@dataclass(frozen=True, slots=True)
class RemoveMember:
    """QueueRemove: a dynamic member out of a queue."""

    queue: str
    interface: str

    def ami(self) -> dict[str, str]:
        """The action's headers."""
        return {"Action": "QueueRemove", "Queue": self.queue, "Interface": self.interface}

    def expected(self) -> list[Expected]:
        """The QueueMemberRemoved of this interface from this queue."""
        return [_member_event("QueueMemberRemoved", self.queue, self.interface)]


@dataclass(frozen=True, slots=True)
class SetPenalty:
    """QueuePenalty in one queue."""

    queue: str
    interface: str
    penalty: int

    def ami(self) -> dict[str, str]:
        """The action's headers."""
        return {
            "Action": "QueuePenalty",
            "Queue": self.queue,
            "Interface": self.interface,
            "Penalty": str(self.penalty),
        }

    def expected(self) -> list[Expected]:
        """The QueueMemberPenalty with the new penalty."""
        return [
            _member_event(
                "QueueMemberPenalty", self.queue, self.interface, Penalty=str(self.penalty)
            )
        ]


@dataclass(frozen=True, slots=True)
class Listen:
    """Originate the supervisor's phone into ChanSpy on the operator's channel."""

    supervisor_channel: str
    spied_channel: str
    mode: ListenMode
    caller_id: str = "Queue Status"

    def ami(self) -> dict[str, str]:
        """The action's headers (Async: the answer does not wait for the phone to pick up)."""
        return {
            "Action": "Originate",
            "Channel": self.supervisor_channel,
            "Application": "ChanSpy",
            "Data": f"{self.spied_channel},{self.mode.value}",
            "CallerID": f'"{self.caller_id}" <>',
            "Async": "true",
        }

    def expected(self) -> list[Expected]:
        """ChanSpyStart on the operator's channel (once the supervisor answers)."""
        return [Expected("ChanSpyStart", (("SpyeeChannel", self.spied_channel),))]


AmiRequest = PauseMember | AddMember | RemoveMember | SetPenalty | Listen
"""Any action the console sends."""
