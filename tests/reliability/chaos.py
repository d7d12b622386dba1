"""The suite's fault proxy: the shared `FaultProxy` plus a reset at a chosen byte and a wire tap.

`FaultProxy` (tests/support/proxy.py) passes, blackholes, refuses and resets.
`ChaosProxy` adds what the reliability items need on top:

- `cut_after(n)`: deliver `n` more bytes towards the client, then reset every
  connection — a reset at an arbitrary point, usually in the middle of a message;
- `sent`: every byte clients sent upstream (what the service wrote on the AMI
  wire, for the CR/LF injection item);
- `connections`: how many connections it accepted (reconnects).
"""

from __future__ import annotations

import asyncio

from tests.support.proxy import FaultProxy


class ChaosProxy(FaultProxy):
    """`FaultProxy` with a byte-exact reset and a record of the client's bytes."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        super().__init__(upstream_host, upstream_port)
        self.sent = bytearray()
        self.delivered = 0
        self.connections = 0
        self._cut_at: int | None = None

    def cut_after(self, n: int) -> None:
        """Reset every connection once `n` more bytes went towards the clients."""
        self._cut_at = self.delivered + n

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
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
            task = asyncio.create_task(self._forward(source, sink, downstream=downstream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forward(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        try:
            while data := await source.read(65536):
                if self.refusing:
                    break
                if self.blackholed:
                    continue
                if not downstream:
                    self.sent += data
                elif self._cut_at is not None and self.delivered + len(data) >= self._cut_at:
                    keep = self._cut_at - self.delivered
                    self._cut_at = None
                    self.delivered += keep
                    sink.write(data[:keep])
                    await sink.drain()
                    self.reset()
                    break
                else:
                    self.delivered += len(data)
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)
