"""How fast the AMI protocol takes what it reads: a step at a time, and not at all on hold.

A read can be 256 KiB (a burst: a PBX after a reload, a busy site). Framed and
handled at once it would hold the event loop — and the API sharing it — for
tens of ms. `ReadPacer` frames at most `STEP_BYTES` per loop step and handles
the messages they complete, the rest waiting for the next step with the
transport paused meanwhile. `hold` stops the handling and the reading
altogether (the ingest's queue is full: TCP then makes Asterisk wait); what was
already read waits, in order, for `release`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import cast

from ingest.ami.framing import Frame

STEP_BYTES = 8 * 1024
"""Bytes framed and handled in one loop step (about 1 ms)."""


class ReadPacer:
    """Feeds reads to `frame` and each frame to `handle`, a step at a time; see the module."""

    def __init__(
        self,
        frame: Callable[[memoryview], list[Frame]],
        handle: Callable[[Frame], None],
        *,
        step_bytes: int = STEP_BYTES,
    ) -> None:
        self._frame = frame
        self._handle = handle
        self._step_bytes = step_bytes
        self.transport: asyncio.BaseTransport | None = None
        self.stopped = False
        """Set when the connection is closed on purpose: nothing more is handled."""
        # Bytes read but not yet framed, frames not yet handled.
        self._unfed: deque[memoryview] = deque()
        self._frames: deque[Frame] = deque()
        self._held = False
        self._reading_paused = False
        self._step_scheduled = False

    def feed(self, data: bytes) -> None:
        """Take a read: the first step now, the rest later."""
        self._unfed.append(memoryview(data))
        self._step()

    def hold(self) -> None:
        """Handle no more messages and stop reading until `release`."""
        self._held = True
        self._update_reading()

    def release(self) -> None:
        """Undo `hold`: the waiting messages are handled, then reading resumes."""
        if self._held:
            self._held = False
            self._schedule_step()

    @property
    def held(self) -> bool:
        """Whether `hold` is in force."""
        return self._held

    def drain(self) -> None:
        """Handle everything read, now, held or not (the connection is ending)."""
        while self._frames or self._unfed:
            if self._frames:
                self._handle(self._frames.popleft())
            else:
                self._frames.extend(self._frame(self._unfed.popleft()))

    def clear(self) -> None:
        """Forget what waits (the connection was closed on purpose)."""
        self.stopped = True
        self._frames.clear()
        self._unfed.clear()

    def _step(self) -> None:
        self._step_scheduled = False
        # Without a loop (a unit test feeding bytes) there is no later step: all at once.
        budget = self._step_bytes if _running_loop() is not None else None
        fed = 0
        while not self._held and not self.stopped:
            if self._frames:
                self._handle(self._frames.popleft())
            elif self._unfed and (budget is None or fed < budget):
                chunk = self._unfed.popleft()
                piece = chunk if budget is None else chunk[: budget - fed]
                if len(piece) < len(chunk):
                    self._unfed.appendleft(chunk[len(piece) :])
                fed += len(piece)
                self._frames.extend(self._frame(piece))
            else:
                break
        if not self._held and (self._frames or self._unfed):
            self._schedule_step()
        self._update_reading()

    def _schedule_step(self) -> None:
        if self._step_scheduled or self.stopped:
            return
        loop = _running_loop()
        if loop is None:
            self._step()
            return
        self._step_scheduled = True
        loop.call_soon(self._step)

    def _update_reading(self) -> None:
        """Read only while nothing waits: held, or bytes left for a later step, pause."""
        transport = self.transport
        if transport is None or self.stopped or transport.is_closing():
            return
        pause = self._held or bool(self._frames or self._unfed)
        if pause and not self._reading_paused:
            self._reading_paused = True
            cast(asyncio.ReadTransport, transport).pause_reading()
        elif not pause and self._reading_paused:
            self._reading_paused = False
            cast(asyncio.ReadTransport, transport).resume_reading()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
