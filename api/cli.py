"""`queue-status`: serve, migrate, demo (and the AMI simulator)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ingest.config import SettingsError, load_settings
from ingest.logs import configure_logging, get_logger


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="queue-status", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the API and the AMI ingest (default)")
    serve.add_argument("--host", help="override HOST")
    serve.add_argument("--port", type=int, help="override PORT")
    commands.add_parser("migrate", help="create the realtime queue tables where missing")
    demo = commands.add_parser(
        "demo", help="everything embedded: fakeredis, SQLite, live demo data"
    )
    demo.add_argument("--port", type=int, default=3000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    try:
        if command == "demo":
            from api.demo import run_demo

            asyncio.run(run_demo(port=args.port))
            return 0
        overrides = {}
        if command == "serve":
            if args.host:
                overrides["host"] = args.host
            if args.port is not None:
                overrides["port"] = args.port
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"queue-status: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    configure_logging(settings.log_level, settings.log_path, settings.secrets())
    try:
        if command == "migrate":
            from ingest.db.engine import redact_url
            from ingest.db.migrate import migrate

            created = asyncio.run(migrate(settings.database_url.get_secret_value()))
            log = get_logger("Migrate")
            url = redact_url(settings.database_url.get_secret_value())
            log.info("Migrated %s: %s", url, ", ".join(created) if created else "nothing to create")
            return 0
        from api.app import create_app
        from api.server import serve

        asyncio.run(serve(create_app(settings), settings))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
