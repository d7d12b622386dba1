"""`python -m tests.reliability.serve`: `queue-status serve`, plus a stats route for the suite.

The very same app (settings from the environment, our logging, uvicorn as the
CLI runs it), with `GET /__reliability__/stats` added: asyncio tasks, resident
memory, WebSockets and subscribers, the broadcaster's and the ingest's counters.
With ``QS_TRACEMALLOC=1`` it also reports traced Python memory.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from api.app import create_app
from api.graphql.connections import WebSocketLimits
from api.server import serve
from api.settings import load_settings
from ingest.logs import configure_logging

STATS_PATH = "/__reliability__/stats"


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _ws_limits(app: FastAPI) -> WebSocketLimits | None:
    node: Any = app.middleware_stack
    while node is not None:
        if isinstance(node, WebSocketLimits):
            return node
        node = getattr(node, "app", None)
    return None


def add_stats_route(app: FastAPI) -> None:
    """The suite's window into the process."""

    @app.get(STATS_PATH, include_in_schema=False)
    async def stats(request: Request) -> dict[str, Any]:
        if request.query_params.get("gc") == "1":
            gc.collect()
        state = request.app.state
        runtime = getattr(state, "runtime", None)
        broadcaster = getattr(runtime, "broadcaster", None)
        ingest = getattr(runtime, "ingest", None)
        limits = _ws_limits(request.app)
        body: dict[str, Any] = {
            "tasks": len(asyncio.all_tasks()),
            "rssKib": _rss_kib(),
            "wsOpen": limits.open if limits is not None else None,
            "subscribers": broadcaster.subscriber_count if broadcaster else None,
            "overflows": broadcaster.overflows if broadcaster else None,
            "loads": broadcaster.loads if broadcaster else None,
            "pubsubConnected": broadcaster.connected if broadcaster else None,
            "feedVersion": broadcaster.feed.version if broadcaster else None,
        }
        if ingest is not None:
            status = ingest.status
            body["ingest"] = {
                **status.as_json(),
                "redisErrors": status.redis_errors,
            }
        if tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
            body["traced"] = {"current": current, "peak": peak}
        return body


_FIRST: list[tracemalloc.Snapshot] = []


def add_tracemalloc_route(app: FastAPI) -> None:
    """`/__reliability__/tracemalloc`: the allocations that grew most since the first call."""

    @app.get("/__reliability__/tracemalloc", include_in_schema=False)
    async def grown() -> list[str]:
        if not tracemalloc.is_tracing():
            return []
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        if not _FIRST:
            _FIRST.append(snapshot)
            return []
        stats = snapshot.compare_to(_FIRST[0], "traceback")[:8]
        return [
            f"{stat.size_diff} B in {stat.count_diff} blocks: "
            + " <- ".join(str(frame) for frame in list(stat.traceback)[-6:])
            for stat in stats
        ]


def main() -> None:
    """Run the service with the stats route until SIGTERM/SIGINT."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_path, settings.secrets())
    if os.environ.get("QS_TRACEMALLOC") == "1":
        tracemalloc.start(12)
    app = create_app(settings)
    add_stats_route(app)
    add_tracemalloc_route(app)
    asyncio.run(serve(app, settings))


if __name__ == "__main__":
    main()
