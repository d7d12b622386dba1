"""The embedded demo: in-process fakeredis, a seeded SQLite call centre and a simulated
Asterisk producing live traffic — the same app, the same sync, the real AMI ingest path."""

from __future__ import annotations

import secrets
import socket
import tempfile
from importlib.util import find_spec
from pathlib import Path

from api.app import create_app
from api.server import listening_socket, serve, setup_logging
from api.settings import Settings, SettingsError, load_settings
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.db.repository import load_config
from ingest.db.seed import seed_demo
from ingest.logs import get_logger
from simulator import AmiSimulator, CallCentre
from simulator.from_db import centre_from_db, realtime_members, realtime_update

log = get_logger("Demo")

DEMO_EXTRA = ("fakeredis", "lupa", "aiosqlite")
"""The modules `queue-status[demo]` adds: an in-process Redis with Lua, SQLite's driver."""


def require_demo_extra() -> None:
    """One line (SettingsError, exit 2) instead of a traceback when the extra is missing."""
    missing = [name for name in DEMO_EXTRA if find_spec(name) is None]
    if missing:
        raise SettingsError(
            f"the demo needs {', '.join(missing)}: pip install 'queue-status[demo]'"
        )


def demo_settings(port: int, workdir: Path, *, ami_port: int, ami_secret: str) -> Settings:
    """Settings of the demo: nothing outside this process is needed."""
    return load_settings(
        host="127.0.0.1",
        port=port,
        database_url=f"sqlite:///{workdir / 'demo.sqlite'}",
        redis_url="redis://in-process-fakeredis/0",
        redis_key_prefix="",
        # fakeredis, whatever the environment says of a cluster.
        redis_cluster=False,
        redis_cluster_nodes="",
        ami_enabled=True,
        ami_host="127.0.0.1",
        ami_port=ami_port,
        ami_username="demo",
        ami_secret=ami_secret,
        api_tokens="",
        _env_file=None,
    )


async def run_demo(port: int = 3000, workdir: Path | None = None) -> None:
    """Seed, start the simulated PBX, then serve the demo until interrupted."""
    require_demo_extra()
    directory = workdir or Path(tempfile.mkdtemp(prefix="queue-status-demo-"))
    ami_secret = secrets.token_urlsafe(16)
    # Settings, logging and the port first (the environment still supplies e.g.
    # CORS_ORIGINS, LOG_FILE): a bad one is one line before anything is seeded or started.
    settings = demo_settings(port, directory, ami_port=5038, ami_secret=ami_secret)
    setup_logging(settings)
    sock = listening_socket(settings.host, settings.port, settings.client_write_timeout)
    try:
        await _seed_and_serve(settings, directory, sock)
    finally:
        sock.close()


async def _seed_and_serve(settings: Settings, directory: Path, sock: socket.socket) -> None:
    import fakeredis  # the demo extra (`require_demo_extra`)

    database_url = settings.database_url.get_secret_value()
    ami_secret = settings.ami_secret.get_secret_value()
    await migrate(database_url)
    engine = make_engine(database_url)
    await seed_demo(engine)
    config = await load_config(engine)
    simulator = AmiSimulator(
        username="demo",
        secret=ami_secret,
        model=CallCentre(centre_from_db(config.queues, config.members)),
        # Asterisk's realtime behaviour: members reloaded from the demo's rows when a
        # queue is asked about, pauses and penalties written back into them.
        realtime_members=realtime_members(engine),
        realtime_update=realtime_update(engine),
    )
    await simulator.start()
    settings = demo_settings(
        settings.port, directory, ami_port=simulator.port, ami_secret=ami_secret
    )
    log.info("Demo database seeded at %s", directory / "demo.sqlite")
    log.info("Simulated Asterisk (AMI) on 127.0.0.1:%d", simulator.port)
    redis = fakeredis.FakeAsyncRedis()
    app = create_app(settings, redis=redis, engine=engine)
    try:
        await serve(app, settings, sock=sock)
    finally:
        await simulator.stop()
        await engine.dispose()
        await redis.aclose()
