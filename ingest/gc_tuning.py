"""The garbage collector's settings for a serving process (`serve`, and the bench's ingest).

The ingest allocates a few dozen short-lived objects per AMI message (the frame,
panoramisk's message, the typed event, patches), nearly all freed by reference
counting: they hold no cycles. With CPython's default threshold (a young
collection every 700 allocations) the cyclic collector still ran every few
messages and, while a burst waits in the ingest queue, walked every waiting
message again each time: about a tenth of the ingest's CPU on the real AMI mix
(`python -m bench.ingest_mix`: 21–22 → 19 CPU µs a message).

`tune` freezes what start-up built (modules, settings, the app: never garbage,
never scanned again) and makes young collections 70 times rarer. Cycles are
still collected, only later; memory held by them stays bounded by the same
generational rule.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 50_000
"""Allocations (net of frees) between two young-generation collections (CPython: 700)."""


def tune() -> None:
    """Freeze the objects built so far and space out young collections (call once, after
    start-up)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)
