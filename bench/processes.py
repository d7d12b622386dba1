"""Processes of a run: the product server, the ceiling app, helpers; CPU and RSS from /proc.

Each server runs in a process of its own (`python -m …`), so the load
generators never share its interpreter; its output goes to a log file in the
run's work directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def box_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy (not idle or waiting) so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """The resident set size of the process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Child:
    """A process started by the run, stopped with SIGTERM (then SIGKILL)."""

    process: asyncio.subprocess.Process
    name: str
    log_path: Path

    @property
    def pid(self) -> int:
        """Its process id."""
        return int(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU seconds used so far."""
        return cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        """Resident memory now."""
        return rss_bytes(self.pid)

    def check_alive(self) -> None:
        """Raise with the tail of its log when the process has ended."""
        if self.process.returncode is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    async def stop(self, timeout: float = 10.0) -> None:
        """Terminate and wait."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()


async def start_child(
    name: str, args: Sequence[str], *, env: Mapping[str, str], workdir: Path
) -> Child:
    """`python args…` in `workdir` with `env` added to ours; output to `workdir/name.log`."""
    log_path = workdir / f"{name}.log"
    log = log_path.open("ab")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=str(workdir),
            env={**os.environ, "PYTHONPATH": project_path(), **env},
            stdout=log,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
        )
    finally:
        log.close()
    return Child(process, name, log_path)


def project_path() -> str:
    """PYTHONPATH for a child: the project root first (it runs `python -m bench.…`)."""
    root = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{existing}" if existing else root


async def wait_http(child: Child, url: str, *, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200 (the child must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            child.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name} did not answer {url} within {timeout:.0f} s")
            await asyncio.sleep(0.1)
