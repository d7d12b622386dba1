"""Futures that resolve once the events confirming an action are in the store.

The console registers what it expects before it sends the action (Asterisk
may send the event before its ``Response``); the AMI consumer reports every
batch after the store applied it. So a resolved waiter means: a read now
includes the change — read-your-writes, without writing any intent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ingest.actions.requests import Expected


class _Waiter:
    __slots__ = ("future", "remaining")

    def __init__(self, expected: Iterable[Expected], future: asyncio.Future[None]) -> None:
        self.remaining = list(expected)
        self.future = future


class EventWaiters:
    """Who waits for which events; fed with each batch once it is applied."""

    def __init__(self) -> None:
        self._waiting: list[_Waiter] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def expect(self, expected: Sequence[Expected]) -> asyncio.Future[None]:
        """A future resolved when every one of `expected` has been applied (at once
        when there is none)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not expected:
            future.set_result(None)
            return future
        self._waiting.append(_Waiter(expected, future))
        return future

    def forget(self, future: asyncio.Future[None]) -> None:
        """Stop waiting (the action failed or the wait timed out)."""
        self._waiting = [w for w in self._waiting if w.future is not future]

    def applied(self, messages: Iterable[Mapping[str, Any]]) -> None:
        """Report messages the store has applied, in order."""
        if not self._waiting:
            return
        for message in messages:
            for waiter in self._waiting:
                waiter.remaining = [e for e in waiter.remaining if not e.matches(message)]
        done = [w for w in self._waiting if not w.remaining or w.future.done()]
        for waiter in done:
            if not waiter.future.done():
                waiter.future.set_result(None)
        if done:
            self._waiting = [w for w in self._waiting if w not in done]
