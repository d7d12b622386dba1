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

The server listens, keeps the set of connections and broadcasts the events;
each client is a :class:`~simulator.connection.Connection` (login, its
actions, its output), and what the live actions do and answer is
:mod:`~simulator.actions`.

``privileges`` serves a manager user with fewer rights than ``all``
(:mod:`~simulator.privileges`): refused actions are answered as
Asterisk answers them, and events the user may not read are not sent.

A model that keeps a queue_log (:mod:`~simulator.queue_log`) has its lines
appended to the file every ``queue_log_interval`` seconds, in a worker
thread, and at :meth:`AmiSimulator.stop`.

``realtime_members`` (and ``realtime_update``) make the model's realtime
members follow a ``queue_members`` table as app_queue does: reloaded silently
when an action uses their queue, changes written back
(:mod:`~simulator.realtime`).

Writes never block the loop. A client that reads too slowly is disconnected,
as Asterisk's ``writetimeout`` does: when its pending output stays above
``high_water`` bytes for ``write_timeout`` seconds, or ever exceeds
``max_buffer`` bytes. Replayed traces are paced by the reader instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ingest.ami.message import AmiMessage, AmiMessageDict
from simulator.actions import LIVE_ACTIONS
from simulator.centre import CallCentre
from simulator.config import CentreConfig, TrafficConfig
from simulator.connection import Connection, wanted
from simulator.privileges import Privileges
from simulator.realtime import RealtimeLink, RealtimeMembers, RealtimeUpdate
from simulator.replay import Replay, Trace
from simulator.wire import serialize_many

log = logging.getLogger(__name__)


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
        realtime_members: RealtimeMembers | None = None,
        realtime_update: RealtimeUpdate | None = None,
        queue_log_interval: float = 1.0,
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
        self.realtime_link = RealtimeLink(realtime_members, realtime_update)
        """The realtime member source and write-back (:mod:`simulator.realtime`)."""
        self.actions_received: Counter[str] = Counter()
        """Actions received from clients, by name as sent."""
        self.events_sent = 0
        """Event messages written to clients, summed over connections."""
        self.slow_disconnects = 0
        """Clients disconnected for reading too slowly."""
        self._connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._pump: asyncio.Task[None] | None = None
        self.queue_log_interval = queue_log_interval
        self._queue_log_flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._flush_scheduled = False
        self._events_paused = False
        self._held: list[AmiMessage] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Listen, and start the clock (live mode)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._server = await loop.create_server(
            lambda: Connection(self), self.host, self._port, reuse_address=True
        )
        if self._model is not None:
            self._model.set_listener(self._model_changed)
            self.realtime_link.attach(self._model)
            if self.rate is not None:
                self._pump = asyncio.create_task(self._run_rate(self.rate))
            elif self.realtime:
                self._pump = asyncio.create_task(self._run_clock())
            if self._model.queue_log is not None:
                self._queue_log_flusher = asyncio.create_task(self._flush_queue_log_often())
        log.info("AMI simulator listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, reset every client, stop the clock."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._queue_log_flusher is not None:
            self._queue_log_flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._queue_log_flusher
            self._queue_log_flusher = None
        await self.flush_queue_log()
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._model is not None:
            self._model.set_listener(None)
            self._model.set_realtime_writer(None)

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

    @property
    def events_paused(self) -> bool:
        """Whether events are held back (:meth:`pause_events`)."""
        return self._events_paused

    # -- what a connection asks of its server (connection.SessionHost) -------

    def prepare(self, name: str, message: AmiMessageDict) -> Awaitable[None] | None:
        """What must happen before live action ``name`` runs: a realtime member reload.

        None when nothing is to be awaited (no source, or it answered at once).
        """
        if self._model is None:
            return None
        return self.realtime_link.prepare(self._model, name, message)

    def answer(
        self, name: str, message: AmiMessageDict, action_id: str | None
    ) -> list[AmiMessageDict] | None:
        """The answer to live action ``name`` (lower case); None for an unknown action.

        The handlers are :data:`~simulator.actions.LIVE_ACTIONS`; a test's
        Asterisk overrides this to misbehave. Realtime rows read by
        :meth:`prepare` are applied first.
        """
        if self._model is not None:
            self.realtime_link.commit(self._model)
        handler = LIVE_ACTIONS.get(name)
        return None if handler is None else handler(self.model, message, action_id)

    def attach(self, conn: Connection) -> None:
        """A client connected (called by the connection)."""
        self._connections.add(conn)

    def detach(self, conn: Connection) -> None:
        """A client is gone (called by the connection)."""
        self._connections.discard(conn)

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
                conn.pump_replay()

    def emit(self, events: Iterable[AmiMessage]) -> None:
        """Broadcast arbitrary events to the clients that receive events."""
        self._broadcast(list(events))

    async def realtime_settled(self) -> None:
        """Wait until the realtime row changes handed to ``realtime_update`` are written."""
        await self.realtime_link.settled()

    async def reload_realtime(self, queues: Iterable[str] | None = None) -> None:
        """Reload realtime members now, as the next QueueStatus naming the queues would."""
        names = self.model.queue_names if queues is None else list(queues)
        await self.realtime_link.read(names)
        self.realtime_link.commit(self.model)
        self.flush()

    def advance(self, seconds: float) -> None:
        """Fast-forward the model ``seconds`` and send what happened."""
        self.model.run_for(seconds)
        self.flush()

    def flush(self) -> None:
        """Send the model's pending events now."""
        self._flush_scheduled = False
        if self._model is not None and self._model.pending:
            self._broadcast(self._model.drain())

    async def flush_queue_log(self) -> int:
        """Append the model's buffered queue_log lines to its file (in a worker thread)."""
        writer = self._model.queue_log if self._model is not None else None
        return 0 if writer is None else await writer.flush_async()

    async def _flush_queue_log_often(self) -> None:
        while True:
            await asyncio.sleep(self.queue_log_interval)
            await self.flush_queue_log()

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

    def _broadcast(self, events: Sequence[AmiMessage]) -> None:
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
                chosen = [e for e in events if wanted(e, conn.mask)]
                conn.send(chosen, events=len(chosen))


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
    model: CallCentre | None = None,
    realtime_members: RealtimeMembers | None = None,
    realtime_update: RealtimeUpdate | None = None,
    queue_log: str | Path | None = None,
    timestamps: bool = False,
) -> None:
    """Run a simulator until cancelled (the entry point for a CLI).

    Live mode runs the lab model (or ``operators`` operators over ``queues``
    queues) with generated traffic; ``rate`` switches to virtual time at
    about that many events per second; ``replay_path`` (a trace name or a
    ``.jsonl`` path) replays a recording instead. ``privileges``: the manager
    user's rights (default all). ``ready`` is called once the port is bound.
    ``model`` serves that call centre instead (e.g. :func:`simulator.from_db.centre_from_db`'s),
    with ``realtime_members``/``realtime_update`` keeping its realtime members in
    step with the database (:func:`simulator.from_db.realtime_members`).
    ``queue_log``: append Asterisk's queue_log of the live model to that file;
    ``timestamps``: events carry ``Timestamp:`` (both ignored by a replay).
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
        if model is None:
            model = CallCentre(_live_config(rate, operators, queues, arrival_rate, seed), seed=seed)
        if queue_log is not None:
            model.set_queue_log(queue_log)
        if timestamps:
            model.timestamps = True
        sim = AmiSimulator(
            host=host,
            port=port,
            username=username,
            secret=secret,
            model=model,
            rate=rate,
            privileges=privileges,
            realtime_members=realtime_members,
            realtime_update=realtime_update,
        )
    async with sim:
        if ready is not None:
            ready(sim)
        await asyncio.Event().wait()
