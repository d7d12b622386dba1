"""A small Redis lease: at most one process drains a prefix's record buffer at a time.

``SET key token NX PX ttl`` takes it; the holder renews it (a check-and-PEXPIRE
script: only while the value is still its own token) well before it expires,
and releases it at a clean stop (a check-and-DEL). A holder that dies simply
lets it expire, and another process takes over within ``ttl``. Two drainers
at once would not corrupt anything (saves are idempotent upserts) but would
double the database work; this keeps it to one. Leader election for the whole
ingest (`ingest.election`) takes one for the whole ingest of a PBX with `acquire`
and `renew` (a lost lease must be noticed there, never silently taken again).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

__all__ = ["DrainGuard", "RedisLease"]


class DrainGuard(Protocol):
    """What the records drainer asks before it drains: a `RedisLease` of its own, or
    the elected ingest's leadership (`ingest.election.LeaderGate`)."""

    ttl_ms: int

    @property
    def held(self) -> bool:
        """Whether this process may drain now."""
        ...

    async def hold(self) -> bool:
        """Take or keep the right to drain; whether this process has it."""
        ...

    async def release(self) -> None:
        """Give it up at a clean stop."""
        ...


_RENEW = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
"""


class RedisLease:
    """One process's claim on `key` for `ttl_ms`, renewed by calling `hold` again."""

    def __init__(self, redis: Redis, key: str, *, ttl_ms: int = 15_000) -> None:
        if ttl_ms < 100:
            raise ValueError("the lease must last at least 100 ms")
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = uuid.uuid4().hex
        self.held = False
        self._renew: AsyncScript = redis.register_script(_RENEW)
        self._release: AsyncScript = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (``SET NX PX``); whether it is ours now."""
        self.held = bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    async def renew(self) -> bool:
        """Extend the lease while it is still ours; False once lost (expired, taken)."""
        self.held = self.held and bool(
            int(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))
        )
        return self.held

    async def hold(self) -> bool:
        """Take or renew the lease; whether this process holds it now (raises RedisError)."""
        if self.held and int(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms])):
            return True
        self.held = bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    async def release(self) -> None:
        """Give the lease up if this process holds it (raises RedisError)."""
        if self.held:
            self.held = False
            await self._release(keys=[self.key], args=[self.token])
