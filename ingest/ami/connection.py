"""One AMI session at a time, forever: connect, log in, heartbeat, reconnect.

panoramisk stays the AMI client, with three changes made here:
- its own reconnect loop (an unguarded `call_later` that `close()` cannot
  cancel) is replaced by ours: capped exponential backoff with jitter;
- its pinger (which ignores the replies, so a dead peer is never noticed) is
  replaced by a heartbeat that closes the session when a Ping goes unanswered;
- the protocol reports the first response of a watched action, so a snapshot's
  place in the event stream is known exactly (see `ingest.runners.ami_runner`);
- the consumer can hold the reading (`AmiConnection.hold_reading`): backpressure.
  A Ping unanswered while reading was held, or while bytes kept arriving,
  proves nothing about the peer (its answer waits unread behind the events):
  only silence ends the session.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager

from ingest.ami.action_ids import new_action_id
from ingest.ami.message import AmiMessage
from ingest.ami.protocol import ProtocolStats, SafeAMIProtocol
from ingest.ami.relevance import DEFAULT_EVENT_CLASSES, RawEventFilter
from ingest.logs import get_logger
from ingest.tasks import cancel_and_wait

log = get_logger("AmiService")

# Actions never resent after a reconnect: a stale snapshot or ping is useless.
FORGETTABLE_ACTIONS = (
    "ping",
    "login",
    "logoff",
    "queuestatus",
    "queuesummary",
    "coreshowchannels",
    "devicestatelist",
)


_MAX_ROUTES = 1024
"""Event names whose matching callbacks `_Manager.dispatch` remembers."""


class LoginRefused(Exception):
    """Asterisk answered the Login with an error (wrong user or secret)."""


class SessionClosed(ConnectionError):
    """The session ended while an action was waiting for its answer."""


class _WatchingProtocol(SafeAMIProtocol):
    """Tells the manager about every message that answers an action, before resolving it."""

    def on_answer(self, message: Any) -> None:
        watcher = getattr(self.factory, "on_action_message", None)
        if watcher is not None:
            watcher(message)


class _Manager(Manager):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk's Manager without its own reconnect loop and pinger."""

    def __init__(self, *, on_lost: Callable[[Any], None], **config: Any) -> None:
        self._routes: dict[str, tuple[list[str], list[Any]]] = {}
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        super().__init__(**config)
        self._on_lost = on_lost
        self.on_action_message: Callable[[Any], None] | None = None

    def connection_made(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # the opener sees the failure and decides when to retry
        super().connection_made(future)

    def register_event(self, pattern: str, callback: Any = None) -> Any:
        self._routes.clear()
        return super().register_event(pattern, callback)

    def dispatch(self, event: Any) -> list[str]:
        """panoramisk's dispatch, with the patterns matching an event name remembered
        (it matched every registered pattern's regex against every event)."""
        event.manager = self
        name = event.event
        route = self._routes.get(name)
        if route is None:
            patterns = [pattern for pattern, regexp in self.patterns if regexp.match(name)]
            route = (patterns, [cb for pattern in patterns for cb in self.callbacks[pattern]])
            if len(self._routes) < _MAX_ROUTES:  # names come from the peer: bounded
                self._routes[name] = route
        for callback in route[1]:
            result = callback(self, event)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                task = asyncio.ensure_future(result, loop=self.loop)
                self._callback_tasks.add(task)  # held until done, as asyncio asks
                task.add_done_callback(self._callback_tasks.discard)
        return route[0]

    def ping(self) -> None:
        """Disabled: the session's heartbeat checks the replies."""

    def connection_lost(self, exc: Any) -> None:
        self._connected = False
        pinger: asyncio.TimerHandle | None = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            self.pinger = None
        self._on_lost(exc)


@dataclass(frozen=True, slots=True)
class AmiEndpoint:
    """Where and as whom to log in."""

    host: str
    port: int
    username: str
    secret: str
    events: str = DEFAULT_EVENT_CLASSES
    """The Login ``Events:`` mask: ``on`` (all), ``off`` or event classes."""

    def __repr__(self) -> str:  # never the secret
        return f"AmiEndpoint({self.host}:{self.port} as {self.username}, events {self.events})"


class AmiSession:
    """A logged-in connection: send actions, wait for its end."""

    def __init__(self, manager: _Manager, closed: asyncio.Future[str]) -> None:
        self._manager = manager
        self.closed = closed

    async def send(self, action: Mapping[str, str], timeout: float = 10.0) -> Any:
        """Send an action; its response (a list for EventList actions).

        Without an ActionID it gets one of ours (`ingest.ami.action_ids`). Raises
        SessionClosed when the session ends first, TimeoutError after `timeout`.
        """
        if self.closed.done():
            raise SessionClosed("AMI session closed")
        request = dict(action)
        if not any(key.lower() == "actionid" for key in request):
            request["ActionID"] = new_action_id()
        pending = self._manager.send_action(request)
        done, _ = await asyncio.wait(
            {pending, self.closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if pending in done:
            return pending.result()
        pending.cancel()
        if self.closed in done:
            raise SessionClosed("AMI session closed")
        raise TimeoutError(f"no answer to {action.get('Action')} within {timeout:g} s")

    def watch_action_messages(self, watcher: Callable[[Any], None] | None) -> None:
        """Call `watcher` with every message that answers an action, in stream order."""
        self._manager.on_action_message = watcher

    def close(self, reason: str) -> None:
        """End the session (the connection loop reconnects)."""
        if not self.closed.done():
            self.closed.set_result(reason)
        self._manager.close()


class AmiConnection:
    """Keeps one AMI session alive: the caller's `on_session` runs for each one."""

    def __init__(
        self,
        endpoint: AmiEndpoint,
        *,
        on_event: Callable[[AmiMessage], None],
        on_session: Callable[[AmiSession], Coroutine[Any, Any, None]],
        on_state: Callable[[bool, str | None], None],
        stats: ProtocolStats | None = None,
        ping_interval: float = 10.0,
        login_timeout: float = 10.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        prefilter: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.stats = stats if stats is not None else ProtocolStats()
        self.event_filter = RawEventFilter() if prefilter else None
        """Drops unused events from their raw ``Event:`` line; counts survive reconnects."""
        self._on_event = on_event
        self._on_session = on_session
        self._on_state = on_state
        self._ping_interval = ping_interval
        self._login_timeout = login_timeout
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self.reconnects = 0
        self._reading_held = False
        self.reading_holds = 0
        """Times `hold_reading` took effect (the heartbeat's proof of a pause)."""
        self._protocol: SafeAMIProtocol | None = None

    def hold_reading(self) -> None:
        """Stop handling and reading AMI messages (this session and the next ones) until
        `release_reading`: the socket fills and TCP makes Asterisk wait."""
        if self._reading_held:
            return
        self._reading_held = True
        self.reading_holds += 1
        if self._protocol is not None:
            self._protocol.hold()

    def release_reading(self) -> None:
        """Handle and read again."""
        if not self._reading_held:
            return
        self._reading_held = False
        if self._protocol is not None:
            self._protocol.release()

    @property
    def reading_held(self) -> bool:
        """Whether `hold_reading` is in force."""
        return self._reading_held

    async def run(self) -> None:
        """Connect, serve the session, reconnect — until cancelled."""
        delay = self._initial_backoff
        first = True
        while True:
            if not first:
                self.reconnects += 1
            first = False
            try:
                session = await self._open()
            except LoginRefused as exc:
                log.error("AMI login refused for %s: %s", self.endpoint.username, exc)
                self._on_state(False, f"login refused: {exc}")
                delay = self._max_backoff
            except (OSError, TimeoutError, SessionClosed) as exc:
                log.warning(
                    "AMI connection to %s:%d failed: %s",
                    self.endpoint.host,
                    self.endpoint.port,
                    _reason(exc),
                )
                self._on_state(False, f"connection failed: {_reason(exc)}")
            else:
                delay = self._initial_backoff
                reason = await self._serve(session)
                log.warning("AMI connection lost: %s", reason)
                self._on_state(False, f"connection lost: {reason}")
            wait = min(delay, self._max_backoff) * (0.5 + random.random() / 2)
            await asyncio.sleep(wait)
            delay = min(delay * 2, self._max_backoff)

    async def _open(self) -> AmiSession:
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[str] = loop.create_future()

        def lost(exc: Any) -> None:
            if not closed.done():
                closed.set_result(_reason(exc) if exc is not None else "closed by peer")

        endpoint = self.endpoint
        log.info("Connecting to AMI %s:%d as %s", endpoint.host, endpoint.port, endpoint.username)
        manager = _Manager(
            on_lost=lost,
            host=endpoint.host,
            port=endpoint.port,
            username=endpoint.username,
            secret=endpoint.secret,
            loop=loop,
            events=endpoint.events,
            ping_delay=10**9,
            protocol_factory=functools.partial(
                _WatchingProtocol, stats=self.stats, event_filter=self.event_filter
            ),
            forgetable_actions=FORGETTABLE_ACTIONS,
        )
        manager.register_event("*", lambda _manager, message: self._on_event(message))
        session = AmiSession(manager, closed)
        try:
            async with asyncio.timeout(self._login_timeout):
                await manager.connect()
                login = manager.authenticated_future
                if login is None:
                    raise SessionClosed("no login sent")
                done, _ = await asyncio.wait({login, closed}, return_when=asyncio.FIRST_COMPLETED)
                if login not in done:
                    raise SessionClosed(closed.result())
                answer = login.result()
        except BaseException:
            session.close("login failed")
            raise
        if not getattr(answer, "success", False):
            session.close("login refused")
            raise LoginRefused(str(answer.get("Message") or "authentication failed"))
        log.info("AMI connected")
        protocol = manager.protocol
        if isinstance(protocol, SafeAMIProtocol):
            self._protocol = protocol
            if self._reading_held:
                protocol.hold()
        self._on_state(True, None)
        return session

    async def _serve(self, session: AmiSession) -> str:
        heartbeat = asyncio.create_task(self._heartbeat(session), name="ami-heartbeat")
        handler: asyncio.Task[None] = asyncio.create_task(
            self._on_session(session), name="ami-session"
        )
        try:
            return await session.closed
        finally:
            self._protocol = None
            try:
                await cancel_and_wait(heartbeat, handler)
            finally:
                session.close("session ended")

    async def _heartbeat(self, session: AmiSession) -> None:
        while not session.closed.done():
            await asyncio.sleep(self._ping_interval)
            holds, received = self.reading_holds, self.stats.bytes_received
            try:
                await session.send({"Action": "Ping"}, timeout=self._ping_interval)
            except SessionClosed:
                return
            except Exception as exc:
                if (
                    self._reading_held
                    or self.reading_holds != holds
                    or self.stats.bytes_received != received
                ):
                    continue  # the peer talks, or we stopped listening: its answer may be unread
                # No answer while we read: the peer or the path is dead.
                session.close(f"no answer to Ping ({_reason(exc)})")
                return


def _reason(exc: BaseException | Any) -> str:
    if isinstance(exc, BaseException):
        text = str(exc)
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    event = getattr(exc, "get", None)
    if callable(event) and event("Event"):
        return f"Asterisk sent {event('Event')}"
    return str(exc)
