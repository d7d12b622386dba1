"""`SafeAMIProtocol`: the asyncio protocol handed to panoramisk's ``Manager``.

It is a drop-in replacement of panoramisk 1.4's ``AMIProtocol`` (same
attributes, which ``Manager`` sets after connecting: ``factory``, ``log``,
``config``, ``encoding``, ``responses``, ``queue``), with its defects fixed:

- framing is `AmiFramer`: linear, size-capped, resynchronising;
- a message whose identity headers (``Event``, ``Response``, ``ActionID``,
  ``CommandID``) repeat with different values is dropped and counted instead
  of raising AttributeError inside ``data_received`` (which made asyncio close
  the connection); repeated identical values are merged;
- an exception in a manager callback is logged and counted, it does not kill
  the connection either;
- an outgoing action key or value holding CR or LF is refused with
  `UnsafeActionValue` before anything is written (it would smuggle in a second
  action);
- no log line contains an action's values (the Login action holds the secret):
  a failed write logs the action name and ActionID only, and fails the
  action's future with `ActionNotSent` instead of leaving it pending forever
  (asyncio silently drops writes to a closing transport);
- ``QueueAdd`` resolves on its response: panoramisk mistakes "Added interface
  to queue" for the start of an event list and would wait forever;
- an event never starts the answer to an action, whatever its ActionID: an
  answer begins with a ``Response`` (list items and ``*Complete`` follow it).
  Asterisk sends every session the ``OriginateResponse`` events of other
  sessions, with their ActionIDs and a ``Response`` header of their own; one
  whose ActionID equals a pending action of ours is dispatched as the event
  it is, instead of resolving ours.

Reads are taken a step at a time, and not at all on `hold` (backpressure: the
ingest's queue is full), by `ingest.ami.pacing.ReadPacer`.

Unchanged: responses resolve the action's future (an EventList action gets the
list of messages up to its ``*Complete`` event), other events go to
``Manager.dispatch`` (callbacks registered with ``register_event``), actions
left unanswered at disconnect are resent after the next ``FullyBooted``.

Use::

    manager = Manager(host=..., port=..., username=..., secret=...,
                      protocol_factory=SafeAMIProtocol)
    # or, with counters that survive reconnects and another size cap:
    stats = ProtocolStats()
    factory = functools.partial(SafeAMIProtocol, stats=stats, max_message_size=...)
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote

from panoramisk import actions
from panoramisk.message import Message

from ingest.ami.framing import DEFAULT_MAX_MESSAGE_SIZE, AmiFramer, Frame, FramerStats
from ingest.ami.pacing import ReadPacer
from ingest.ami.relevance import RawEventFilter

# Headers that say what a message is and whom it answers: two different values
# make the message ambiguous, so it is dropped.
_IDENTITY_HEADERS = frozenset({"event", "response", "actionid", "commandid"})
# Headers panoramisk reads as a single string: the first value is kept.
_SINGLE_HEADERS = frozenset({"message", "eventlist", "subevent"})
# Actions answered by one response that panoramisk's list heuristics misread.
_SINGLE_RESPONSE_ACTIONS = frozenset({"queueadd"})
_UNSAFE_CHARS = ("\r", "\n")


class UnsafeActionValue(ValueError):
    """An action key or value would break AMI framing (CR/LF, or ':' in a key).

    The message names the action and the header, never the value.
    """


class ActionNotSent(ConnectionError):
    """The action could not be written; the connection is closing or closed."""


@dataclass(slots=True)
class ProtocolStats:
    """Counters of the AMI connection; share one object across reconnects."""

    framing: FramerStats = field(default_factory=FramerStats)
    bytes_received: int = 0
    """Bytes read off the socket (framed or still waiting for a step)."""
    malformed: int = 0
    """Messages dropped as unusable (ambiguous identity, no Event/Response)."""
    handler_errors: int = 0
    """Messages whose handling (a manager callback) raised."""
    refused_actions: int = 0
    send_failures: int = 0

    @property
    def messages_received(self) -> int:
        """Complete messages framed (banner excluded)."""
        return self.framing.messages

    @property
    def events_filtered(self) -> int:
        """Events dropped unread by the raw ``Event:`` pre-filter (kinds nothing uses)."""
        return self.framing.filtered

    @property
    def oversized_dropped(self) -> int:
        """Messages dropped for exceeding the size cap."""
        return self.framing.oversized


class SafeAMIProtocol(asyncio.Protocol):
    """panoramisk's AMI protocol, hardened. See the module docstring."""

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        stats: ProtocolStats | None = None,
        event_filter: RawEventFilter | None = None,
    ) -> None:
        self.stats = stats if stats is not None else ProtocolStats()
        # `event_filter`: drop unused events from their raw `Event:` line (see
        # `ingest.ami.relevance`); None builds every message.
        self._framer = AmiFramer(
            max_message_size=max_message_size,
            stats=self.stats.framing,
            event_filter=event_filter,
        )
        # The attributes panoramisk's Manager reads and sets.
        self.transport: asyncio.WriteTransport | None = None
        self.closed = False
        self.queue: deque[Any] = deque()
        self.responses: dict[str, Any] = {}
        self.factory: Any = None
        self.version: str | None = None
        self.log = logging.getLogger(__name__)
        self.config: dict[str, Any] = {}
        self.encoding = "utf-8"
        self._pacer = ReadPacer(self._framer.feed, self._handle_frame)

    # --- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start a fresh stream (a reconnect gets a new protocol anyway)."""
        self.transport = cast(asyncio.WriteTransport, transport)
        self.closed = False
        self._pacer.transport = transport

    def data_received(self, data: bytes) -> None:
        """Frame the bytes and handle each message (a step at a time); never raises."""
        self._save_stream(data)
        self.stats.bytes_received += len(data)
        self._pacer.feed(data)

    def _handle_frame(self, frame: Frame) -> None:
        if frame.banner:
            self._on_banner(frame)
            return
        message = _to_message(frame)
        if message is None:
            self.stats.malformed += 1
            self.log.warning("dropped an unusable AMI message (%s)", _describe(frame))
            return
        try:
            self.handle_message(message)
        except Exception:
            self.stats.handler_errors += 1
            self.log.exception("handling AMI %s failed", _describe(frame))

    def hold(self) -> None:
        """Handle and read no more until `release` (backpressure); what was read waits."""
        self._pacer.hold()

    def release(self) -> None:
        """Handle what waits, then read again."""
        self._pacer.release()

    @property
    def held(self) -> bool:
        """Whether `hold` is in force."""
        return self._pacer.held

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the manager (it reconnects) unless we closed on purpose; what the peer
        sent before is handled first, held or not."""
        if not self.closed:
            self._pacer.drain()
            self.close()
            if self.factory is not None:
                self.factory.connection_lost(exc)

    # --- panoramisk's protocol API --------------------------------------------

    def send(self, data: Mapping[str, Any], as_list: bool | None = False) -> asyncio.Future[Any]:
        """Write an action; return the future of its response(s).

        Raises `UnsafeActionValue` (nothing written) for a key or value that
        holds CR or LF. When the connection is closing the future fails with
        `ActionNotSent`.
        """
        if isinstance(data, actions.Action):
            action = data
        else:
            klass = actions.Command if "Command" in data else actions.Action
            action = klass(data, as_list=as_list)
        name = str(action.get("Action", "?"))
        if as_list is None and name.lower() in _SINGLE_RESPONSE_ACTIONS:
            as_list = False
        action.as_list = as_list
        try:
            payload = self._encode(action, name)
        except UnsafeActionValue:
            self.stats.refused_actions += 1
            raise
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return self._not_sent(action, name, "the connection is closed")
        self.responses[action.id] = action
        if action.action_id:
            self.responses[action.action_id] = action
        try:
            transport.write(payload)
        except Exception as exc:
            self._forget(action)
            return self._not_sent(action, name, type(exc).__name__)
        return cast("asyncio.Future[Any]", action.future)

    def handle_message(self, message: Any) -> None:
        """Resolve the action this answers, or dispatch the event (panoramisk's logic)."""
        response = None
        if self.responses:  # most of the time no action waits: nothing to look up
            response = self.responses.get(message.id)
            if response is None and message.action_id:
                response = self.responses.get(message.action_id)
        if response is not None and "event" in message and not response.responses:
            response = None  # another session's event carrying the same ActionID
        if response is not None:
            self.on_answer(message)
            if response.add_message(message):
                self._forget(response)
        elif "event" in message:
            if message["event"].lower() == "shutdown":
                # panoramisk hands the Shutdown message to on_disconnect as `exc`.
                self.connection_lost(message)
            if self.factory is not None:
                self.factory.dispatch(message)

    def on_answer(self, message: Any) -> None:
        """Called with every message taken as an answer to one of our actions, in stream
        order, before it resolves the action (a hook for subclasses)."""

    def close(self) -> None:
        """Close the transport; queue unanswered actions for resending after reconnect."""
        factory = self.factory
        if factory is not None and self.responses:
            forgettable = factory.forgetable_actions
            awaiting = factory.awaiting_actions
            seen: set[int] = set()
            for key in list(self.responses):
                action = self.responses.pop(key)
                # A Command is filed under its CommandID and its ActionID.
                if id(action) in seen:
                    continue
                seen.add(id(action))
                name = str(action.get("Action", "?"))
                if name.lower() in forgettable or action.future.done() or action.responses:
                    continue
                # Never log the action itself: a Login holds the secret.
                self.log.info("AMI action %s (ActionID %s) will be resent", name, action.id)
                awaiting.append(action)
        self._pacer.clear()
        if not self.closed:
            try:
                if self.transport is not None:
                    self.transport.close()
            finally:
                self.closed = True

    # --- internals ------------------------------------------------------------

    def _encode(self, action: Any, name: str) -> bytes:
        shown = name if _is_plain(name) else "<unsafe>"
        for key, value in action.items():
            key = str(key)
            if not _is_plain(key):
                raise UnsafeActionValue(f"AMI action {shown!r}: a header name holds CR, LF or ':'")
            values = value if isinstance(value, list | tuple) else (value,)
            if any(c in str(v) for v in values for c in _UNSAFE_CHARS):
                raise UnsafeActionValue(f"AMI action {shown!r}: value of {key!r} holds CR or LF")
        try:
            return str(action).encode(self.encoding)
        except UnicodeError:
            raise UnsafeActionValue(
                f"AMI action {shown!r}: a value cannot be encoded as {self.encoding}"
            ) from None

    def _not_sent(self, action: Any, name: str, reason: str) -> asyncio.Future[Any]:
        self.stats.send_failures += 1
        self.log.warning("AMI action %s (ActionID %s) not sent: %s", name, action.id, reason)
        future = cast("asyncio.Future[Any]", action.future)
        if not future.done():
            future.set_exception(ActionNotSent(f"AMI action {name} not sent: {reason}"))
            # Logged above: spare fire-and-forget callers "exception never retrieved".
            future.exception()
        return future

    def _forget(self, action: Any) -> None:
        self.responses.pop(action.id, None)
        if action.action_id:
            self.responses.pop(action.action_id, None)

    def _on_banner(self, frame: Frame) -> None:
        banner = str(frame.headers.get("Banner", ""))
        self.version = banner.partition("/")[2].strip() or None
        self.log.info("AMI protocol version: %r", self.version)

    def _save_stream(self, data: bytes) -> None:
        """panoramisk's ``save_stream`` debugging option: append raw bytes."""
        stream = getattr(self.factory, "save_stream", None)
        if not stream:
            return
        if hasattr(stream, "write"):
            stream.write(data)
        else:
            with open(stream, "ab") as out:
                out.write(data)


def _to_message(frame: Frame) -> Any:
    """The panoramisk ``Message`` of a frame, or None when it is unusable."""
    headers = frame.headers
    # Nearly every message: each header once, in one letter case. Built by a
    # comprehension in the shape panoramisk keeps (lowered key → (key, value)).
    store: dict[str, tuple[str, Any]] = {key.lower(): (key, raw) for key, raw in headers.items()}
    if len(store) == len(headers) and list not in set(map(type, headers.values())):
        if "event" not in store and "response" not in store:
            return None
        return _finish_message(store, frame)
    return _to_message_repeated(frame)


def _to_message_repeated(frame: Frame) -> Any:
    """`_to_message` of a frame with a header repeated (or spelled in two letter cases)."""
    # One pass in the shape panoramisk keeps (lowered key → (key, value)); the rare
    # repeated header is settled after it.
    store: dict[str, tuple[str, Any]] = {}
    repeated: set[str] = set()
    for key, raw in frame.headers.items():
        lowered = key.lower()
        entry = store.get(lowered)
        if entry is None and not isinstance(raw, list):
            store[lowered] = (key, raw)
            continue
        values = list(raw) if isinstance(raw, list) else [raw]
        if entry is not None:
            before = entry[1]
            values = (before if isinstance(before, list) else [before]) + values
            key = entry[0]
        store[lowered] = (key, values)
        repeated.add(lowered)
    if "event" not in store and "response" not in store:
        return None
    for lowered in repeated:
        key, values = store[lowered]
        if len(values) == 1 or lowered in _SINGLE_HEADERS:
            store[lowered] = (key, values[0])
        elif lowered in _IDENTITY_HEADERS:
            if any(v != values[0] for v in values):
                return None
            store[lowered] = (key, values[0])
    return _finish_message(store, frame)


def _finish_message(store: dict[str, tuple[str, Any]], frame: Frame) -> Any:
    """The message of a settled store: quoted values decoded as panoramisk does."""
    for lowered in _QUOTED_KEYS.intersection(store):
        key, value = store[lowered]
        if isinstance(value, str):
            store[lowered] = (key, unquote(value).strip())  # AGI `Result:` as panoramisk
    return _new_message(store, "\n".join(frame.lines))


_QUOTED_KEYS = frozenset(key.lower() for key in Message.quoted_keys)


def _new_message(store: dict[str, tuple[str, Any]], content: str) -> Any:
    """``Message(headers, content)`` without its per-header ``__setitem__`` (a third of
    the ingest's time at 10,000 events/s) when panoramisk keeps its usual shape."""
    if _DIRECT_MESSAGES:
        return _direct_message(store, content)
    return Message({key: value for key, value in store.values()}, content)


def _direct_message(store: dict[str, tuple[str, Any]], content: str) -> Any:
    """The state ``Message(headers, content)`` ends in, built directly. Like panoramisk,
    `content` is kept as a header (its constructor passes it as one)."""
    store["content"] = ("content", content)
    message = Message.__new__(Message)
    message._store = store
    message.manager = None
    return message


def _builds_like_panoramisk() -> bool:
    """Whether a Message built directly equals panoramisk's own (its internals may change)."""
    headers = {"Event": "X", "ActionID": "1", "Multi": ["a", "b"]}
    theirs = Message(headers, "body")
    try:
        mine = _direct_message({k.lower(): (k, v) for k, v in headers.items()}, "body")
        return bool(vars(mine) == vars(theirs) and dict(mine) == dict(theirs))
    except Exception:  # pragma: no cover - a panoramisk without `_store`
        return False


_DIRECT_MESSAGES = _builds_like_panoramisk()


def _is_plain(name: str) -> bool:
    """Fit to be a header name (and to be echoed in an error message)."""
    return bool(name) and ":" not in name and not any(c in name for c in _UNSAFE_CHARS)


def _describe(frame: Frame) -> str:
    """A short, value-free description of a frame for logs."""
    for key in ("Event", "Response"):
        value = frame.headers.get(key)
        if value is not None:
            shown = value if isinstance(value, str) else "/".join(value)
            return f"{key} {shown[:80]!r}"
    return f"message with headers {sorted(frame.headers)[:8]!r}"
