"""Notices Redis losing the live state — a restart, a failover, a FLUSHALL — and has it rebuilt.

Writers heal by themselves when one of their writes fails (the AMI consumer
resyncs and reconciles when Redis answers again). But when nothing is written
while Redis is away — a quiet night on the PBX, AMI disabled — no write fails,
and a Redis that came back empty would stay empty until the next periodic
reconciliation. `RedisWatch` asks Redis for the version counter every
`interval` seconds and calls `rebuild(reason)` when the state is gone: the
server's run id changed (a restart or a failover) or the counter went back
(a flush; our own clear increments it) below the highest version this process
saw — its own last reading, or `seen_version()` (the live mirror's: the
versions it received prove Redis once held them, so a failover to a replica
that missed the last writes shows even between two readings). A link that
failed and came back with the state intact needs nothing. A rebuild that
fails is retried at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError, ResponseError

from ingest.logs import get_logger
from ingest.store import StateStore

log = get_logger("RedisWatch")


class RedisWatch:
    """Polls Redis' run id and the store's version counter; rebuilds when the state is gone."""

    def __init__(
        self,
        store: StateStore,
        rebuild: Callable[[str], Awaitable[None]],
        *,
        interval: float = 1.0,
        seen_version: Callable[[], int] | None = None,
    ) -> None:
        self._store = store
        self._seen_version = seen_version
        self._rebuild = rebuild
        self._interval = interval
        self._last_version: int | None = None
        self._seen_before_rebuild = 0
        """The mirror's version when the last rebuild began: until the mirror reloads
        it still shows what was lost, which must not start another rebuild."""
        self._run_id: str | None = None
        self._pending: str | None = None
        self.rebuilds = 0

    async def run(self) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            await self.check()
            await asyncio.sleep(self._interval)

    async def check(self) -> str | None:
        """One look at Redis; the reason of the rebuild it started, if any."""
        # Read before the store's version: what the mirror holds, Redis held before.
        mirror = self._seen_version() if self._seen_version is not None else 0
        seen = 0 if mirror == self._seen_before_rebuild else mirror
        try:
            run_id = await self._server_run_id()
            version = await self._store.version()
        except RedisError:
            return None  # down: look again later (what it lost shows when it is back)
        highest = max(seen, self._last_version or 0)
        reason = self._pending
        if self._run_id is not None and run_id is not None and run_id != self._run_id:
            reason = "Redis restarted"
        elif version < highest:
            reason = f"Redis lost the live state (version {highest} -> {version})"
        if run_id is not None:
            self._run_id = run_id
        self._last_version = version
        if reason is None:
            return None
        log.warning("%s; rebuilding the live state", reason)
        try:
            await self._rebuild(reason)
        except Exception as exc:  # the database or Redis may fail again: retry next tick
            self._pending = reason
            log.warning("Rebuild failed (%s); retrying", type(exc).__name__)
            return None
        self._pending = None
        self.rebuilds += 1
        self._seen_before_rebuild = mirror
        # The rebuild wrote: compare from here on.
        with contextlib.suppress(RedisError):
            self._last_version = await self._store.version()
        return reason

    async def _server_run_id(self) -> str | None:
        """The server's run id (None where INFO is not allowed); in a Redis Cluster, the
        run id of the master serving the PBX's slot (a failover there changes it)."""
        try:
            info = await self._store.server_info()
        except ResponseError:
            return None
        run_id = info.get("run_id")
        return str(run_id) if run_id else None
