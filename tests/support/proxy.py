"""A small asyncio TCP fault proxy: pass, blackhole, refuse, reset, delay — between the service and Redis or AMI."""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    """Forwards 127.0.0.1:<port> to an upstream; faults are switched on and off by the test."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.refusing = False
        self.refusing_new = False
        self.blackholed = False
        self.delay_seconds = 0.0
        self.connections = 0
        """How many connections it accepted (reconnects)."""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port clients connect to."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Close everything."""
        self.reset()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def reset(self) -> None:
        """Abort every open connection (both sides see a reset)."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def refuse(self, *, reset: bool = True) -> None:
        """Drop open connections and close every new one at once (the upstream is 'down').

        With ``reset=False`` open connections keep working; only new ones are refused.
        """
        if reset:
            self.refusing = True
            self.reset()
        else:
            self.refusing_new = True

    def blackhole(self) -> None:
        """Keep connections open but deliver nothing either way (a dead path, no RST)."""
        self.blackholed = True

    def delay(self, seconds: float) -> None:
        """Hold every chunk ``seconds`` before forwarding it, both ways (a slow upstream).

        Order is kept; ``delay(0)`` forwards at once again.
        """
        self.delay_seconds = seconds

    def restore(self) -> None:
        """Pass traffic again, without delay."""
        self.refusing = False
        self.refusing_new = False
        self.blackholed = False
        self.delay_seconds = 0.0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing or self.refusing_new:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, up_writer))
        for source, sink, downstream in ((reader, up_writer, False), (up_reader, writer, True)):
            task = asyncio.create_task(self._pipe(source, sink, downstream=downstream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        try:
            while data := await source.read(65536):
                if self.refusing:
                    break
                if self.blackholed:
                    continue
                if self.delay_seconds > 0:
                    await asyncio.sleep(self.delay_seconds)
                data, then_reset = self._passing(data, downstream=downstream)
                sink.write(data)
                await sink.drain()
                if then_reset:
                    self.reset()
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)

    def _passing(self, data: bytes, *, downstream: bool) -> tuple[bytes, bool]:
        """The bytes to forward (towards the client when `downstream`), and whether to
        reset every connection once they are: the hook subclasses change."""
        return data, False
