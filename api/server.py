"""Running the app under uvicorn with our logging and WebSocket settings."""

from __future__ import annotations

import socket

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


def listening_socket(host: str, port: int, write_timeout: float) -> socket.socket:
    """The server's socket. A peer that leaves sent data unread for `write_timeout` seconds
    is cut by the kernel (TCP_USER_TIMEOUT, inherited by every accepted connection).

    Without it a client that stops reading — a WebSocket subscriber, say — keeps its
    connection, its task and its buffers forever: closing a transport waits for the
    unread data to leave, and a peer that still acknowledges TCP's probes is never
    declared dead.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(write_timeout * 1000))
    sock.bind(address)
    return sock


async def serve(app: FastAPI, settings: Settings, *, port: int | None = None) -> None:
    """Serve until interrupted."""
    config = uvicorn_config(app, settings, port=port)
    sock = listening_socket(config.host, config.port, settings.client_write_timeout)
    await uvicorn.Server(config).serve(sockets=[sock])
