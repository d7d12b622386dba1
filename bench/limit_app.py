"""The limit: a bare ASGI app that answers with bytes fetched by one Redis GET.

No framework, no routing beyond a dict, no JSON work: per request one GET
through the same Redis client library as the product, then the bytes as the
body. Served by uvicorn with the product's own settings, it is the ceiling
for any HTTP endpoint of this service on this machine: whatever an endpoint
does beyond reading its bytes from Redis shows as the distance to it.

    python -m bench.limit_app --port 8001 --redis-url redis://… --route /operators=KEY …

With `--store-prefix`, `/store/operators` answers with the product's own read
instead (`StateStore.raw` — one SORT of the index — joined as GET /operators
joins it), still without any framework: the distance between the two routes
is what reading a thousand entities instead of one value costs, whatever the
framework around it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from redis.asyncio import Redis

from api.responses import collection_body
from ingest.keys import KeySchema
from ingest.store import StateStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_NOT_FOUND = b'{"success":false,"error":"not found"}'


class LimitApp:
    """ASGI: path → Redis key → body."""

    def __init__(self, redis_url: str, routes: dict[str, str], store_prefix: str | None) -> None:
        self._redis_url = redis_url
        self._routes = routes
        self._store_prefix = store_prefix
        self._redis: Redis | None = None
        self._store: StateStore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        key = self._routes.get(scope["path"])
        body = None
        if key is not None and self._redis is not None:
            body = await self._redis.get(key)
        elif scope["path"] == "/store/operators" and self._store is not None:
            body = collection_body(await self._store.raw("operator"))
        status = 200 if body is not None else 404
        payload = body if isinstance(body, bytes) else _NOT_FOUND
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._redis = Redis.from_url(self._redis_url)
                await self._redis.ping()
                if self._store_prefix is not None:
                    self._store = StateStore(self._redis, KeySchema(self._store_prefix))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._redis is not None:
                    await self._redis.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--route", action="append", default=[], help="PATH=KEY")
    parser.add_argument("--store-prefix", help="serve /store/operators from this key prefix")
    args = parser.parse_args()
    routes = dict(item.split("=", 1) for item in args.route)
    # The product's uvicorn settings for HTTP: uvloop and httptools when installed,
    # no access log.
    config = uvicorn.Config(
        LimitApp(args.redis_url, routes, args.store_prefix),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
