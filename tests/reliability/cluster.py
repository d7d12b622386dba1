"""A Redis Cluster of the test's own: three masters, no replicas, on free loopback ports.

Every node is a child `redis-server --cluster-enabled yes` in its own temp dir
(nothing saved); `redis-cli --cluster create` assigns the 16384 slots, and the
lab is ready once every node says `cluster_state:ok`. Everything is removed on
close. The machine's shared Redis is never part of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from tests.reliability.procs import _spawn, _until, free_port


class _Node:
    """One cluster-enabled redis-server child and its files."""

    def __init__(self, root: Path, index: int, password: str | None) -> None:
        self.password = password
        self.port = free_port()
        # The bus port is given, not port + 10000 (which may be taken or beyond 65535).
        self.bus_port = free_port()
        self.dir = root / f"node{index}"
        self.dir.mkdir()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """host:port"""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.dir / "redis.log").open("ab")
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-port", str(self.bus_port)]
        args += ["--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"]
        args += ["--protected-mode", "no", "--dir", str(self.dir)]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        self.process = _spawn(args, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def client(self, **options: Any) -> Redis:
        """A plain (non-cluster) client of this node alone."""
        return Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_connect_timeout=1,
            **options,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class ClusterLab:
    """`await lab.start()`; `lab.nodes` (REDIS_CLUSTER_NODES), `lab.client()`, `lab.close()`.

    With `password` every node asks for it (`requirepass`, `masterauth`)."""

    def __init__(self, masters: int = 3, *, password: str | None = None) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="qs-rel-cluster-"))
        self.password = password
        self.masters = [_Node(self._root, n, password) for n in range(masters)]

    @property
    def nodes(self) -> str:
        """REDIS_CLUSTER_NODES: host:port,…"""
        return ",".join(node.address for node in self.masters)

    @property
    def url(self) -> str:
        """A REDIS_URL naming the first node (the seed when REDIS_CLUSTER_NODES is empty)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.masters[0].address}/0"

    async def _until_up(self, node: _Node, attempts: int = 3) -> None:
        """Wait for `node` to answer; started again on fresh ports when it died or stayed
        silent (a port probed free may be taken before redis-server binds it: another
        test's outgoing connection gets it as its local port)."""
        for attempt in range(1, attempts + 1):
            try:
                await _until(lambda: self._pings(node), 5, f"redis node {node.port}")
                return
            except TimeoutError:
                node.kill()
                log = (node.dir / "redis.log").read_text(errors="replace")[-600:]
                if attempt == attempts:
                    raise TimeoutError(f"redis node {node.port} did not start:\n{log}") from None
                node.port, node.bus_port = free_port(), free_port()
                node.start()

    async def start(self) -> None:
        """Start the nodes, create the cluster, wait until every node reports it ok."""
        for node in self.masters:
            node.start()
        for node in self.masters:
            await self._until_up(node)
        create = ["redis-cli", "--cluster", "create", *(n.address for n in self.masters)]
        create += ["--cluster-replicas", "0", "--cluster-yes"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if self.password:
            env["REDISCLI_AUTH"] = self.password  # not -a: it would be on the command line
        done = await asyncio.to_thread(
            subprocess.run, create, capture_output=True, timeout=60, env=env
        )
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout.decode()}")
        for node in self.masters:
            await _until(lambda node=node: self._ok(node), 15, f"cluster_state:ok on {node.port}")

    @staticmethod
    async def _pings(node: _Node) -> bool:
        client = node.client(socket_timeout=1)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    @staticmethod
    async def _ok(node: _Node) -> bool:
        client = node.client(socket_timeout=1, decode_responses=True)
        try:
            info: dict[str, Any] = await client.cluster("INFO")
            return str(info.get("cluster_state")) == "ok"
        finally:
            await client.aclose()

    def client(self, **options: Any) -> RedisCluster:
        """A cluster client seeded with every node."""
        seeds = [ClusterNode("127.0.0.1", node.port) for node in self.masters]
        return RedisCluster(
            startup_nodes=seeds, password=self.password, socket_connect_timeout=1, **options
        )

    async def owner_port(self, slot: int) -> int:
        """The port of the master serving `slot` (CLUSTER SHARDS, asked of the first node)."""
        client = self.masters[0].client(decode_responses=True)
        try:
            shards: list[Any] = await client.execute_command("CLUSTER", "SHARDS")  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()
        for shard in shards:
            shard = _pairs(shard)
            ranges = shard["slots"]
            for start, end in zip(ranges[0::2], ranges[1::2], strict=True):
                if int(start) <= slot <= int(end):
                    for node in shard["nodes"]:
                        node = _pairs(node)
                        if node["role"] == "master":
                            return int(node["port"])
        raise LookupError(f"no master serves slot {slot}")

    async def keyslot(self, key: str) -> int:
        """CLUSTER KEYSLOT, as the server computes it."""
        client = self.masters[0].client()
        try:
            return int(await client.execute_command("CLUSTER", "KEYSLOT", key))  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()

    async def move_slot(self, slot: int, to_port: int) -> None:
        """Reshard one slot to the master on `to_port`, keys and all, as `redis-cli
        --cluster reshard` does: IMPORTING/MIGRATING, MIGRATE, then SETSLOT NODE
        everywhere (the old owner then ends its sharded subscriptions of the slot)."""
        source = self.node_at(await self.owner_port(slot))
        target = self.node_at(to_port)
        clients = {node.port: node.client(socket_timeout=5) for node in self.masters}
        try:
            src, dst = clients[source.port], clients[target.port]
            src_id = (await src.execute_command("CLUSTER", "MYID")).decode()  # type: ignore[no-untyped-call]
            dst_id = (await dst.execute_command("CLUSTER", "MYID")).decode()  # type: ignore[no-untyped-call]
            await dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)  # type: ignore[no-untyped-call]
            await src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)  # type: ignore[no-untyped-call]
            while keys := await src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):  # type: ignore[no-untyped-call]
                migrate = ["MIGRATE", "127.0.0.1", target.port, "", 0, 5000]
                migrate += ["AUTH", self.password] if self.password else []
                migrate += ["KEYS", *keys]
                await src.execute_command(*migrate)  # type: ignore[no-untyped-call]
            for node in [target, source, *(n for n in self.masters if n not in (source, target))]:
                await clients[node.port].execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)  # type: ignore[no-untyped-call]
        finally:
            for client in clients.values():
                await client.aclose()

    async def keys_on(self, port: int, prefix: str) -> list[bytes]:
        """Every key of `prefix` on one node (SCAN of that node alone)."""
        client = self.node_at(port).client(socket_timeout=5)
        try:
            return [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        finally:
            await client.aclose()

    def node_at(self, port: int) -> _Node:
        """The node listening on `port`."""
        return next(node for node in self.masters if node.port == port)

    def close(self) -> None:
        """Stop every node and remove their files."""
        for node in self.masters:
            with contextlib.suppress(Exception):
                node.kill()
        shutil.rmtree(self._root, ignore_errors=True)


def _pairs(reply: Any) -> dict[str, Any]:
    """A RESP2 flat [name, value, …] list (or an already parsed dict) as a dict."""
    if isinstance(reply, dict):
        return reply
    return {str(k): v for k, v in zip(reply[0::2], reply[1::2], strict=True)}


@contextlib.asynccontextmanager
async def cluster_lab(
    masters: int = 3, *, password: str | None = None
) -> AsyncIterator[ClusterLab]:
    """A started `ClusterLab`, closed afterwards."""
    lab = ClusterLab(masters, password=password)
    try:
        await lab.start()
        yield lab
    finally:
        await asyncio.to_thread(lab.close)
