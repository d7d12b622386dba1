"""Ending background tasks reliably."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any], retry_every: float = 0.1) -> None:
    """Cancel `tasks` and return once every one of them has ended (their errors dropped).

    The cancellation is repeated until it takes: on Python 3.11,
    `asyncio.wait_for` — which redis-py runs around every write when a socket
    timeout is set — loses a cancellation that arrives as the write completes,
    and the task carries on as if nothing happened. If the caller is
    cancelled meanwhile, the tasks are still seen to their end first; then the
    cancellation goes on.
    """
    pending = {task for task in tasks if not task.done()}
    interrupted = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            await asyncio.wait(pending, timeout=retry_every)
        except asyncio.CancelledError:
            interrupted = True
        pending = {task for task in pending if not task.done()}
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" later
    if interrupted:
        raise asyncio.CancelledError
