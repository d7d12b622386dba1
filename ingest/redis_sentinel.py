"""Redis behind Sentinel: the master's client, and a watch that follows a failover at once.

`REDIS_SENTINELS` (host:port,…) and `REDIS_SENTINEL_MASTER` name where Sentinel
runs and which master it watches; the master's user, password and database
come from `REDIS_URL` (its host and port are not used then), the sentinels'
own password from `REDIS_SENTINEL_PASSWORD`. The client is redis-py's
`Sentinel(...).master_for(...)`: every new connection asks the sentinels
where the master is.

Why a watch on top: redis-py asks the sentinels only when it opens a
connection. After a failover the connections it already holds (the pub/sub
one above all) keep talking to the old master, which stays writable until
Sentinel converts it into a replica — seconds later — and then throws away
whatever it took in the meantime (replication is asynchronous). `MasterWatch`
asks the sentinels every `interval`; when the master moved it repoints the
pool and drops every open connection, so writes go to the new master and the
broadcaster's subscription reconnects there (and reloads: its subscribers get a
RESYNC), then has the live state rebuilt — the new master may miss the last
writes or be at a lower version, so the ingest reconciles from Asterisk and
the database is synced, as after a Redis restart (`ingest.watch.RedisWatch`).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.connection import parse_url
from redis.exceptions import RedisError

from ingest.logs import get_logger

log = get_logger("RedisSentinel")

Address = tuple[str, int]


def parse_sentinels(raw: str) -> tuple[Address, ...]:
    """`host:port,host:port,…` (an IPv6 address in brackets); ValueError names the entry."""
    addresses: list[Address] = []
    for index, item in enumerate(part.strip() for part in raw.split(",")):
        if not item:
            continue
        host, colon, port = item.rpartition(":")
        host = host.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not colon or not host or any(ch.isspace() for ch in host) or not host.isprintable():
            raise ValueError(f"entry {index + 1} must look like host:port")
        if not port.strip().isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"entry {index + 1} has a port that is not a number 1-65535")
        addresses.append((host, int(port)))
    return tuple(addresses)


def master_name(value: str) -> str:
    """The name Sentinel monitors the master under: printable, no spaces."""
    name = value.strip()
    if not name.isprintable() or any(ch.isspace() for ch in name):
        raise ValueError("must be the master's name as Sentinel monitors it, without spaces")
    return name


class SentinelRedis(Redis):
    """The master's client (`master_for`); closing it closes the sentinels' connections too."""

    sentinels: Sentinel | None = None

    @property
    def sentinel_pool(self) -> SentinelConnectionPool:
        """The pool that asks the sentinels where the master is."""
        pool = self.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        return pool

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            await self.sentinels.aclose()


def sentinel_master(
    sentinels: Sequence[Address],
    master: str,
    *,
    redis_url: str,
    sentinel_password: str = "",
    **options: Any,
) -> SentinelRedis:
    """The client of `master`'s current address: credentials and database from `redis_url`
    (its host and port are ignored), `options` as for `Redis.from_url`."""
    from_url = parse_url(redis_url)  # type: ignore[no-untyped-call]
    credentials = {
        key: from_url[key] for key in ("username", "password", "db") if from_url.get(key)
    }
    if redis_url.lower().startswith("rediss://"):
        credentials["ssl"] = True
    # The sentinels' own connections: short timeouts, their own password (often none).
    sentinel_options: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
    if sentinel_password:
        sentinel_options["password"] = sentinel_password
    manager = Sentinel(list(sentinels), sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    client = manager.master_for(master, redis_class=SentinelRedis, **credentials, **options)
    assert isinstance(client, SentinelRedis)
    client.sentinels = manager
    return client


Rebuild = Callable[[str], Awaitable[None]]
"""Has one state rebuilt after a failover, given the reason."""


class MasterWatch:
    """Asks the sentinels where the master is every `interval` s; follows a failover at once.

    One per process (per shared client): a failover repoints the pool and drops its
    connections once, then every follower (`follow`: one per PBX, each with its own
    state on the one master) is told and has its state rebuilt. A follower whose
    rebuild fails is retried on the next check, alone."""

    def __init__(
        self,
        client: SentinelRedis,
        rebuild: Rebuild | None = None,
        *,
        interval: float = 0.5,
        on_failover: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._interval = interval
        self._master: Address | None = None
        self._followers: list[_Follower] = []
        self.failovers = 0
        if rebuild is not None:
            self.follow(rebuild, on_failover)

    def follow(self, rebuild: Rebuild, on_failover: Callable[[], None] | None = None) -> None:
        """Tell `on_failover` of every failover, then have `rebuild` rebuild its state."""
        self._followers.append(_Follower(rebuild, on_failover))

    async def run(self) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            await self.check()
            await asyncio.sleep(self._interval)

    async def check(self) -> str | None:
        """One question to the sentinels; the reason of the rebuilds it completed, if any
        (None while one is still to be retried)."""
        pool = self._client.sentinel_pool
        try:
            address = await pool.sentinel_manager.discover_master(pool.service_name)
        except RedisError:
            return None  # no sentinel answers, or none knows a master: ask again later
        master = (str(address[0]), int(address[1]))
        if self._master is not None and master != self._master:
            self.failovers += 1
            log.warning("Redis Sentinel moved the master to %s:%d; reconnecting there", *master)
            # Repoint the pool, then drop every connection, in use or not: the ones held
            # (pub/sub, a pipeline) would otherwise keep writing to the old master.
            await pool.get_master_address()  # type: ignore[no-untyped-call]
            await pool.disconnect(inuse_connections=True)
            for follower in self._followers:
                follower.pending = "Redis Sentinel failover"
                if follower.on_failover is not None:
                    follower.on_failover()
        self._master = master
        done: list[str] = []
        for follower in self._followers:
            reason = follower.pending
            if reason is None:
                continue
            # In the context it followed from: its PBX's log lines name that PBX.
            if await asyncio.create_task(follower.rebuilt(), context=follower.context):
                done.append(reason)
        if not done or any(f.pending is not None for f in self._followers):
            return None
        return done[0]


class _Follower:
    """One state on the master: how to rebuild it, and the failover it still owes."""

    def __init__(self, rebuild: Rebuild, on_failover: Callable[[], None] | None) -> None:
        self.rebuild = rebuild
        self.on_failover = on_failover
        self.pending: str | None = None
        self.context = contextvars.copy_context()

    async def rebuilt(self) -> bool:
        """Rebuild for the pending failover; False (still pending) when it failed."""
        if self.pending is None:
            return True
        try:
            await self.rebuild(self.pending)
        except Exception as exc:  # Redis or the database not back yet: retry next tick
            log.warning("Rebuild after the failover failed (%s); retrying", type(exc).__name__)
            return False
        self.pending = None
        return True
