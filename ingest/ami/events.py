"""Typed AMI events: one frozen dataclass per AMI event kind we track.

`ingest.ami.parser.parse` builds them from raw AMI messages; nothing else
should. Conventions, the same for every class:

- Names are the snake_case of the AMI header. Where Asterisk spells one thing
  differently per message or version there is one name: the ``QueueMember``
  list item's ``Name``/``Location`` are `MemberInfo.member_name` /
  `MemberInfo.interface`, ``Holdtime``/``HoldTime`` is ``hold_time``.
- Counts, codes and positions are ``int``; 0/1 flags are ``bool``; epoch
  times are ``int`` seconds with 0 meaning "never"; durations are ``int``
  seconds unless the name ends in ``_ms``.
- ``X | None`` means "this Asterisk version or this message does not send it".
- Caller-id placeholders become None: Asterisk writes ``<unknown>`` in channel
  snapshots (``unknown`` in ``QueueEntry``) when no caller id is set, and an
  empty value means the same. Clients then render "no caller id" their own way
  instead of showing ``<unknown>`` as if it were a number.
- Action-response list items keep their ``action_id`` (None when the action
  had none) so a snapshot can be matched to the request that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiEvent:
    """Base of every typed AMI event. ``EVENT`` is the AMI event name."""

    EVENT: ClassVar[str] = ""

    @property
    def kind(self) -> str:
        """The AMI event name of this event."""
        return self.EVENT


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelInfo:
    """A channel snapshot: the channel fields queue, agent and channel events carry."""

    channel: str
    channel_state: int
    """0 Down, 1 Rsrvd, 2 OffHook, 3 Dialing, 4 Ring, 5 Ringing, 6 Up, 7 Busy,
    8 Dialing Offhook, 9 Pre-ring."""
    channel_state_desc: str
    caller_id_num: str | None
    caller_id_name: str | None
    connected_line_num: str | None
    connected_line_name: str | None
    context: str
    exten: str
    priority: int
    uniqueid: str
    linkedid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberInfo:
    """A queue member as every member event (and the QueueMember list item) reports it."""

    queue: str
    interface: str
    """The member's key in Asterisk (``Interface``, ``Location`` in QueueMember)."""
    member_name: str
    state_interface: str
    """Where the device state is read; the interface itself when not reported."""
    membership: str
    """``static``, ``dynamic`` or ``realtime`` (QueueStatus says ``static`` for realtime)."""
    penalty: int
    calls_taken: int
    last_call: int
    last_pause: int | None
    login_time: int | None
    in_call: bool | None
    status: int
    """AST_DEVICE_* code: 0 UNKNOWN, 1 NOT_INUSE, 2 INUSE, 3 BUSY, 4 INVALID,
    5 UNAVAILABLE, 6 RINGING, 7 RINGINUSE, 8 ONHOLD."""
    paused: bool
    paused_reason: str | None
    """None when empty. On unpause Asterisk may still send the reason given."""
    ringinuse: bool | None
    """None in the QueueMember list item, which does not carry it."""
    wrapuptime: int | None
    """The member's own wrap-up override in seconds (0 = the queue's)."""


# --- member events ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberEvent(AmiEvent):
    """Base of the six member events: all carry the full member state."""

    member: MemberInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberStatus(MemberEvent):
    """The member's device state changed (one event per queue of the member)."""

    EVENT: ClassVar[str] = "QueueMemberStatus"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberAdded(MemberEvent):
    """A member was added (QueueAdd, AddQueueMember); carries no ActionID."""

    EVENT: ClassVar[str] = "QueueMemberAdded"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberRemoved(MemberEvent):
    """A member was removed."""

    EVENT: ClassVar[str] = "QueueMemberRemoved"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberPause(MemberEvent):
    """Pause changed. Also what the pre-12 ``QueueMemberPaused`` becomes."""

    EVENT: ClassVar[str] = "QueueMemberPause"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberPenalty(MemberEvent):
    """Penalty changed."""

    EVENT: ClassVar[str] = "QueueMemberPenalty"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberRinginuse(MemberEvent):
    """The ringinuse setting changed."""

    EVENT: ClassVar[str] = "QueueMemberRinginuse"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMember(MemberEvent):
    """QueueStatus list item for one member (``Name``/``Location`` on the wire)."""

    EVENT: ClassVar[str] = "QueueMember"
    action_id: str | None = None


# --- callers ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerJoin(AmiEvent):
    """A caller entered a queue at ``position``; ``count`` callers are now waiting."""

    EVENT: ClassVar[str] = "QueueCallerJoin"
    queue: str
    position: int
    count: int
    caller: ChannelInfo | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerLeave(AmiEvent):
    """A caller left the queue (answered, abandoned, timed out)."""

    EVENT: ClassVar[str] = "QueueCallerLeave"
    queue: str
    position: int
    count: int
    caller: ChannelInfo | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerAbandon(AmiEvent):
    """A caller hung up while waiting; a QueueCallerLeave follows."""

    EVENT: ClassVar[str] = "QueueCallerAbandon"
    queue: str
    position: int
    original_position: int
    hold_time: int
    caller: ChannelInfo | None


# --- agents (queue members handling a call) --------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEvent(AmiEvent):
    """Base of the Agent* events: the caller's channel and the member's (``Dest*``).

    Either snapshot may be missing when its channel was already gone (seen on
    AgentComplete); queue and interface are always there.
    """

    queue: str
    interface: str
    member_name: str
    caller: ChannelInfo | None
    dest: ChannelInfo | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCalled(AgentEvent):
    """A member is being rung for a caller."""

    EVENT: ClassVar[str] = "AgentCalled"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnect(AgentEvent):
    """A member answered: ``hold_time`` the caller waited, ``ring_time`` the member
    rang (both seconds)."""

    EVENT: ClassVar[str] = "AgentConnect"
    hold_time: int
    ring_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentComplete(AgentEvent):
    """A call handled by a member ended; ``reason`` is caller, agent or transfer."""

    EVENT: ClassVar[str] = "AgentComplete"
    hold_time: int
    talk_time: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingNoAnswer(AgentEvent):
    """A member was rung and did not answer; the ring time is in MILLISECONDS."""

    EVENT: ClassVar[str] = "AgentRingNoAnswer"
    ring_time_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDump(AgentEvent):
    """A member hung up on a caller before the call was bridged."""

    EVENT: ClassVar[str] = "AgentDump"


# --- channels and devices --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(AmiEvent):
    """Base of the events about one channel."""

    channel: ChannelInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class Newchannel(ChannelEvent):
    """A channel was created."""

    EVENT: ClassVar[str] = "Newchannel"


@dataclass(frozen=True, slots=True, kw_only=True)
class Newstate(ChannelEvent):
    """A channel's state changed (ringing, up, ...)."""

    EVENT: ClassVar[str] = "Newstate"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCallerid(ChannelEvent):
    """A channel's caller id changed."""

    EVENT: ClassVar[str] = "NewCallerid"
    cid_calling_pres: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewConnectedLine(ChannelEvent):
    """A channel's connected line (the other party) changed."""

    EVENT: ClassVar[str] = "NewConnectedLine"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup(ChannelEvent):
    """A channel is gone."""

    EVENT: ClassVar[str] = "Hangup"
    cause: int
    cause_txt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreShowChannel(ChannelEvent):
    """CoreShowChannels list item: one live channel."""

    EVENT: ClassVar[str] = "CoreShowChannel"
    application: str
    application_data: str
    duration: int
    """Seconds (``hh:mm:ss`` on the wire)."""
    bridge_id: str | None
    action_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStateChange(AmiEvent):
    """A device state changed; ``state`` is a NAME (NOT_INUSE, INUSE, ...), not a code.

    Also the DeviceStateList list item (then with ``action_id``).
    ``Queue:<q>_pause_<interface>`` devices carry realtime pause changes.
    """

    EVENT: ClassVar[str] = "DeviceStateChange"
    device: str
    state: str
    action_id: str | None = None


# --- snapshot list items ---------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueParams(AmiEvent):
    """QueueStatus list item for one queue (counters since the last reload/reset)."""

    EVENT: ClassVar[str] = "QueueParams"
    queue: str
    max_callers: int
    """``Max``: 0 = unlimited."""
    strategy: str
    calls: int
    """Callers waiting now."""
    hold_time: int
    talk_time: int
    completed: int
    abandoned: int
    service_level: int
    service_level_perf: float
    service_level_perf2: float | None
    weight: int
    action_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry(AmiEvent):
    """QueueStatus list item for one waiting caller; ``wait`` is seconds so far."""

    EVENT: ClassVar[str] = "QueueEntry"
    queue: str
    position: int
    channel: str
    uniqueid: str
    caller_id_num: str | None
    caller_id_name: str | None
    connected_line_num: str | None
    connected_line_name: str | None
    wait: int
    priority: int | None
    action_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSummary(AmiEvent):
    """QueueSummary list item for one queue."""

    EVENT: ClassVar[str] = "QueueSummary"
    queue: str
    logged_in: int
    available: int
    callers: int
    hold_time: int
    talk_time: int
    longest_hold_time: int
    action_id: str | None = None


LIST_COMPLETE_EVENTS: tuple[str, ...] = (
    "QueueStatusComplete",
    "QueueSummaryComplete",
    "CoreShowChannelsComplete",
    "DeviceStateListComplete",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListComplete(AmiEvent):
    """The end of an action's list; ``name`` is which (one of `LIST_COMPLETE_EVENTS`)."""

    EVENT: ClassVar[str] = "ListComplete"
    name: str
    list_items: int | None
    action_id: str | None = None

    @property
    def kind(self) -> str:
        """The AMI event name, e.g. ``QueueStatusComplete``."""
        return self.name


# --- system ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BlindTransfer(AmiEvent):
    """A channel was blind-transferred to ``extension@context``.

    app_queue ends the queue call with ``AgentComplete`` Reason ``transfer`` and
    this event, from another subscriber of the same bridge message, says where
    the caller went; the two come in either order.
    """

    EVENT: ClassVar[str] = "BlindTransfer"
    result: str
    """``Success`` when the transfer happened (``Fail``, ``Invalid``, ``Not Permitted``)."""
    transferer_uniqueid: str | None
    transferee_uniqueid: str | None
    extension: str
    context: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FullyBooted(AmiEvent):
    """Sent on every login once Asterisk is up; ``uptime`` going down = restart."""

    EVENT: ClassVar[str] = "FullyBooted"
    status: str
    uptime: int | None
    last_reload: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown(AmiEvent):
    """Asterisk is shutting down (``Cleanly``/``Uncleanly``), maybe to restart."""

    EVENT: ClassVar[str] = "Shutdown"
    shutdown: str | None
    restart: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reload(AmiEvent):
    """A module (or everything) was reloaded: queue configuration may have changed."""

    EVENT: ClassVar[str] = "Reload"
    module: str | None
    status: str | None
    message: str | None


EVENT_CLASSES: tuple[type[AmiEvent], ...] = (
    QueueMemberStatus,
    QueueMemberAdded,
    QueueMemberRemoved,
    QueueMemberPause,
    QueueMemberPenalty,
    QueueMemberRinginuse,
    QueueMember,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueCallerAbandon,
    AgentCalled,
    AgentConnect,
    AgentComplete,
    AgentRingNoAnswer,
    AgentDump,
    Newchannel,
    Newstate,
    NewCallerid,
    NewConnectedLine,
    Hangup,
    CoreShowChannel,
    DeviceStateChange,
    QueueParams,
    QueueEntry,
    QueueSummary,
    ListComplete,
    BlindTransfer,
    FullyBooted,
    Shutdown,
    Reload,
)
"""Every concrete event class (base classes excluded)."""
