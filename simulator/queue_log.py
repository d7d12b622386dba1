"""Asterisk's ``queue_log`` for what the simulator simulates.

app_queue writes one line per queue happening (``main/logger.c``
``ast_queue_log``): ``epoch|callid|queue|agent|EVENT|data1|data2|…``, epoch
in whole seconds (``time(NULL)``), callid the caller channel's Uniqueid
(``NONE``, ``MANAGER``, ``REALTIME`` … for member lines), agent the
MemberName (the interface for ADDMEMBER/REMOVEMEMBER, app_queue's default
``log_membername_as_agent = no``; ``NONE`` for caller lines). The data
fields of each event are the ones Asterisk 22's ``apps/app_queue.c`` writes
(the model has no transfers, key presses or leavewhenempty, so it never
writes the transfer and EXITWITHKEY/EXITEMPTY lines listed for reference):

- ``ENTERQUEUE`` ``url|callerid|position``; ``CONNECT`` ``holdtime|member
  channel uniqueid|ringtime``; ``RINGNOANSWER`` ``ringtime_ms``;
  ``RINGCANCELED`` ``ms ringing`` (the caller hung up while it rang)
- ``COMPLETEAGENT`` / ``COMPLETECALLER`` ``holdtime|talktime|origposition``;
  ``BLINDTRANSFER`` ``exten|context|holdtime|talktime|origposition``
- ``ABANDON`` / ``EXITWITHTIMEOUT`` / ``EXITEMPTY`` ``position|origposition|waittime``;
  ``EXITWITHKEY`` ``key|position|origposition|waittime``
- ``ADDMEMBER`` ``PAUSED`` or empty; ``REMOVEMEMBER`` empty; ``PAUSE`` /
  ``UNPAUSE`` ``reason``; ``PAUSEALL`` / ``UNPAUSEALL`` (queue ``NONE``)
  before the per-queue lines of a pause in every queue; ``QUEUESTART`` when
  the log starts (as on module load).

The model appends lines to memory only (:meth:`QueueLogWriter.write`, no
I/O on the model's path); :meth:`QueueLogWriter.flush` appends them to the
file and the server calls :meth:`QueueLogWriter.flush_async` (a worker
thread) every second, so the event loop never waits on the disk. A value
holding ``|`` or a line break would break the line format: it is written
with ``_`` instead (Asterisk does so only for the caller name).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_UNSAFE = str.maketrans({"|": "_", "\r": "_", "\n": "_"})


def format_line(epoch: float, callid: str, queue: str, agent: str, event: str, *data: str) -> str:
    """One queue_log line with its newline; ``epoch`` is cut to whole seconds as Asterisk does."""
    fields = (str(int(epoch)), callid, queue, agent, event, *data)
    return "|".join(value.translate(_UNSAFE) for value in fields) + "\n"


class QueueLogWriter:
    """Buffers queue_log lines in memory and appends them to ``path`` on flush.

    Lines reach the file in the order written: async flushes take their lines
    in turn (an asyncio lock) and the file is written under a thread lock.
    While a server flushes asynchronously, flush through it
    (``AmiSimulator.flush_queue_log``) rather than with :meth:`flush`. A failed write is logged once per failure streak and its lines
    counted in :attr:`lines_lost`; writing goes on with the next flush.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lines_written = 0
        """Lines appended to the file so far."""
        self.lines_lost = 0
        """Lines dropped because the file could not be written."""
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._failing = False

    def check(self) -> None:
        """Create the file (or open it for appending) now: ``OSError`` if it cannot be."""
        with self.path.open("a", encoding="utf-8"):
            pass

    def write(
        self, epoch: float, callid: str, queue: str, agent: str, event: str, *data: str
    ) -> None:
        """Buffer one line (no I/O)."""
        self._pending.append(format_line(epoch, callid, queue, agent, event, *data))

    @property
    def pending(self) -> int:
        """Lines buffered, not yet flushed."""
        return len(self._pending)

    def flush(self) -> int:
        """Append the buffered lines to the file now; how many were written."""
        lines, self._pending = self._pending, []
        return self._append(lines)

    async def flush_async(self) -> int:
        """:meth:`flush` in a worker thread: the loop does not wait on the disk."""
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            lines, self._pending = self._pending, []
            if not lines:
                return 0
            return await asyncio.to_thread(self._append, lines)

    def _append(self, lines: list[str]) -> int:
        if not lines:
            return 0
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write("".join(lines))
            except OSError as exc:
                self.lines_lost += len(lines)
                if not self._failing:
                    log.warning(
                        "queue_log %s cannot be written (%s): lines dropped", self.path, exc
                    )
                self._failing = True
                return 0
            self._failing = False
            self.lines_written += len(lines)
            return len(lines)
