"""The embedded demo: in-process fakeredis and a seeded SQLite call centre, the same app."""

from __future__ import annotations

import tempfile
from pathlib import Path

import fakeredis

from api.app import create_app
from api.server import serve
from ingest.config import Settings, load_settings
from ingest.db.engine import make_engine
from ingest.db.migrate import migrate
from ingest.db.seed import seed_demo
from ingest.logs import configure_logging, get_logger

log = get_logger("Demo")


def demo_settings(port: int, workdir: Path) -> Settings:
    """Settings of the demo: nothing outside this process is needed."""
    return load_settings(
        host="127.0.0.1",
        port=port,
        database_url=f"sqlite:///{workdir / 'demo.sqlite'}",
        redis_url="redis://in-process-fakeredis/0",
        redis_key_prefix="",
        ami_enabled=False,
        api_tokens="",
    )


async def run_demo(port: int = 3000, workdir: Path | None = None) -> None:
    """Seed, then serve the demo until interrupted."""
    directory = workdir or Path(tempfile.mkdtemp(prefix="queue-status-demo-"))
    settings = demo_settings(port, directory)
    configure_logging(settings.log_level, settings.log_path, settings.secrets())
    database_url = settings.database_url.get_secret_value()
    await migrate(database_url)
    engine = make_engine(database_url)
    await seed_demo(engine)
    log.info("Demo database seeded at %s", directory / "demo.sqlite")
    redis = fakeredis.FakeAsyncRedis()
    app = create_app(settings, redis=redis, engine=engine)
    try:
        await serve(app, settings)
    finally:
        await engine.dispose()
        await redis.aclose()
