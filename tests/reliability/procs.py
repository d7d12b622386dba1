"""Real processes the suite may kill, freeze and restart: its own redis-server, its own
PostgreSQL cluster, and the service itself run as `queue-status serve`.

The machine's shared Redis and PostgreSQL belong to other test runs and are never
touched here: every fault that stops a server is injected into one of these.
Each is a child process of the test and is cleaned up by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _spawn(args: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """Start a child process (starting one does not block: it is not waited for)."""
    return subprocess.Popen(args, **options)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until(check: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    """Await `check()` until it is true; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            if await check():
                return
        except Exception:  # not up yet
            pass
        if loop.time() > deadline:
            raise TimeoutError(f"{what} not ready within {timeout:g} s")
        await asyncio.sleep(interval)


class RedisServer:
    """A redis-server of our own: nothing saved, optional password, same port across restarts."""

    def __init__(self, *, password: str | None = None, port: int | None = None) -> None:
        self.password = password
        self.port = port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="qs-rel-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self.starts = 0

    @property
    def url(self) -> str:
        """redis:// URL, with the password when there is one."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def client(self, **options: Any) -> Redis:
        """A client of this server."""
        return Redis.from_url(self.url, socket_connect_timeout=1, **options)

    async def start(self) -> None:
        """Start (empty) and wait until it answers PING."""
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._dir),
            "--protected-mode",
            "no",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        log = (self._dir / "redis.log").open("ab")
        self.process = _spawn(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.frozen = False
        self.starts += 1

        async def answers() -> bool:
            client = self.client(socket_timeout=1)
            try:
                return bool(await client.ping())
            finally:
                await client.aclose()

        await _until(answers, 10, "redis-server")

    def kill(self) -> None:
        """kill -9: everything in memory is gone."""
        if self.process is not None and self.process.poll() is None:
            if self.frozen:
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
        self.frozen = False

    async def restart(self) -> None:
        """Start again, empty, on the same port."""
        self.kill()
        await self.start()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False

    def close(self) -> None:
        """Stop for good and remove its files."""
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


class PostgresCluster:
    """A PostgreSQL 15 cluster of our own (initdb in a temp dir, trust auth, no fsync)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._root = Path(tempfile.mkdtemp(prefix="qs-rel-pg-"))
        self._data = self._root / "data"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """postgresql:// URL of a database (trust auth ignores a password)."""
        auth = f"postgres:{password}@" if password else "postgres@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{database}"

    async def init(self) -> None:
        """initdb (as the postgres user: initdb refuses root), then start."""
        shutil.chown(self._root, "postgres", "postgres")
        await asyncio.to_thread(
            subprocess.run,
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self._data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            user="postgres",
            check=True,
            capture_output=True,
        )
        await self.start()

    async def start(self) -> None:
        """Run the postmaster as our child and wait until it accepts connections."""
        log = (self._root / "postgres.log").open("ab")
        self.process = _spawn(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self._data),
                "-p",
                str(self.port),
                "-k",
                str(self._root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=50",
            ],
            user="postgres",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.starts += 1

        async def accepts() -> bool:
            connection = await asyncpg.connect(self.url(), timeout=1)
            await connection.close()
            return True

        await _until(accepts, 20, "postgres")

    async def stop(self, mode: str = "fast") -> None:
        """Shut down: `fast` (SIGINT, as pg_ctl -m fast) or `immediate` (SIGQUIT, a crash)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT if mode == "fast" else signal.SIGQUIT)
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)

    async def restart(self, mode: str = "fast") -> None:
        """Stop and start again (the data stays)."""
        await self.stop(mode)
        await self.start()

    async def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement as the superuser."""
        connection = await asyncpg.connect(self.url(database), timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def close(self) -> None:
        """Stop and remove the cluster."""
        await self.stop("immediate")
        shutil.rmtree(self._root, ignore_errors=True)


class ServiceProcess:
    """The service as a subprocess: `queue-status serve`, or the suite's harness around it.

    The harness (`python -m tests.reliability.serve`) is the same app with one extra
    route, `/__reliability__/stats` (tasks, RSS, subscribers, ingest counters).
    Settings come only from `env` (the working directory is empty: no `.env`).
    """

    def __init__(self, env: Mapping[str, str], *, harness: bool = True) -> None:
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="qs-rel-svc-"))
        self.log_file = self._dir / "app.log"
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO),
            "HOME": str(self._dir),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_FILE": str(self.log_file),
        }
        self.env = {**base, **env}
        if harness:
            self.command = [sys.executable, "-m", "tests.reliability.serve"]
        else:
            self.command = [str(Path(sys.executable).parent / "queue-status"), "serve"]
        self.process: subprocess.Popen[bytes] | None = None
        self._outputs: list[Path] = []

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The GraphQL WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def pid(self) -> int:
        """The service's process id."""
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout: float = 30) -> None:
        """Start and wait until HTTP answers (whatever /healthz says)."""
        n = len(self._outputs)
        stdout, stderr = self._dir / f"stdout.{n}", self._dir / f"stderr.{n}"
        self._outputs += [stdout, stderr]
        with stdout.open("wb") as out, stderr.open("wb") as err:
            self.process = _spawn(self.command, cwd=self._dir, env=self.env, stdout=out, stderr=err)

        async def answers() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}")
            async with httpx.AsyncClient(timeout=2) as client:
                await client.get(f"{self.url}/healthz")
            return True

        try:
            await _until(answers, timeout, "the service", interval=0.1)
        except TimeoutError:
            raise RuntimeError(f"the service did not start:\n{self.output()[-4000:]}") from None

    def rss_kib(self) -> int:
        """Resident memory from /proc/PID/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    async def stats(self, client: httpx.AsyncClient, *, collect: bool = False) -> dict[str, Any]:
        """The harness' stats route (gc.collect() first when `collect`)."""
        # A fresh connection each time: a pooled one may meet uvicorn's keep-alive timeout.
        response = await client.get(
            f"{self.url}/__reliability__/stats",
            params={"gc": "1" if collect else "0"},
            headers={"Connection": "close"},
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def stop(self) -> int | None:
        """SIGTERM, as a supervisor stops it; SIGKILL if it hangs. Its exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
        return process.returncode

    def output(self) -> str:
        """Everything it printed (stdout, stderr) and logged (LOG_FILE), as text."""
        parts = [p.read_bytes() for p in self._outputs if p.exists()]
        if self.log_file.exists():
            parts.append(self.log_file.read_bytes())
        return b"\n".join(parts).decode("utf-8", "replace")

    def output_bytes(self) -> bytes:
        """The same, as raw bytes."""
        parts = [p.read_bytes() for p in self._outputs if p.exists()]
        if self.log_file.exists():
            parts.append(self.log_file.read_bytes())
        return b"\n".join(parts)

    async def close(self) -> None:
        """Stop and remove its files."""
        with contextlib.suppress(Exception):
            await self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
