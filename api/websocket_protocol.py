"""uvicorn's WebSocket protocol (websockets, sans-I/O), leaner for many idle sockets.

A wallboard holds its socket for days and mostly listens: what a socket keeps
for its lifetime is what 5,000 of them cost. Per socket, uvicorn's protocol kept

- the handshake's request and response (their header objects, ~4 KB), read
  only until the socket is accepted: dropped once it is (the request's headers
  emptied, as the websockets parser's generator keeps the request itself);
- an `asyncio.Queue` for the frames received and an `asyncio.Event` for
  "writable" — four deques, each allocating a 64-slot block even when empty
  (~2.5 KB): replaced by the small `Inbox` and `Flag`, which do what uvicorn
  asks of them (put, get, empty; set, clear, is_set, wait).

It also writes the subscription fan-out's ready-made frames (`write_frame`,
`api.graphql.frames`). Everything else — handshake, pings, pongs, close,
backpressure — is uvicorn's own code.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

T = TypeVar("T")


async def _park(waiters: list[asyncio.Future[None]]) -> None:
    """Wait among `waiters` until `_wake` (a cancelled wait leaves the list)."""
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    except BaseException:
        if waiter in waiters:
            waiters.remove(waiter)
        raise


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    """Wake every task parked in `waiters`, and empty it."""
    woken = waiters[:]
    waiters.clear()
    for waiter in woken:
        if not waiter.done():
            waiter.set_result(None)


class Inbox(Generic[T]):
    """What uvicorn uses of `asyncio.Queue`: an unbounded FIFO, without its deques."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: T) -> None:
        """Add an item, waking whoever waits."""
        self._items.append(item)
        _wake(self._waiters)

    def empty(self) -> bool:
        """Nothing waits to be read."""
        return not self._items

    def qsize(self) -> int:
        """Items waiting to be read."""
        return len(self._items)

    async def get(self) -> T:
        """The oldest item, once there is one."""
        while not self._items:
            await _park(self._waiters)
        return self._items.pop(0)


class Flag:
    """What uvicorn uses of `asyncio.Event`, without its deque of waiters."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        """Set now."""
        return self._is_set

    def set(self) -> None:
        """Set, waking whoever waits."""
        self._is_set = True
        _wake(self._waiters)

    def clear(self) -> None:
        """Not set."""
        self._is_set = False

    async def wait(self) -> None:
        """Until set (at once when it is)."""
        if not self._is_set:
            await _park(self._waiters)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's protocol with less state kept per socket, and a direct frame write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: Any = Inbox()
        self.writable: Any = Flag()
        self.writable.set()

    async def send(self, message: Any) -> None:
        """uvicorn's send; once the socket is accepted, the handshake is forgotten."""
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The request also lives on in the websockets parser's generator frame: its
            # headers are emptied (the ASGI scope has its own copy of them).
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    async def wait_writable(self) -> None:
        """Until the transport is under its high-water mark; ClientDisconnected once the
        socket is closed or closing (as `send` raises)."""
        await self.writable.wait()
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()

    def write_frame(self, frame: bytes) -> bool:
        """Write a ready-made frame now, as `send` would write it; False (nothing written)
        when the socket is not open or its transport is over its high-water mark."""
        if (
            not self.writable.is_set()
            or self.close_sent
            or self.disconnected
            or self.conn.state is not State.OPEN
        ):
            return False
        self.transport.write(frame)
        return True
