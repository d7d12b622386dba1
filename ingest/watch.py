"""Notices Redis losing the live state — a restart, a failover, a FLUSHALL — and has it rebuilt.

Writers heal by themselves when one of their writes fails (the AMI consumer
resyncs and reconciles when Redis answers again). But when nothing is written
while Redis is away — a quiet night on the PBX, AMI disabled — no write fails,
and a Redis that came back empty would stay empty until the next periodic
reconciliation. `RedisWatch` asks Redis for the version counter every
`interval` seconds and calls `rebuild(reason)` when the state is gone: the
server's run id changed (a restart or a failover) or the counter went back
(a flush; our own clear increments it). A link that failed and came back
with the state intact needs nothing. A rebuild that fails is retried at the
next tick.
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
    ) -> None:
        self._store = store
        self._rebuild = rebuild
        self._interval = interval
        self._last_version: int | None = None
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
        try:
            run_id = await self._server_run_id()
            version = await self._store.version()
        except RedisError:
            return None  # down: look again later (what it lost shows when it is back)
        reason = self._pending
        if self._run_id is not None and run_id is not None and run_id != self._run_id:
            reason = "Redis restarted"
        elif self._last_version is not None and version < self._last_version:
            reason = f"Redis lost the live state (version {self._last_version} -> {version})"
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
