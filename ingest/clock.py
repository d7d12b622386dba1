"""The wall clock, in the unit every stored timestamp uses (ms since the epoch).

Pure code takes `now` as an argument; this is where the edges read it.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
