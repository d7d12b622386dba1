"""A Redis Sentinel topology of the test's own: a master, a replica and three sentinels.

Every server is a child `redis-server` on a free loopback port (sentinels as
`redis-server CONF --sentinel`, each with its own writable config file, as
Sentinel rewrites it). Nothing is saved; everything is removed on close.
The machine's shared Redis is never part of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from tests.reliability.procs import _spawn, _until, free_port

MASTER_NAME = "qs-lab"


class _Server:
    """One redis-server child (data node or sentinel) and its log."""

    def __init__(self, root: Path, name: str, args: list[str]) -> None:
        self.port = free_port()
        self.name = name
        self.dir = root / name
        self.dir.mkdir()
        self._args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, extra: list[str]) -> None:
        log = (self.dir / "redis.log").open("ab")
        self.process = _spawn(
            [*self._args, *extra], cwd=self.dir, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def client(self, **options: Any) -> Redis:
        return Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, **options)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class SentinelLab:
    """`await lab.start()`; `lab.sentinels` for REDIS_SENTINELS; `await lab.failover()`."""

    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="qs-rel-sentinel-"))
        self.master = _Server(self._root, "master", ["redis-server"])
        self.replica = _Server(self._root, "replica", ["redis-server"])
        self._sentinels = [_Server(self._root, f"sentinel{n}", ["redis-server"]) for n in range(3)]

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS: host:port,…"""
        return ",".join(f"127.0.0.1:{s.port}" for s in self._sentinels)

    @property
    def data_nodes(self) -> list[_Server]:
        """The master and the replica (which is which changes with a failover)."""
        return [self.master, self.replica]

    async def start(self) -> None:
        """Master, then its replica (in sync), then the sentinels once they see both."""
        for node in self.data_nodes:
            options = ["--port", str(node.port), "--bind", "127.0.0.1", "--save", ""]
            options += ["--appendonly", "no", "--protected-mode", "no", "--dir", str(node.dir)]
            if node is self.replica:
                options += ["--replicaof", "127.0.0.1", str(self.master.port)]
            node.start(options)
        await _until(self._replica_in_sync, 10, "the replica")
        for sentinel in self._sentinels:
            conf = sentinel.dir / "sentinel.conf"
            conf.write_text(
                f"port {sentinel.port}\nbind 127.0.0.1\nprotected-mode no\n"
                f"dir {sentinel.dir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 2000\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n",
                encoding="utf-8",
            )
            sentinel.start([str(conf), "--sentinel"])
        await _until(self._sentinels_ready, 15, "the sentinels")

    async def _replica_in_sync(self) -> bool:
        info = await self._info(self.replica, "replication")
        return info.get("master_link_status") == "up"

    async def _sentinels_ready(self) -> bool:
        """Every sentinel knows the master and its replica (a forced failover needs no vote,
        so not waiting for the sentinels to find each other saves seconds)."""
        for sentinel in self._sentinels:
            client = sentinel.client(socket_timeout=1)
            try:
                masters: dict[str, Any] = await client.sentinel_masters()  # type: ignore[assignment]
                state = masters.get(MASTER_NAME)
            finally:
                await client.aclose()
            if not state or state["num-slaves"] < 1:
                return False
        return True

    async def _info(self, node: _Server, section: str) -> dict[str, Any]:
        client = node.client(socket_timeout=1)
        try:
            info: dict[str, Any] = await client.info(section)
            return info
        finally:
            await client.aclose()

    async def master_port(self) -> int:
        """Where the sentinels say the master is."""
        client = self._sentinels[0].client(socket_timeout=1)
        try:
            address: tuple[str, int] = await client.sentinel_get_master_addr_by_name(  # type: ignore[assignment]
                MASTER_NAME
            )
            return int(address[1])
        finally:
            await client.aclose()

    async def failover(self, timeout: float = 15) -> int:
        """`SENTINEL FAILOVER`; waits until the sentinels name the other node. Its port."""
        before = await self.master_port()
        client = self._sentinels[0].client(socket_timeout=2)

        async def started() -> bool:
            # NOGOODSLAVE until the sentinel has the replica's INFO: ask again.
            command = ("SENTINEL", "FAILOVER", MASTER_NAME)
            return bool(await client.execute_command(*command))  # type: ignore[no-untyped-call]

        try:
            await _until(started, timeout, "SENTINEL FAILOVER accepted", interval=0.1)
        finally:
            await client.aclose()

        async def moved() -> bool:
            return await self.master_port() != before

        await _until(moved, timeout, "the failover", interval=0.05)
        return await self.master_port()

    def close(self) -> None:
        """Stop every server and remove their files."""
        for server in (*self._sentinels, *self.data_nodes):
            with contextlib.suppress(Exception):
                server.kill()
        shutil.rmtree(self._root, ignore_errors=True)


@contextlib.asynccontextmanager
async def sentinel_lab() -> Any:
    """A started `SentinelLab`, closed afterwards."""
    lab = SentinelLab()
    try:
        await lab.start()
        yield lab
    finally:
        await asyncio.to_thread(lab.close)
