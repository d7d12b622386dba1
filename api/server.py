"""Running the app under uvicorn with our logging and WebSocket settings."""

from __future__ import annotations

import asyncio
import errno
import gc
import socket

import uvicorn
from fastapi import FastAPI

from api.settings import Settings, SettingsError
from api.websocket_protocol import LeanWebSocketProtocol
from ingest import gc_tuning
from ingest.logs import configure_logging


def setup_logging(settings: Settings) -> None:
    """Our logging (stderr and LOG_FILE, secrets redacted); SettingsError naming LOG_FILE
    when the file cannot be written."""
    try:
        configure_logging(settings.log_level, settings.log_path, settings.secrets())
    except OSError as exc:
        raise SettingsError(
            f"Invalid setting LOG_FILE: cannot write {settings.log_file!r} "
            f"({exc.strerror or type(exc).__name__})"
        ) from None


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
        # Less kept per socket, and the fan-out's direct frame writes (`api.websocket_protocol`).
        ws=LeanWebSocketProtocol,
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

    Raises SettingsError naming HOST or PORT when the address cannot be had.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        detail = exc.strerror if isinstance(exc, socket.gaierror) else "not a valid name"
        raise SettingsError(f"Invalid setting HOST: cannot resolve {host!r} ({detail})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(write_timeout * 1000))
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise SettingsError(_bind_problem(host, port, exc)) from None
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    """One line naming the setting to change."""
    if exc.errno == errno.EADDRINUSE:
        return f"Invalid setting PORT: {host}:{port} is already in use"
    if exc.errno == errno.EACCES:
        return f"Invalid setting PORT: no permission to listen on port {port}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"Invalid setting HOST: {host} is not an address of this machine"
    return f"Invalid setting HOST/PORT: cannot listen on {host}:{port} ({exc.strerror})"


async def serve(
    app: FastAPI,
    settings: Settings,
    *,
    port: int | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until interrupted (on `sock` when the caller already holds the address)."""
    config = uvicorn_config(app, settings, port=port)
    if sock is None:
        sock = listening_socket(config.host, config.port, settings.client_write_timeout)
    server = uvicorn.Server(config)
    freezing = asyncio.create_task(_freeze_heap_once_started(server), name="gc-freeze")
    try:
        await server.serve(sockets=[sock])
    finally:
        freezing.cancel()


async def _freeze_heap_once_started(server: uvicorn.Server) -> None:
    """Once started, move everything alive to the collector's permanent generation
    (and space out young collections: `ingest.gc_tuning`).

    The modules, the schema, the app and what the start-up loaded live as long as the
    process. Left to the collector, each full collection walks them all again: tens of
    ms with the event loop (the API and the ingest) stopped, again and again while a
    burst of AMI events allocates. Frozen, a full collection walks what came after.
    """
    while not server.started:
        await asyncio.sleep(0.05)
    gc.collect()
    gc_tuning.tune()
