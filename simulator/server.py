"""The AMI simulator: a real asyncio TCP server speaking the Asterisk Manager Interface.

It answers actions the way Asterisk 22 did in the recorded traces and
broadcasts the events of a :class:`~simulator.centre.CallCentre` (live
mode) or of a recorded trace (:class:`~simulator.replay.Replay`).

Time in live mode:

* ``realtime=True`` (default): model time follows the model's clock.
* ``realtime=False``: time only moves through :meth:`AmiSimulator.advance`
  (tests fast-forward without sleeping).
* ``rate=N``: the model runs on free-running virtual time and the server
  releases about N events per second, written in one batch per loop tick
  (load tests). Timestamps in the events are then virtual.

``privileges`` serves a manager user with fewer rights than ``all``
(:mod:`~simulator.privileges`): refused actions are answered as
Asterisk answers them, and events the user may not read are not sent.

Writes never block the loop. A client that reads too slowly is disconnected,
as Asterisk's ``writetimeout`` does: when its pending output stays above
``high_water`` bytes for ``write_timeout`` seconds, or ever exceeds
``max_buffer`` bytes. Replayed traces are paced by the reader instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from simulator.centre import CallCentre
from simulator.config import CentreConfig, TrafficConfig
from simulator.errors import (
    InterfaceNotFound,
    InvalidArgument,
    MemberExists,
    ModelError,
    NoSuchQueue,
    NotAMember,
    NotDynamic,
)
from simulator.privileges import Privileges
from simulator.replay import SNAPSHOT_ACTIONS, Replay, ReplaySession, Trace
from simulator.wire import (
    BANNER,
    Message,
    MessageLike,
    MessageParser,
    WireError,
    header,
    serialize_many,
)

log = logging.getLogger(__name__)

_NO_EVENTS: frozenset[str] = frozenset()
_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})
_LIST_MESSAGES = {
    "QueueStatus": "Queue status will follow",
    "QueueSummary": "Queue summary will follow",
    "CoreShowChannels": "Channels will follow",
    "DeviceStateList": "Device State Changes will follow",
}
_ORIGINATE_CHANNEL = re.compile(r"^Local/(?P<queue>[^@/]+)@callers(?:/n)?$")
_CALLER_ID = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<num>[^>]*)>\s*$')


def _ast_true(value: str) -> bool:
    return value.strip().lower() in _TRUE


def _event_mask(value: str) -> frozenset[str] | None:
    """Classes a session receives: ``None`` = all, empty = none (Asterisk's set_eventmask)."""
    text = value.strip().lower()
    if not text or text in _TRUE or text == "all":
        return None
    if text in _FALSE or text == "none":
        return _NO_EVENTS
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _wanted(event: MessageLike, mask: frozenset[str] | None) -> bool:
    if mask is None:
        return True
    privilege = header(event, "Privilege")
    return not privilege or bool(mask & set(privilege.split(",")))


def _reply(action_id: str | None, response: str, **fields: str) -> Message:
    message: Message = {"Response": response}
    if action_id is not None:
        message["ActionID"] = action_id
    message.update(fields)
    return message


def _error(action_id: str | None, text: str) -> list[Message]:
    return [_reply(action_id, "Error", Message=text)]


def _ok(action_id: str | None, text: str) -> list[Message]:
    return [_reply(action_id, "Success", Message=text)]


def _action_id(message: MessageLike) -> str | None:
    value = message.get("ActionID")
    if value is None:
        value = next((v for k, v in message.items() if k.lower() == "actionid"), None)
    if value is None:
        return None
    return value if isinstance(value, str) else (value[0] if value else "")


def _list_reply(
    action: str,
    action_id: str | None,
    items: Iterable[MessageLike],
    *,
    id_first: bool = False,
) -> list[Message]:
    """Response + items + ``<action>Complete``, ActionID where Asterisk puts it.

    app_queue's lists carry ActionID last; manager.c's lists (CoreShowChannel,
    DeviceStateChange) right after ``Event``.
    """
    out = [_reply(action_id, "Success", EventList="start", Message=_LIST_MESSAGES[action])]
    for item in items:
        entry: Message = {}
        for key, value in item.items():
            entry[key] = value if isinstance(value, str) else list(value)
            if id_first and key == "Event" and action_id is not None:
                entry["ActionID"] = action_id
        if not id_first and action_id is not None:
            entry["ActionID"] = action_id
        out.append(entry)
    complete: Message = {"Event": f"{action}Complete"}
    if action_id is not None:
        complete["ActionID"] = action_id
    complete["EventList"] = "Complete"
    complete["ListItems"] = str(len(out) - 1)
    out.append(complete)
    return out


class _Connection(asyncio.Protocol):
    """One AMI client session."""

    def __init__(self, server: AmiSimulator) -> None:
        self._server = server
        self.transport: asyncio.Transport | None = None
        self._parser = MessageParser()
        self.authenticated = False
        self.mask: frozenset[str] | None = _NO_EVENTS
        self.replay: ReplaySession | None = None
        self.closed = False
        self.paused = False
        self.on_writable: Callable[[], None] | None = None
        self._stall: asyncio.TimerHandle | None = None

    @property
    def wants_events(self) -> bool:
        return self.authenticated and self.mask != _NO_EVENTS and not self.closed

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        server = self._server
        self.transport.set_write_buffer_limits(high=server.high_water)
        sock = self.transport.get_extra_info("socket")
        if server.send_buffer is not None and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, server.send_buffer)
        self.transport.write(BANNER)
        server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._parser.feed(data)
        except WireError:
            log.warning("AMI simulator: unparseable input, closing the connection")
            self.abort()
            return
        for message in messages:
            if self.closed:
                return
            self._server._handle(self, message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._stall is not None:
            self._stall.cancel()
        self._server._connections.discard(self)

    def pause_writing(self) -> None:
        self.paused = True
        timeout = self._server.write_timeout
        if self.replay is None and timeout is not None:
            loop = asyncio.get_running_loop()
            self._stall = loop.call_later(timeout, self._stalled)

    def resume_writing(self) -> None:
        self.paused = False
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        callback, self.on_writable = self.on_writable, None
        if callback is not None:
            callback()

    # -- output -------------------------------------------------------------

    def send(self, messages: Sequence[MessageLike], *, events: int = 0) -> None:
        if messages:
            self.send_bytes(serialize_many(messages), events=events)

    def send_bytes(self, data: bytes, *, events: int = 0) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return
        transport.write(data)
        self._server.events_sent += events
        if self.replay is None and transport.get_write_buffer_size() > self._server.max_buffer:
            self._slow("output buffer over max_buffer")

    def _stalled(self) -> None:
        self._stall = None
        if self.paused and not self.closed:
            self._slow("no progress for write_timeout")

    def _slow(self, why: str) -> None:
        log.warning("AMI simulator: disconnecting a slow reader (%s)", why)
        self._server.slow_disconnects += 1
        self.abort()

    def close(self) -> None:
        """Close after the pending output is written (FIN)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Reset the connection now, dropping pending output (RST)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class AmiSimulator:
    """An AMI server over a :class:`CallCentre` or a recorded trace.

    Use ``port=0`` for a free port (see :attr:`port` after :meth:`start`),
    or ``async with AmiSimulator(...) as sim``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "admin",
        secret: str,
        model: CallCentre | None = None,
        replay: Replay | None = None,
        realtime: bool = True,
        rate: float | None = None,
        write_timeout: float | None = 1.0,
        max_buffer: int = 16 * 1024 * 1024,
        high_water: int = 256 * 1024,
        send_buffer: int | None = None,
        privileges: Privileges | None = None,
    ) -> None:
        if model is not None and replay is not None:
            raise ValueError("a simulator serves a model or a replay, not both")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.host = host
        self._port = port
        self.username = username
        self.secret = secret
        self.replay = replay
        self._model = model if model is not None or replay is not None else CallCentre()
        self.realtime = realtime
        self.rate = rate
        self.write_timeout = write_timeout
        self.max_buffer = max_buffer
        self.high_water = high_water
        self.send_buffer = send_buffer
        self.privileges = privileges or Privileges()
        self.actions_received: Counter[str] = Counter()
        """Actions received from clients, by name as sent."""
        self.events_sent = 0
        """Event messages written to clients, summed over connections."""
        self.slow_disconnects = 0
        """Clients disconnected for reading too slowly."""
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._pump: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._flush_scheduled = False
        self._events_paused = False
        self._held: list[MessageLike] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._actions: dict[str, Callable[[Message, str | None], list[Message]]] = {
            "queuestatus": self._queue_status,
            "queuesummary": self._queue_summary,
            "coreshowchannels": self._core_show_channels,
            "devicestatelist": self._device_state_list,
            "queueadd": self._queue_add,
            "queueremove": self._queue_remove,
            "queuepause": self._queue_pause,
            "queuepenalty": self._queue_penalty,
            "queuememberringinuse": self._queue_ringinuse,
            "setvar": self._setvar,
            "originate": self._originate,
        }

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Listen, and start the clock (live mode)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self._port, reuse_address=True
        )
        if self._model is not None:
            self._model.set_listener(self._model_changed)
            if self.rate is not None:
                self._pump = asyncio.create_task(self._run_rate(self.rate))
            elif self.realtime:
                self._pump = asyncio.create_task(self._run_clock())
        log.info("AMI simulator listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, reset every client, stop the clock."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._model is not None:
            self._model.set_listener(None)

    async def __aenter__(self) -> AmiSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def model(self) -> CallCentre:
        """The call centre behind a live simulator."""
        if self._model is None:
            raise RuntimeError("a replaying simulator has no model")
        return self._model

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._connections)

    # -- hooks for tests ----------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """The model's current state as plain dicts (see :meth:`CallCentre.truth`)."""
        return self.model.truth()

    def drop_connections(self) -> int:
        """Reset every client connection abruptly (RST); returns how many."""
        dropped = list(self._connections)
        for conn in dropped:
            conn.abort()
        return len(dropped)

    def pause_events(self) -> None:
        """Hold events back (clients see silence); actions are still answered."""
        self._events_paused = True

    def resume_events(self, *, discard: bool = False) -> None:
        """Send the held events (or lose them, like a network outage) and carry on."""
        self._events_paused = False
        held, self._held = self._held, []
        if not discard:
            self._broadcast(held)
        for conn in list(self._connections):
            if conn.replay is not None and conn.replay.streaming:
                self._replay_pump(conn)

    def emit(self, events: Iterable[MessageLike]) -> None:
        """Broadcast arbitrary events to the clients that receive events."""
        self._broadcast(list(events))

    def advance(self, seconds: float) -> None:
        """Fast-forward the model ``seconds`` and send what happened."""
        self.model.run_for(seconds)
        self.flush()

    def flush(self) -> None:
        """Send the model's pending events now."""
        self._flush_scheduled = False
        if self._model is not None and self._model.pending:
            self._broadcast(self._model.drain())

    # -- clocks -------------------------------------------------------------

    def _model_changed(self) -> None:
        self._wake.set()
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    async def _run_clock(self) -> None:
        model = self.model
        while True:
            model.sync()
            self.flush()
            due = model.next_due()
            delay = 1.0 if due is None else min(1.0, max(0.0, due - model.clock()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _run_rate(self, rate: float) -> None:
        # Virtual time: step the model until it produced this tick's share of
        # events, then write them all at once.
        model = self.model
        loop = asyncio.get_running_loop()
        tick = 0.005
        last = loop.time()
        credit = 0.0
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            # At most 0.1 s of backlog: a stalled loop must not turn into one
            # huge burst that would look like a slow reader.
            credit = min(credit + (now - last) * rate, max(rate * 0.1, 1.0))
            last = now
            if self._events_paused:
                continue
            while model.pending < credit and model.step():
                pass
            batch = model.drain()
            credit -= len(batch)
            self._broadcast(batch)

    # -- output -------------------------------------------------------------

    def _broadcast(self, events: Sequence[MessageLike]) -> None:
        if not events:
            return
        if self._events_paused:
            self._held.extend(events)
            return
        if self.privileges.read is not None:
            events = [e for e in events if self.privileges.may_read(e)]
        data: bytes | None = None
        for conn in list(self._connections):
            if conn.replay is not None or not conn.wants_events:
                continue
            if conn.mask is None:
                if data is None:
                    data = serialize_many(events)
                conn.send_bytes(data, events=len(events))
            else:
                chosen = [e for e in events if _wanted(e, conn.mask)]
                conn.send(chosen, events=len(chosen))

    # -- action dispatch ----------------------------------------------------

    def _handle(self, conn: _Connection, message: Message) -> None:
        action = header(message, "Action")
        action_id = _action_id(message)
        name = action.lower()
        self.actions_received[action] += 1
        refused = self.privileges.refusal(action)
        if not action:
            conn.send([_reply(action_id, "Error", Message="Missing action in request")])
        elif name == "login":
            self._login(conn, message, action_id)
        elif name == "logoff":
            conn.send([_reply(action_id, "Goodbye", Message="Thanks for all the fish.")])
            conn.close()
        elif not conn.authenticated:
            conn.send([_reply(action_id, "Error", Message="Permission denied")])
        elif refused is not None:
            conn.send([_reply(action_id, "Error", Message=refused)])
        elif name == "ping":
            pong = _reply(action_id, "Success", Ping="Pong", Timestamp=f"{time.time():.6f}")
            conn.send([pong])
        elif name == "events":
            conn.mask = _event_mask(header(message, "EventMask"))
            state = "Off" if conn.mask == _NO_EVENTS else "On"
            conn.send([_reply(action_id, "Success", Events=state)])
        elif conn.replay is not None:
            self._replay_action(conn, name, message, action_id)
        elif name in self._actions:
            conn.send(self._actions[name](message, action_id))
            # Events the action caused follow its response, before anything
            # else is answered (as in e_member_admin).
            self.flush()
        else:
            text = (
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands."
            )
            conn.send([_reply(action_id, "Error", Message=text)])

    def _login(self, conn: _Connection, message: Message, action_id: str | None) -> None:
        user_ok = header(message, "Username").lower() == self.username.lower()
        secret_ok = hmac.compare_digest(header(message, "Secret").encode(), self.secret.encode())
        if not (user_ok and secret_ok):
            # Asterisk answers and then hangs up on a failed login.
            conn.send([_reply(action_id, "Error", Message="Authentication failed")])
            conn.close()
            return
        conn.authenticated = True
        conn.mask = _event_mask(header(message, "Events"))
        conn.send([_reply(action_id, "Success", Message="Authentication accepted")])
        if self.replay is not None:
            self._replay_login(conn)
            return
        uptime = str(self.model.uptime())
        booted: Message = {
            "Event": "FullyBooted",
            "Privilege": "system,all",
            "Uptime": uptime,
            "LastReload": uptime,
            "Status": "Fully Booted",
        }
        if _wanted(booted, conn.mask) and self.privileges.may_read(booted) and conn.wants_events:
            conn.send([booted], events=1)

    # -- live actions -------------------------------------------------------

    def _queue_status(self, message: Message, action_id: str | None) -> list[Message]:
        items = self.model.queue_status(header(message, "Queue"), header(message, "Member"))
        return _list_reply("QueueStatus", action_id, items)

    def _queue_summary(self, message: Message, action_id: str | None) -> list[Message]:
        items = self.model.queue_summary(header(message, "Queue"))
        return _list_reply("QueueSummary", action_id, items)

    def _core_show_channels(self, message: Message, action_id: str | None) -> list[Message]:
        items = self.model.core_show_channels()
        return _list_reply("CoreShowChannels", action_id, items, id_first=True)

    def _device_state_list(self, message: Message, action_id: str | None) -> list[Message]:
        items = [
            {"Event": "DeviceStateChange", "Device": device, "State": state}
            for device, state in self.model.device_states()
        ]
        return _list_reply("DeviceStateList", action_id, items, id_first=True)

    def _queue_add(self, message: Message, action_id: str | None) -> list[Message]:
        queue, interface = header(message, "Queue"), header(message, "Interface")
        if not queue:
            return _error(action_id, "'Queue' not specified.")
        if not interface:
            return _error(action_id, "'Interface' not specified.")
        try:
            penalty = max(0, int(header(message, "Penalty") or "0"))
        except ValueError:
            penalty = 0  # app_queue falls back to 0 on a bad penalty
        try:
            self.model.queue_add(
                queue,
                interface,
                name=header(message, "MemberName"),
                state_interface=header(message, "StateInterface"),
                penalty=penalty,
                paused=_ast_true(header(message, "Paused")),
                reason=header(message, "Reason"),
            )
        except MemberExists:
            return _error(action_id, "Unable to add interface: Already there")
        except NoSuchQueue:
            return _error(action_id, "Unable to add interface to queue: No such queue")
        return _ok(action_id, "Added interface to queue")

    def _queue_remove(self, message: Message, action_id: str | None) -> list[Message]:
        queue, interface = header(message, "Queue"), header(message, "Interface")
        if not queue or not interface:
            return _error(action_id, "Need 'Queue' and 'Interface' parameters.")
        try:
            self.model.queue_remove(queue, interface)
        except NotAMember:
            return _error(action_id, "Unable to remove interface: Not there")
        except NotDynamic:
            return _error(action_id, "Member not dynamic")
        except NoSuchQueue:
            text = "Unable to remove interface from queue: No such queue"
            return _error(action_id, text)
        return _ok(action_id, "Removed interface from queue")

    def _queue_pause(self, message: Message, action_id: str | None) -> list[Message]:
        interface, paused_text = header(message, "Interface"), header(message, "Paused")
        if not interface or not paused_text:
            return _error(action_id, "Need 'Interface' and 'Paused' parameters.")
        paused = _ast_true(paused_text)
        try:
            self.model.queue_pause(
                interface,
                paused,
                queue=header(message, "Queue") or None,
                reason=header(message, "Reason"),
            )
        except InterfaceNotFound:
            return _error(action_id, "Interface not found")
        state = "paused" if paused else "unpaused"
        return _ok(action_id, f"Interface {state} successfully")

    def _queue_penalty(self, message: Message, action_id: str | None) -> list[Message]:
        interface, penalty_text = header(message, "Interface"), header(message, "Penalty")
        if not interface or not penalty_text:
            return _error(action_id, "Need 'Interface' and 'Penalty' parameters.")
        try:
            self.model.queue_penalty(
                interface, int(penalty_text), queue=header(message, "Queue") or None
            )
        except (ValueError, ModelError):
            return _error(action_id, "Invalid interface, queuename or penalty")
        return _ok(action_id, "Interface penalty set successfully")

    def _queue_ringinuse(self, message: Message, action_id: str | None) -> list[Message]:
        interface, value = header(message, "Interface"), header(message, "RingInUse")
        if not interface or not value:
            return _error(action_id, "Need 'Interface' and 'RingInUse' parameters.")
        try:
            self.model.queue_ringinuse(
                interface, _ast_true(value), queue=header(message, "Queue") or None
            )
        except ModelError:
            text = "Invalid interface, queuename, or ringinuse value"
            return _error(action_id, text)
        return _ok(action_id, "Interface ringinuse set successfully")

    def _setvar(self, message: Message, action_id: str | None) -> list[Message]:
        variable = header(message, "Variable")
        if not variable:
            return _error(action_id, "No variable specified")
        match = re.fullmatch(r"DEVICE_STATE\((?P<device>[^)]+)\)", variable, re.IGNORECASE)
        if match:
            try:
                self.model.set_device_state(match["device"], header(message, "Value"))
            except InvalidArgument:
                return _error(action_id, "Failed to set variable")
        return _ok(action_id, "Variable Set")

    def _originate(self, message: Message, action_id: str | None) -> list[Message]:
        match = _ORIGINATE_CHANNEL.match(header(message, "Channel"))
        if match is None or match["queue"] not in self.model.queue_names:
            return _error(action_id, "Originate failed")
        caller = _CALLER_ID.match(header(message, "CallerID"))
        variables = message.get("Variable", [])
        talk: float | None = None
        for variable in [variables] if isinstance(variables, str) else variables:
            name, _, value = variable.partition("=")
            if name.strip().upper() == "TALK":
                with contextlib.suppress(ValueError):
                    talk = float(value)
        try:
            patience = float(header(message, "Data") or "60")
        except ValueError:
            patience = 60.0
        self.model.originate(
            match["queue"],
            caller_num=caller["num"] if caller else None,
            caller_name=caller["name"] if caller else None,
            patience=patience,
            talk=talk,
        )
        return _ok(action_id, "Originate successfully queued")

    # -- replay ---------------------------------------------------------------

    def _replay_login(self, conn: _Connection) -> None:
        assert self.replay is not None
        session = self.replay.session()
        conn.replay = session
        events = [e for e in session.login_events() if self.privileges.may_read(e)]
        if conn.wants_events:
            conn.send(events, events=len(events))
        self._replay_next(conn)

    def _replay_action(
        self, conn: _Connection, name: str, message: Message, action_id: str | None
    ) -> None:
        session = conn.replay
        assert session is not None
        if name in (a.lower() for a in SNAPSHOT_ACTIONS):
            conn.send(session.answer(name, message))
            self._replay_next(conn)
        else:
            conn.send(_error(action_id, "Replay: action not supported"))

    def _replay_next(self, conn: _Connection) -> None:
        session = conn.replay
        assert session is not None and self.replay is not None
        if session.must_drop:
            session.mark_dropped()
            conn.close()
        elif session.ready and self._loop is not None:
            # Stream after a short settle, so requests sent in the same burst
            # as the awaited ones still get their startup answer.
            session.scheduled = True
            self._loop.call_later(self.replay.options.settle, self._replay_start, conn)

    def _replay_start(self, conn: _Connection) -> None:
        if conn.replay is not None and not conn.closed:
            conn.replay.begin()
            self._replay_pump(conn)

    def _replay_pump(self, conn: _Connection) -> None:
        session = conn.replay
        assert session is not None
        while not conn.closed and not self._events_paused:
            if conn.paused:
                conn.on_writable = lambda: self._replay_pump(conn)
                return
            batch = session.next_batch()
            if not batch:
                break
            readable = [e for e in batch if self.privileges.may_read(e)]
            if conn.wants_events:
                conn.send(readable, events=len(readable))
        if session.must_drop and not conn.closed:
            session.mark_dropped()
            conn.close()


def _live_config(
    rate: float | None,
    operators: int | None,
    queues: int | None,
    arrival_rate: float | None,
    seed: int | None,
) -> CentreConfig:
    if arrival_rate is None:
        # Enough load for a lively demo; in rate mode virtual time makes the
        # absolute value irrelevant, only the mix of events matters.
        arrival_rate = 0.25 if operators is None else max(0.25, operators / 40)
    traffic = TrafficConfig(
        arrival_rate=arrival_rate, mean_patience=60.0, mean_talk=20.0, pause_rate=2.0
    )
    config = (
        CentreConfig.lab(traffic)
        if operators is None
        else CentreConfig.generated(operators, queues or 1, traffic=traffic, seed=seed or 0)
    )
    # Live traffic shows Asterisk's end-of-call races now and then, as a real PBX does.
    return dataclasses.replace(config, quirks=0.1)


async def serve(
    host: str = "127.0.0.1",
    port: int = 5038,
    *,
    username: str,
    secret: str,
    rate: float | None = None,
    replay_path: str | Path | None = None,
    seed: int | None = None,
    operators: int | None = None,
    queues: int | None = None,
    arrival_rate: float | None = None,
    privileges: Privileges | None = None,
    ready: Callable[[AmiSimulator], None] | None = None,
) -> None:
    """Run a simulator until cancelled (the entry point for a CLI).

    Live mode runs the lab model (or ``operators`` operators over ``queues``
    queues) with generated traffic; ``rate`` switches to virtual time at
    about that many events per second; ``replay_path`` (a trace name or a
    ``.jsonl`` path) replays a recording instead. ``privileges``: the manager
    user's rights (default all). ``ready`` is called once the port is bound.
    """
    if replay_path is not None:
        sim = AmiSimulator(
            host=host,
            port=port,
            username=username,
            secret=secret,
            replay=Replay(Trace.load(replay_path)),
            privileges=privileges,
        )
    else:
        config = _live_config(rate, operators, queues, arrival_rate, seed)
        sim = AmiSimulator(
            host=host,
            port=port,
            username=username,
            secret=secret,
            model=CallCentre(config, seed=seed),
            rate=rate,
            privileges=privileges,
        )
    async with sim:
        if ready is not None:
            ready(sim)
        await asyncio.Event().wait()
