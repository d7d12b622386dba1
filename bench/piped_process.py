"""A helper process of the bench (an AMI peer, a feeder, the simulator) and its pipe.

Each is spawned (a fresh interpreter: nothing of the parent's loop or sockets
inherited) and talks with the parent over one `multiprocessing` pipe; the
parent awaits its answers without blocking its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable
from typing import Any


class PipedProcess:
    """The parent's handle: `send` a command, `receive` an answer, `stop` the process."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.process.start()
        child.close()

    def send(self, what: Any) -> None:
        """Send a command to the process."""
        self._conn.send(what)

    async def receive(self, timeout: float) -> Any:
        """The process' next answer; TimeoutError after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        fd = self._conn.fileno()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, wake)
        try:
            async with asyncio.timeout(timeout):
                await readable
        finally:
            loop.remove_reader(fd)
        return self._conn.recv()

    async def stop(self, command: Any = "stop") -> None:
        """End the process: `command` first (politely), then a kill after 5 s."""
        if self.process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(command)
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._conn.close()
