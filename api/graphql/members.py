"""Members: one grouped subscription on one socket, and how its messages go out.

A member wraps its group's shared payload in its own protocol envelope (its
operation id) and sends it without waiting. When its socket takes ready-made
frames (a `FrameSink`), the frame is the one the group built for its operation
id (`api.graphql.frames`), written straight to the transport; a socket over its
high-water mark gets a task that writes the same bytes once it can, behind
which that member's later frames queue. Otherwise the send goes through the
server: a send to a healthy socket completes at once (the transport takes the
bytes); it is started inline, and only a send that has to wait for a slow
socket becomes a task, behind which that member's later messages queue. A
member with more than its limit of messages queued refuses more (`deliver` is
False): the fan-out cuts it off with SUBSCRIBER_TOO_SLOW. An idle member is one small object — no task, no
generator, no queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from api.graphql.frames import FrameSink, SharedFrames

Send = Callable[[str], Coroutine[Any, Any, None]]
Payload = str | asyncio.Future[str]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A protocol's framing of one operation's messages."""

    head: str
    tail: str
    complete: str

    @classmethod
    def transport_ws(cls, operation_id: str) -> Envelope:
        """graphql-transport-ws: `next` and `complete`."""
        quoted = orjson.dumps(operation_id).decode()
        return cls(
            f'{{"id":{quoted},"type":"next","payload":',
            "}",
            f'{{"id":{quoted},"type":"complete"}}',
        )

    @classmethod
    def legacy_ws(cls, operation_id: str) -> Envelope:
        """The legacy graphql-ws: `data` and `complete`."""
        quoted = orjson.dumps(operation_id).decode()
        return cls(
            f'{{"type":"data","id":{quoted},"payload":',
            "}",
            f'{{"type":"complete","id":{quoted}}}',
        )


class Group(Protocol):
    """The group a member belongs to (`api.graphql.fanout`)."""

    def remove(self, member: Member) -> None:
        """The member leaves the group."""
        ...


class _Resume:
    """Finishes a coroutine that was started by hand and is waiting on `first`.

    The expansion of ``yield from`` (PEP 380) after its first step: the task
    awaiting this drives the rest of the coroutine exactly as if it had
    awaited the coroutine from the start.
    """

    __slots__ = ("_coroutine", "_first")

    def __init__(self, coroutine: Coroutine[Any, Any, None], first: Any) -> None:
        self._coroutine = coroutine
        self._first = first

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, waiting = self._coroutine, self._first
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # delivered into the coroutine
                try:
                    waiting = coroutine.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting = coroutine.send(sent)
                except StopIteration:
                    return


class Member:
    """One grouped subscription: where its messages go, and how far it is."""

    __slots__ = (
        "_backlog",
        "_limit",
        "_on_end",
        "_send",
        "_sink",
        "at",
        "ended",
        "envelope",
        "group",
        "sent",
        "writer",
    )

    def __init__(
        self,
        envelope: Envelope,
        send: Send,
        *,
        limit: int,
        on_end: Callable[[], None],
        sink: FrameSink | None = None,
    ) -> None:
        self.envelope = envelope
        self._send = send
        self._sink = sink
        self._limit = limit
        self._on_end = on_end
        # Waiting behind `writer`: payloads, frames (for the sink), None for `complete`.
        self._backlog: deque[Payload | bytes | None] | None = None
        self.writer: asyncio.Task[None] | None = None
        self.group: Group | None = None
        self.at: int | None = None  # the version the client's state is at
        self.sent = 0  # the toVersion of the last message sent
        self.ended = False

    def deliver(self, payload: Payload, frames: SharedFrames | None = None) -> bool:
        """Send a message (in order, never waiting); False once the member is cut off.
        `frames`: the same message as ready-made frames (`payload` is their payload)."""
        if self.ended:
            return False
        sink = self._sink
        if self.writer is not None:
            backlog = self._backlog
            assert backlog is not None
            if len(backlog) >= self._limit:
                return False
            backlog.append(
                frames.frame(self.envelope) if frames is not None and sink is not None else payload
            )
            return True
        if frames is not None and sink is not None:
            frame = frames.frame(self.envelope)
            if not sink.write_frame(frame):
                self._queue_first(frame)  # until the socket can take it
            return True
        if isinstance(payload, str):
            self._start(self.envelope.head + payload + self.envelope.tail)
        else:
            self._queue_first(payload)
        return True

    def finish(self, last: str | None) -> None:
        """End the subscription: drop what waits, send `last` (a payload) and `complete`."""
        if self.ended:
            return
        self.ended = True
        self.group = None
        if self._backlog:
            self._backlog.clear()
        if self.writer is not None:
            assert self._backlog is not None
            if last is not None:
                self._backlog.append(last)
            self._backlog.append(None)  # then `complete`
        else:
            frames = [] if last is None else [self.envelope.head + last + self.envelope.tail]
            frames.append(self.envelope.complete)
            self._queue_text(frames)
        self._on_end()

    def leave(self) -> None:
        """The client completed the subscription (or went away): stop sending."""
        self.ended = True
        if self.group is not None:
            self.group.remove(self)
            self.group = None
        if self._backlog:
            self._backlog.clear()

    def _start(self, text: str) -> None:
        # Run the send inline; only if it has to wait does it become a task.
        coroutine = self._send(text)
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return
        except Exception:  # the socket is gone
            self._gone()
            return
        self._backlog = self._backlog if self._backlog is not None else deque()
        self.writer = asyncio.get_running_loop().create_task(
            self._drain(_Resume(coroutine, waiting))
        )

    def _queue_first(self, item: asyncio.Future[str] | bytes) -> None:
        self._backlog = deque([item])
        self.writer = asyncio.get_running_loop().create_task(self._drain(None))

    def _queue_text(self, frames: list[str]) -> None:
        async def send_all() -> None:
            for frame in frames:
                await self._send(frame)

        self._backlog = deque()
        self.writer = asyncio.get_running_loop().create_task(self._drain(send_all()))

    async def _drain(self, first: Awaitable[None] | None) -> None:
        backlog = self._backlog
        assert backlog is not None
        envelope = self.envelope
        try:
            if first is not None:
                await first
            while backlog:
                item = backlog.popleft()
                if item is None:
                    await self._send(envelope.complete)
                    return
                if isinstance(item, bytes):
                    assert self._sink is not None
                    await self._sink.wait_writable()
                    if not self._sink.write_frame(item):
                        raise ConnectionError("the socket is closing")
                    continue
                text = item if isinstance(item, str) else await item
                await self._send(envelope.head + text + envelope.tail)
        except Exception:  # the socket is gone
            self._gone()
        finally:
            self.writer = None

    def _gone(self) -> None:
        self.ended = True
        if self._backlog:
            self._backlog.clear()
        if self.group is not None:
            self.group.remove(self)
            self.group = None
