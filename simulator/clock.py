"""Model time: a simulated clock and the timers scheduled on it.

Nothing here sleeps. Time moves only when the owner pops the next due timer
(:meth:`ModelClock.pop_due`) or moves it forward (:meth:`ModelClock.move_to`); the
``source`` clock (wall time by default) only gives the start and the target of
a catch-up.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Timer:
    """One scheduled action; set ``cancelled`` to drop it."""

    when: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class ModelClock:
    """Model time (epoch seconds) and a heap of timers, run in (time, scheduling) order."""

    def __init__(self, source: Callable[[], float]) -> None:
        self.source = source
        """The clock model time starts from and catches up with."""
        self.now = source()
        """Model time; only :meth:`pop_due` and :meth:`move_to` move it."""
        self.on_earlier: Callable[[], None] | None = None
        """Called when a timer is scheduled before every other one (a wake-up moved up)."""
        self._timers: list[Timer] = []
        self._seq = itertools.count()

    def next_due(self) -> float | None:
        """When the next timer fires, or ``None`` if none is scheduled."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def pop_due(self) -> Timer | None:
        """The next live timer, time moved to it; ``None`` when nothing is scheduled."""
        while self._timers:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.now = max(self.now, timer.when)
            return timer
        return None

    def move_to(self, when: float) -> None:
        """Move time forward to ``when`` (never back)."""
        self.now = max(self.now, when)

    def after(self, delay: float, action: Callable[[], None]) -> Timer:
        """Run ``action`` ``delay`` seconds from now (a negative delay means now)."""
        return self.at(self.now + max(0.0, delay), action)

    def at(self, when: float, action: Callable[[], None]) -> Timer:
        """Run ``action`` at ``when`` (now if that is past)."""
        timer = Timer(max(when, self.now), next(self._seq), action)
        head = self._timers[0].when if self._timers else None
        heapq.heappush(self._timers, timer)
        if self.on_earlier is not None and (head is None or timer.when < head):
            self.on_earlier()
        return timer
