"""A real uvicorn server on a free loopback port, inside the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from api.server import uvicorn_config
from api.settings import Settings


@asynccontextmanager
async def run_server(app: FastAPI, settings: Settings) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL."""
    server = uvicorn.Server(uvicorn_config(app, settings, port=0, host="127.0.0.1"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server stopped during startup")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
