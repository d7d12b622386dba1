"""One AMI client session of the simulator: login, the session's actions, its output.

A :class:`Connection` parses what its client sends and answers the session
actions itself (Login, Logoff, Ping, Events, refusals by privilege); a live
action's answer comes from its server (:meth:`SessionHost.answer`), and when
the server replays a trace the connection streams its own
:class:`~simulator.replay.ReplaySession`. It writes without blocking the loop
and disconnects a client that reads too slowly.

A live action may first need something awaited (:meth:`SessionHost.prepare`:
realtime members read from a database); the session then answers it when
that is done, and holds its later actions until then, so a client still gets
its answers in the order it asked, as from Asterisk.

It knows its server only through :class:`SessionHost` (what it reads, counts
and asks of it); :class:`~simulator.server.AmiSimulator` is one.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, cast

from ingest.ami.message import AmiMessage, AmiMessageDict
from simulator.actions import action_id_of, ast_false, ast_true, error, reply
from simulator.centre import CallCentre
from simulator.events import Event, stamped
from simulator.privileges import Privileges
from simulator.replay import SNAPSHOT_ACTIONS, Replay, ReplaySession
from simulator.wire import (
    BANNER,
    MessageParser,
    WireError,
    header,
    serialize_many,
)

log = logging.getLogger(__name__)

NO_EVENTS: frozenset[str] = frozenset()
"""The event mask of a session that receives no events."""


def event_mask(value: str) -> frozenset[str] | None:
    """Classes a session receives: ``None`` = all, empty = none (Asterisk's set_eventmask)."""
    text = value.strip().lower()
    if not text or ast_true(text) or text == "all":
        return None
    if ast_false(text) or text == "none":
        return NO_EVENTS
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def wanted(event: AmiMessage, mask: frozenset[str] | None) -> bool:
    """Whether a session with event mask ``mask`` gets ``event``."""
    if mask is None:
        return True
    privilege = header(event, "Privilege")
    return not privilege or bool(mask & set(privilege.split(",")))


class SessionHost(Protocol):
    """What a connection needs from its server: settings, counters, and a few calls."""

    username: str
    secret: str
    privileges: Privileges
    replay: Replay | None
    """The trace every session replays; None for a live server."""
    write_timeout: float | None
    max_buffer: int
    high_water: int
    send_buffer: int | None
    actions_received: Counter[str]
    events_sent: int
    slow_disconnects: int

    @property
    def model(self) -> CallCentre:
        """The live call centre the actions act on."""
        ...

    @property
    def events_paused(self) -> bool:
        """Whether events are held back (a test's outage)."""
        ...

    def attach(self, conn: Connection) -> None:
        """A connection is open."""
        ...

    def detach(self, conn: Connection) -> None:
        """A connection is gone."""
        ...

    def prepare(self, name: str, message: AmiMessageDict) -> Awaitable[None] | None:
        """What to await before answering live action ``name`` (lower case), if anything."""
        ...

    def answer(
        self, name: str, message: AmiMessageDict, action_id: str | None
    ) -> list[AmiMessageDict] | None:
        """The answer to live action ``name`` (lower case); None for an unknown action."""
        ...

    def flush(self) -> None:
        """Send the events the model produced so far."""
        ...


class Connection(asyncio.Protocol):
    """One AMI client session."""

    def __init__(self, host: SessionHost) -> None:
        self._host = host
        self.transport: asyncio.Transport | None = None
        self._parser = MessageParser()
        self.authenticated = False
        self.mask: frozenset[str] | None = NO_EVENTS
        self.replay: ReplaySession | None = None
        self.closed = False
        self.paused = False
        self.on_writable: Callable[[], None] | None = None
        self._stall: asyncio.TimerHandle | None = None
        self._backlog: deque[AmiMessageDict] = deque()
        """Actions received while an earlier one waits for :meth:`SessionHost.prepare`."""
        self._preparing: asyncio.Future[None] | None = None

    @property
    def wants_events(self) -> bool:
        return self.authenticated and self.mask != NO_EVENTS and not self.closed

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        host = self._host
        self.transport.set_write_buffer_limits(high=host.high_water)
        sock = self.transport.get_extra_info("socket")
        if host.send_buffer is not None and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, host.send_buffer)
        self.transport.write(BANNER)
        host.attach(self)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._parser.feed(data)
        except WireError:
            log.warning("AMI simulator: unparseable input, closing the connection")
            self.abort()
            return
        self._backlog.extend(messages)
        self._run_backlog()

    def _run_backlog(self) -> None:
        while self._backlog and self._preparing is None and not self.closed:
            self._handle(self._backlog.popleft())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._stall is not None:
            self._stall.cancel()
        if self._preparing is not None:
            self._preparing.cancel()
        self._host.detach(self)

    def pause_writing(self) -> None:
        self.paused = True
        timeout = self._host.write_timeout
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

    def send(self, messages: Sequence[AmiMessage], *, events: int = 0) -> None:
        if messages:
            self.send_bytes(serialize_many(messages), events=events)

    def send_bytes(self, data: bytes, *, events: int = 0) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return
        transport.write(data)
        self._host.events_sent += events
        if self.replay is None and transport.get_write_buffer_size() > self._host.max_buffer:
            self._slow("output buffer over max_buffer")

    def _stalled(self) -> None:
        self._stall = None
        if self.paused and not self.closed:
            self._slow("no progress for write_timeout")

    def _slow(self, why: str) -> None:
        log.warning("AMI simulator: disconnecting a slow reader (%s)", why)
        self._host.slow_disconnects += 1
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

    # -- actions --------------------------------------------------------------

    def _handle(self, message: AmiMessageDict) -> None:
        host = self._host
        action = header(message, "Action")
        action_id = action_id_of(message)
        name = action.lower()
        host.actions_received[action] += 1
        refused = host.privileges.refusal(action)
        if not action:
            self.send([reply(action_id, "Error", Message="Missing action in request")])
        elif name == "login":
            self._login(message, action_id)
        elif name == "logoff":
            self.send([reply(action_id, "Goodbye", Message="Thanks for all the fish.")])
            self.close()
        elif not self.authenticated:
            self.send([reply(action_id, "Error", Message="Permission denied")])
        elif refused is not None:
            self.send([reply(action_id, "Error", Message=refused)])
        elif name == "ping":
            pong = reply(action_id, "Success", Ping="Pong", Timestamp=f"{time.time():.6f}")
            self.send([pong])
        elif name == "events":
            self.mask = event_mask(header(message, "EventMask"))
            state = "Off" if self.mask == NO_EVENTS else "On"
            self.send([reply(action_id, "Success", Events=state)])
        elif self.replay is not None:
            self._replay_action(name, message, action_id)
        elif (pending := host.prepare(name, message)) is not None:
            future = asyncio.ensure_future(pending)
            self._preparing = future
            future.add_done_callback(lambda done: self._prepared(done, message, action_id))
        else:
            self._live_action(message, action_id)

    def _prepared(
        self, done: asyncio.Future[None], message: AmiMessageDict, action_id: str | None
    ) -> None:
        self._preparing = None
        if done.cancelled() or self.closed:
            return
        if (exc := done.exception()) is not None:
            log.error("AMI simulator: preparing %s failed: %r", header(message, "Action"), exc)
        self._live_action(message, action_id)
        self._run_backlog()

    def _live_action(self, message: AmiMessageDict, action_id: str | None) -> None:
        host = self._host
        action = header(message, "Action")
        if (answer := host.answer(action.lower(), message, action_id)) is not None:
            self.send(answer)
            # Events the action caused follow its response, before anything
            # else is answered (as in e_member_admin).
            host.flush()
        else:
            text = (
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands."
            )
            self.send([reply(action_id, "Error", Message=text)])

    def _login(self, message: AmiMessageDict, action_id: str | None) -> None:
        host = self._host
        user_ok = header(message, "Username").lower() == host.username.lower()
        secret_ok = hmac.compare_digest(header(message, "Secret").encode(), host.secret.encode())
        if not (user_ok and secret_ok):
            # Asterisk answers and then hangs up on a failed login.
            self.send([reply(action_id, "Error", Message="Authentication failed")])
            self.close()
            return
        self.authenticated = True
        self.mask = event_mask(header(message, "Events"))
        self.send([reply(action_id, "Success", Message="Authentication accepted")])
        if host.replay is not None:
            self._replay_login(host.replay)
            return
        model = host.model
        uptime = str(model.uptime())
        fields: Event = {
            "Event": "FullyBooted",
            "Privilege": "system,all",
            "Uptime": uptime,
            "LastReload": uptime,
            "Status": "Fully Booted",
        }
        # A manager event like the model's: stamped too under timestampevents.
        booted: AmiMessageDict = dict(stamped(fields, model.now) if model.timestamps else fields)
        if wanted(booted, self.mask) and host.privileges.may_read(booted) and self.wants_events:
            self.send([booted], events=1)

    # -- replay ---------------------------------------------------------------

    def _replay_login(self, replay: Replay) -> None:
        session = replay.session()
        self.replay = session
        events = [
            e
            for e in session.login_events()
            if self._host.privileges.may_read(e) and wanted(e, self.mask)
        ]
        if self.wants_events:
            self.send(events, events=len(events))
        self._replay_next()

    def _replay_action(self, name: str, message: AmiMessageDict, action_id: str | None) -> None:
        session = self.replay
        assert session is not None
        if name in (a.lower() for a in SNAPSHOT_ACTIONS):
            self.send(session.answer(name, message))
            self._replay_next()
        else:
            self.send(error(action_id, "Replay: action not supported"))

    def _replay_next(self) -> None:
        session, replay = self.replay, self._host.replay
        assert session is not None and replay is not None
        if session.must_drop:
            session.mark_dropped()
            self.close()
        elif session.ready:
            # Stream after a short settle, so requests sent in the same burst
            # as the awaited ones still get their startup answer.
            session.scheduled = True
            asyncio.get_running_loop().call_later(replay.options.settle, self._replay_start)

    def _replay_start(self) -> None:
        if self.replay is not None and not self.closed:
            self.replay.begin()
            self.pump_replay()

    def pump_replay(self) -> None:
        """Stream the replay's next events while the client keeps up (and events flow)."""
        session = self.replay
        assert session is not None
        host = self._host
        while not self.closed and not host.events_paused:
            if self.paused:
                self.on_writable = self.pump_replay
                return
            batch = session.next_batch()
            if not batch:
                break
            # As Asterisk: the user's read classes, and the session's Login mask.
            readable = [e for e in batch if host.privileges.may_read(e) and wanted(e, self.mask)]
            if self.wants_events:
                self.send(readable, events=len(readable))
        if session.must_drop and not self.closed:
            session.mark_dropped()
            self.close()
