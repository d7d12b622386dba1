"""What a bench run leaves in Redis: every key of its own prefix, deleted at the end."""

from __future__ import annotations

from redis.asyncio import Redis

_CHUNK = 5000


async def delete_prefix(redis: Redis, prefix: str) -> int:
    """Delete every key under `prefix` (in chunks: one DEL of a million keys would stall
    Redis); how many there were."""
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=_CHUNK)]
    for start in range(0, len(keys), _CHUNK):
        await redis.delete(*keys[start : start + _CHUNK])
    return len(keys)
