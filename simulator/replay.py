"""Replay of recorded Asterisk AMI sessions (:mod:`ingest.traces`).

Pure logic, no sockets: :class:`Trace` loads a recording, :class:`Replay`
holds one replay's shared state across client connections, and
:class:`ReplaySession` decides, for one connection, what to answer and which
recorded events to stream next. The server glues a session to a socket.

What a replay sends:

* At login, the recording's *preamble*: the unsolicited events that came with
  the login (FullyBooted, SuccessfulAuth).
* The client's snapshot requests (QueueStatus, QueueSummary, CoreShowChannels,
  DeviceStateList) are answered as a freshly started lab Asterisk answered
  them: from the trace itself when it recorded that action before anything
  happened (h_realtime), else from ``a_startup``. The client's ActionID
  replaces the recorded one, its Queue/Member filters apply, ListItems is
  recounted.
* Once every action named in :attr:`ReplayOptions.await_snapshots` was
  answered (and ``settle`` seconds passed, so pipelined requests still get
  their startup answer), the trace's remaining unsolicited events (those
  without ActionID: not the driver's own responses, list items or
  OriginateResponse) stream as fast as the client reads. A snapshot request
  after that gets ``Response: Error`` (there is no recorded answer for it).
* ``stop_after`` ends the stream after N unsolicited events (preamble
  included); ``drop_after`` closes the connection after N. A client that
  connects after a stream began (a reconnect) is answered with the trace's
  final state and gets no events past the preamble.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest import traces
from ingest.ami.message import AmiMessage, AmiMessageDict
from simulator.wire import CHANNEL_KEYS, header

SNAPSHOT_ACTIONS = ("QueueStatus", "QueueSummary", "CoreShowChannels", "DeviceStateList")
"""The list actions a replay answers from recorded data."""

STARTUP_TRACE = "a_startup"
"""The recording of a freshly started lab, used for snapshots a trace lacks."""

NO_SNAPSHOT = "Replay: no snapshot available"


def _read_jsonl(path: Path) -> list[AmiMessageDict]:
    return [message for _ts, message in traces.read_jsonl(path)]


@dataclass(frozen=True)
class RecordedList:
    """One list response (``Response`` … items … ``*Complete``) as Asterisk sent it."""

    action: str
    """Canonical action name, e.g. ``QueueStatus``."""
    request: AmiMessageDict
    """The action the driver sent (with its filters)."""
    line: int
    """Line of the ``Response`` in the ``.jsonl`` (line 0 is the banner)."""
    events_before: int
    """Unsolicited events the stream had delivered before it: ``stop_after`` for this point."""
    response: AmiMessageDict
    items: tuple[AmiMessageDict, ...]
    complete: AmiMessageDict

    @property
    def action_id(self) -> str:
        """The ActionID the driver used."""
        return header(self.request, "ActionID")

    def plain_items(self) -> list[AmiMessageDict]:
        """The items without their ActionID, for comparing with a tracker's state."""
        return [{k: v for k, v in item.items() if k != "ActionID"} for item in self.items]


@dataclass(eq=False)
class _OpenList:
    action: str
    line: int
    response: AmiMessageDict
    items: list[AmiMessageDict] = field(default_factory=list)


@dataclass(frozen=True)
class Trace:
    """A recorded session: every message, the actions sent, the list responses."""

    name: str
    path: Path
    messages: tuple[AmiMessageDict, ...]
    """Every received message; index = line number of the ``.jsonl`` (0 = banner)."""
    sent: tuple[AmiMessageDict, ...]
    events: tuple[AmiMessageDict, ...]
    """The unsolicited events (no ActionID), in wire order: what a replay streams."""
    event_lines: tuple[int, ...]
    """Line number of each of :attr:`events`."""
    lists: tuple[RecordedList, ...]
    """Every snapshot list response, in order."""
    preamble: int
    """How many leading :attr:`events` came with the login."""

    @classmethod
    def load(cls, trace: str | Path, traces_dir: Path | None = None) -> Trace:
        """Load ``<name>.jsonl`` (+ ``.sent.jsonl``) by name, or from a ``.jsonl`` path."""
        if traces_dir is not None and Path(trace).suffix != ".jsonl":
            path = traces_dir / f"{trace}.jsonl"
        else:
            path = traces.resolve(trace)
        name = path.name.removesuffix(".jsonl")
        messages = _read_jsonl(path)
        sent_path = traces.sent_path(path)
        sent = _read_jsonl(sent_path) if sent_path.exists() else []
        return cls._build(name, path, messages, sent)

    @classmethod
    def _build(
        cls, name: str, path: Path, messages: list[AmiMessageDict], sent: list[AmiMessageDict]
    ) -> Trace:
        actions = {header(a, "ActionID"): a for a in sent}
        canonical = {a.lower(): a for a in SNAPSHOT_ACTIONS}
        login_ids = {aid for aid, a in actions.items() if header(a, "Action").lower() == "login"}
        events: list[AmiMessageDict] = []
        event_lines: list[int] = []
        first_reply: int | None = None
        open_lists: dict[str, _OpenList] = {}
        lists: list[RecordedList] = []
        for line, message in enumerate(messages):
            if line == 0 and "Banner" in message:
                continue
            aid = message.get("ActionID")
            if "Event" in message and aid is None:
                events.append(message)
                event_lines.append(line)
            elif not isinstance(aid, str):
                continue
            elif "Event" not in message:
                if first_reply is None and aid not in login_ids:
                    first_reply = line
                action = canonical.get(header(actions.get(aid, {}), "Action").lower())
                if action and message.get("EventList") == "start":
                    open_lists[aid] = _OpenList(action, line, message)
            elif aid in open_lists:
                pending = open_lists[aid]
                if header(message, "Event").endswith("Complete") and "EventList" in message:
                    del open_lists[aid]
                    lists.append(
                        RecordedList(
                            action=pending.action,
                            request=actions[aid],
                            line=pending.line,
                            events_before=sum(1 for n in event_lines if n < pending.line),
                            response=pending.response,
                            items=tuple(pending.items),
                            complete=message,
                        )
                    )
                else:
                    pending.items.append(message)
        limit = first_reply if first_reply is not None else len(messages)
        preamble = sum(1 for n in event_lines if n < limit)
        return cls(
            name,
            path,
            tuple(messages),
            tuple(sent),
            tuple(events),
            tuple(event_lines),
            tuple(lists),
            preamble,
        )

    def lists_of(self, action: str) -> list[RecordedList]:
        """Recorded responses to ``action`` (case-insensitive), in order."""
        return [r for r in self.lists if r.action.lower() == action.lower()]

    def startup_list(self, action: str) -> RecordedList | None:
        """The first ``action`` response recorded before anything happened, if any."""
        for recorded in self.lists_of(action):
            if recorded.events_before <= self.preamble:
                return recorded
        return None


def load_trace(name: str | Path, traces_dir: Path | None = None) -> Trace:
    """Shorthand for :meth:`Trace.load`."""
    return Trace.load(name, traces_dir)


def queue_status_points(trace: Trace) -> list[RecordedList]:
    """Every QueueStatus response of ``trace`` with its position in the event stream.

    Replaying with ``stop_after=point.events_before`` delivers exactly the
    events Asterisk had sent when it answered with ``point.items``.
    """
    return trace.lists_of("QueueStatus")


def queue_status_at(trace: Trace, events: int) -> RecordedList | None:
    """The (last) QueueStatus Asterisk reported when exactly ``events`` events were out."""
    found = [p for p in queue_status_points(trace) if p.events_before == events]
    return found[-1] if found else None


def final_queue_status(trace: Trace) -> RecordedList:
    """The trace's last QueueStatus response (the source of its ``expected.json``)."""
    points = queue_status_points(trace)
    if not points:
        raise LookupError(f"{trace.name} has no QueueStatus response")
    return points[-1]


@dataclass(frozen=True)
class ReplayOptions:
    """How a replay behaves; see the module docstring."""

    stop_after: int | None = None
    """Stream only the first N unsolicited events (preamble included)."""
    drop_after: int | None = None
    """Close the connection after N unsolicited events (no Goodbye)."""
    await_snapshots: tuple[str, ...] = ("QueueStatus",)
    """Start streaming once each of these was answered; ``()`` = right after login."""
    settle: float = 0.05
    """Seconds to wait after that, so requests sent in the same burst are answered first."""
    batch: int = 256
    """Events per write while streaming."""


def _with_action_id(message: AmiMessage, action_id: str | None) -> AmiMessageDict:
    out: AmiMessageDict = {}
    for key, value in message.items():
        if key == "ActionID":
            if action_id is not None:
                out[key] = action_id
        else:
            out[key] = value if isinstance(value, str) else list(value)
    return out


def _keep(action: str, item: AmiMessage, request: AmiMessage) -> bool:
    queue = header(request, "Queue")
    if queue and action in ("QueueStatus", "QueueSummary") and header(item, "Queue") != queue:
        return False
    member = header(request, "Member")
    if member and action == "QueueStatus" and header(item, "Event") == "QueueMember":
        return member in (header(item, "Location"), header(item, "Name"))
    return True


def answer_from(recorded: RecordedList, request: AmiMessage) -> list[AmiMessageDict]:
    """``recorded`` re-addressed to ``request``: its ActionID, its filters, recounted."""
    action_id = request.get("ActionID")
    aid = action_id if isinstance(action_id, str) else None
    items = [
        _with_action_id(item, aid)
        for item in recorded.items
        if _keep(recorded.action, item, request)
    ]
    complete = _with_action_id(recorded.complete, aid)
    complete["ListItems"] = str(len(items))
    return [_with_action_id(recorded.response, aid), *items, complete]


def _computed(template: RecordedList, items: Iterable[AmiMessageDict], events: int) -> RecordedList:
    return RecordedList(
        template.action,
        {"Action": template.action},
        -1,
        events,
        template.response,
        tuple(items),
        template.complete,
    )


def _final_devices(trace: Trace, startup: RecordedList) -> list[AmiMessageDict]:
    states: dict[str, str] = {
        header(i, "Device"): header(i, "State") for i in startup.items if header(i, "Device")
    }
    for event in trace.events:
        if event.get("Event") == "DeviceStateChange":
            states[header(event, "Device")] = header(event, "State")
    return [
        {"Event": "DeviceStateChange", "ActionID": "", "Device": d, "State": s}
        for d, s in states.items()
    ]


def _final_channels(trace: Trace) -> list[AmiMessageDict]:
    live: dict[str, AmiMessageDict] = {}
    for event in trace.events:
        name = event.get("Channel")
        if not isinstance(name, str) or "Uniqueid" not in event:
            continue
        if event.get("Event") == "Hangup":
            live.pop(name, None)
        elif event.get("Event") == "Newchannel" or name in live:
            live[name] = {k: event[k] for k in CHANNEL_KEYS if k in event}
    items: list[AmiMessageDict] = []
    for fields in live.values():
        item: AmiMessageDict = {"Event": "CoreShowChannel", "ActionID": ""}
        item.update(fields)
        item.update({"Application": "", "ApplicationData": "", "Duration": "00:00:00"})
        item["BridgeId"] = ""
        items.append(item)
    return items


class Replay:
    """One replayed trace, shared by the connections a client makes to it."""

    def __init__(
        self,
        trace: Trace,
        options: ReplayOptions | None = None,
        *,
        startup: Trace | None = None,
    ) -> None:
        self.trace = trace
        self.options = options or ReplayOptions()
        self._startup_trace = startup
        self.started = False
        """Some connection streamed past the preamble: later ones get the final state."""
        self.dropped = False
        self.streamed = 0
        """Furthest stream position reached."""
        self._startup: dict[str, RecordedList] = {}
        self._final: dict[str, RecordedList] = {}
        self._prepare()

    def _fallback(self) -> Trace:
        if self._startup_trace is None:
            # The one recorded beside the trace, else the packaged (or overriding) one.
            beside = self.trace.path.with_name(f"{STARTUP_TRACE}.jsonl")
            self._startup_trace = Trace.load(beside if beside.exists() else STARTUP_TRACE)
        return self._startup_trace

    def _prepare(self) -> None:
        trace = self.trace
        for action in SNAPSHOT_ACTIONS:
            own = trace.startup_list(action)
            recorded = own or self._fallback().startup_list(action)
            if recorded is None:
                raise LookupError(f"no startup {action} for {trace.name}")
            self._startup[action] = recorded
        total = len(trace.events)
        for action in ("QueueStatus", "QueueSummary"):
            recorded_lists = trace.lists_of(action)
            self._final[action] = recorded_lists[-1] if recorded_lists else self._startup[action]
        channels = self._startup["CoreShowChannels"]
        self._final["CoreShowChannels"] = _computed(channels, _final_channels(trace), total)
        devices = self._startup["DeviceStateList"]
        self._final["DeviceStateList"] = _computed(devices, _final_devices(trace, devices), total)

    def snapshot(self, action: str, *, final: bool) -> RecordedList:
        """The recorded (or derived) answer to ``action`` at startup or at the end."""
        return (self._final if final else self._startup)[action]

    def session(self) -> ReplaySession:
        """State for a new client connection."""
        return ReplaySession(self, final=self.started)


@dataclass(eq=False)
class ReplaySession:
    """What one connection of a replay has been sent and may be sent next."""

    replay: Replay
    final: bool
    """Answer with the trace's final state and stream nothing (a reconnect)."""
    position: int = 0
    scheduled: bool = False
    """The stream's start is scheduled (the server waits ``settle`` first)."""
    streaming: bool = False
    answered: set[str] = field(default_factory=set)

    @property
    def limit(self) -> int:
        """Stream position where this connection's stream ends."""
        events = len(self.replay.trace.events)
        if self.final:
            return self.position
        options = self.replay.options
        bounds = [events]
        if options.stop_after is not None:
            bounds.append(options.stop_after)
        if options.drop_after is not None:
            bounds.append(options.drop_after)
        return max(0, min(bounds))

    def login_events(self) -> list[AmiMessageDict]:
        """The events that came with the login; counted in the stream unless final."""
        trace = self.replay.trace
        if self.final:
            return list(trace.events[: trace.preamble])
        end = min(trace.preamble, self.limit)
        self.position = end
        self.replay.streamed = max(self.replay.streamed, end)
        return list(trace.events[:end])

    def answer(self, action: str, request: AmiMessage) -> list[AmiMessageDict]:
        """Reply to a snapshot action (``action`` must be one of :data:`SNAPSHOT_ACTIONS`)."""
        canonical = next(a for a in SNAPSHOT_ACTIONS if a.lower() == action.lower())
        if self.streaming and not self.final:
            aid = request.get("ActionID")
            reply: AmiMessageDict = {"Response": "Error"}
            if isinstance(aid, str):
                reply["ActionID"] = aid
            reply["Message"] = NO_SNAPSHOT
            return [reply]
        self.answered.add(canonical.lower())
        return answer_from(self.replay.snapshot(canonical, final=self.final), request)

    @property
    def ready(self) -> bool:
        """Every awaited snapshot was answered: the stream may begin."""
        if self.final or self.streaming or self.scheduled:
            return False
        awaited = {a.lower() for a in self.replay.options.await_snapshots}
        return awaited <= self.answered

    def begin(self) -> None:
        """Start streaming (from now on snapshot requests get an error)."""
        if not self.final:
            self.streaming = True

    def next_batch(self) -> list[AmiMessageDict]:
        """The next events to send; empty when this connection's stream is over."""
        if not self.streaming:
            return []
        end = min(self.position + self.replay.options.batch, self.limit)
        batch = list(self.replay.trace.events[self.position : end])
        if batch and end > self.replay.trace.preamble:
            self.replay.started = True
        self.position = end
        self.replay.streamed = max(self.replay.streamed, end)
        return batch

    @property
    def must_drop(self) -> bool:
        """``drop_after`` reached: close the connection now (its data flushed)."""
        drop = self.replay.options.drop_after
        if self.final or drop is None:
            return False
        return self.position >= min(drop, len(self.replay.trace.events))

    def mark_dropped(self) -> None:
        """Record the drop: the client's next connection gets the final state."""
        self.replay.dropped = True
        self.replay.started = True
