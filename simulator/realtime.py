"""Realtime members for a live simulator: reloaded from a source, written back to it.

In Asterisk a realtime queue's members are the rows of ``queue_members``. A row
inserted or deleted behind Asterisk's back changes nothing until the queue is
next used — ``QueueStatus``/``QueueSummary`` naming it (or all realtime queues,
without ``Queue``), ``QueuePause``, ``QueuePenalty``, ``QueueAdd``,
``QueueMemberRingInUse`` — and then app_queue reloads the queue's rows without
any QueueMemberAdded/QueueMemberRemoved. What QueuePause, QueuePenalty and
QueueMemberRingInUse change on a realtime member it writes back to the row.

:class:`RealtimeLink` does both for :class:`~simulator.server.AmiSimulator`:

* ``members(queue)`` gives the queue's rows as :class:`~simulator.config.MemberSetup`
  (their ``membership`` is ignored), or None when the queue has no realtime
  members to load (it is then left alone; an empty list removes its realtime
  members). It may be a plain function or return an awaitable (a database
  read, :func:`simulator.from_db.realtime_members`).
* ``update(queue, interface, fields)`` receives the changed columns
  (``paused``/``reason_paused``, ``penalty``, ``ringinuse``, values as
  app_queue writes them). Plain or awaitable: awaitable writes run one after
  the other, and the next reload waits for them, so a reload never reads a
  row older than what the simulator wrote.

A failing source or writer is logged; the members stay as they were.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from ingest.ami.message import AmiMessage
from simulator.centre import CallCentre
from simulator.config import MemberSetup
from simulator.errors import ModelError
from simulator.wire import header

log = logging.getLogger(__name__)

MemberRows = Sequence[MemberSetup] | None
"""A queue's ``queue_members`` rows, or None: not a realtime queue, leave it alone."""

RealtimeMembers = Callable[[str], MemberRows | Awaitable[MemberRows]]
"""``members(queue)`` → the queue's rows (or an awaitable of them)."""

RealtimeUpdate = Callable[[str, str, Mapping[str, str]], Awaitable[None] | None]
"""``update(queue, interface, fields)``: write a realtime member's changed columns."""

RELOADING_ACTIONS = frozenset(
    {
        "queuestatus",
        "queuesummary",
        "queuepause",
        "queuepenalty",
        "queueadd",
        "queuememberringinuse",
    }
)
"""Actions before which app_queue reloads the realtime queue they name (all without ``Queue``)."""


class RealtimeLink:
    """The realtime member source and write-back of one simulator (both optional)."""

    def __init__(
        self, members: RealtimeMembers | None = None, update: RealtimeUpdate | None = None
    ) -> None:
        self.members = members
        self.update = update
        self._writes: set[asyncio.Future[None]] = set()
        self._last_write: asyncio.Future[None] | None = None
        self._staged: list[tuple[str, list[MemberSetup]]] = []

    def attach(self, model: CallCentre) -> None:
        """Send ``model``'s realtime row changes to :attr:`update` (if there is one)."""
        model.set_realtime_writer(self._write if self.update is not None else None)

    def prepare(
        self, model: CallCentre, action: str, message: AmiMessage
    ) -> Awaitable[None] | None:
        """Read the rows ``action`` (lower case) makes app_queue reload, before it runs.

        Read at once when the source answers at once and no write is pending;
        otherwise returns what to await first. Either way the rows are applied
        by :meth:`commit`, right before the action runs, so what the reload
        emits follows the previous answers and precedes the action's events.
        """
        if self.members is None or action not in RELOADING_ACTIONS:
            return None
        named = header(message, "Queue")
        queues = [q for q in ([named] if named else model.queue_names) if q in model.queue_names]
        if not queues:
            return None
        if self._writes:
            return self._read_later(queues)
        for i, queue in enumerate(queues):
            rows = self._read(queue)
            if inspect.isawaitable(rows):
                return self._read_later(queues[i + 1 :], first=(queue, rows))
            self._stage(queue, rows)
        return None

    def commit(self, model: CallCentre) -> None:
        """Apply the rows read so far (:meth:`prepare`, :meth:`read`) to ``model``."""
        staged, self._staged = self._staged, []
        for queue, rows in staged:
            if queue not in model.queue_names:
                continue
            try:
                model.reload_realtime(queue, rows)
            except ModelError:
                log.exception("AMI simulator: reloading the realtime members of %s failed", queue)

    async def read(self, queues: Sequence[str]) -> None:
        """Read ``queues``' rows now (after the pending writes); :meth:`commit` applies them."""
        await self._read_later(list(queues))

    async def settled(self) -> None:
        """Wait until every row change handed to :attr:`update` so far is written."""
        while self._writes:
            await asyncio.wait(set(self._writes))

    # -- internals -----------------------------------------------------------------

    def _read(self, queue: str) -> MemberRows | Awaitable[MemberRows]:
        assert self.members is not None
        try:
            return self.members(queue)
        except Exception:
            log.exception("AMI simulator: reading the realtime members of %s failed", queue)
            return None

    def _stage(self, queue: str, rows: MemberRows) -> None:
        if rows is not None:
            self._staged.append((queue, list(rows)))

    async def _read_later(
        self, queues: list[str], first: tuple[str, Awaitable[MemberRows]] | None = None
    ) -> None:
        if first is None:
            await self.settled()
        pending: list[tuple[str, MemberRows | Awaitable[MemberRows]]] = []
        if first is not None:
            pending.append(first)
        pending += [(queue, self._read(queue)) for queue in queues]
        for queue, rows in pending:
            try:
                loaded = await rows if inspect.isawaitable(rows) else rows
            except Exception:
                log.exception("AMI simulator: reading the realtime members of %s failed", queue)
                continue
            self._stage(queue, loaded)

    def _write(self, queue: str, interface: str, fields: dict[str, str]) -> None:
        update = self.update
        if update is None:
            return
        previous = self._last_write
        if previous is not None and not previous.done():
            self._track(self._write_after(previous, queue, interface, fields))
            return
        try:
            result = update(queue, interface, fields)
        except Exception:
            log.exception(
                "AMI simulator: writing realtime member %s of %s failed", interface, queue
            )
            return
        if inspect.isawaitable(result):
            self._track(result)

    async def _write_after(
        self, previous: asyncio.Future[None], queue: str, interface: str, fields: dict[str, str]
    ) -> None:
        await asyncio.wait({previous})
        assert self.update is not None
        result = self.update(queue, interface, fields)
        if inspect.isawaitable(result):
            await result

    def _track(self, write: Awaitable[None]) -> None:
        future = asyncio.ensure_future(write)
        self._writes.add(future)
        self._last_write = future
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        self._writes.discard(future)
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.error("AMI simulator: writing a realtime member failed: %r", exc)
