"""Running the app under uvicorn with our logging and WebSocket settings."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from ingest.config import Settings


def uvicorn_config(
    app: FastAPI, settings: Settings, *, port: int | None = None, host: str | None = None
) -> uvicorn.Config:
    """Uvicorn settings: our logging, no per-message deflate, small frames."""
    return uvicorn.Config(
        app,
        host=settings.host if host is None else host,
        port=settings.port if port is None else port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # Deflate costs ~40 KiB per WebSocket; wallboard frames are small JSON.
        ws_per_message_deflate=False,
        ws_max_size=256 * 1024,
        timeout_graceful_shutdown=5,
    )


async def serve(app: FastAPI, settings: Settings, *, port: int | None = None) -> None:
    """Serve until interrupted."""
    await uvicorn.Server(uvicorn_config(app, settings, port=port)).serve()
