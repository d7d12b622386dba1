"""`queue-status`: serve, migrate, demo, import-queue-log (and the AMI simulator)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from api.settings import Settings, SettingsError, load_settings
from ingest.config_checks import no_line_breaks
from ingest.logs import configure_logging, get_logger


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="queue-status", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the API and the AMI ingest (default)")
    serve.add_argument("--host", help="override HOST")
    serve.add_argument("--port", type=int, help="override PORT")
    serve.add_argument(
        "--role",
        choices=("api", "ingest", "all"),
        default="all",
        help="api: REST/GraphQL/wallboard only; ingest: the elected AMI ingest and the call "
        "records, with only /healthz and /metrics; all: both (default)",
    )
    commands.add_parser("migrate", help="create the realtime queue tables where missing")
    demo = commands.add_parser(
        "demo", help="everything embedded: fakeredis, SQLite, live demo data"
    )
    demo.add_argument("--port", type=int, default=3000)
    imports = commands.add_parser(
        "import-queue-log",
        help="load Asterisk's queue_log into the call records (idempotent)",
    )
    imports.add_argument("file", metavar="FILE", help="a queue_log file")
    imports.add_argument("--pbx", default="", help="the PBX the file comes from (default none)")
    imports.add_argument(
        "--batch", type=_positive_int, default=1000, help="records per transaction (1000)"
    )
    _add_simulate(commands)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _add_simulate(commands: Any) -> None:
    simulate = commands.add_parser(
        "simulate",
        help="a simulated Asterisk: an AMI server with live call-centre traffic or a replay",
        description="A real TCP server speaking AMI: the lab call centre (or a generated "
        "one) with live traffic, or a recorded trace replayed.",
    )
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=5038, help="0: any free port (printed)")
    source = simulate.add_mutually_exclusive_group()
    source.add_argument(
        "--rate",
        type=_positive_float,
        metavar="EVENTS_PER_S",
        help="virtual time, about this many events per second (load tests)",
    )
    source.add_argument(
        "--replay",
        metavar="FILE",
        help="replay a recorded trace: a name such as b_single_call, or a .jsonl path",
    )
    simulate.add_argument("--username", default="admin")
    simulate.add_argument(
        "--secret", help="default: $AMI_SECRET, else one generated and printed at startup"
    )
    simulate.add_argument(
        "--operators", type=_positive_int, help="a generated call centre (default: the lab)"
    )
    simulate.add_argument(
        "--queues", type=_positive_int, help="queues of the generated call centre (default 1)"
    )
    simulate.add_argument("--seed", type=int, help="repeatable traffic")
    simulate.add_argument(
        "--read",
        metavar="CLASSES",
        help="the manager user's read classes, as in manager.conf (default all); "
        "e.g. call,agent: no FullyBooted, no dialplan events",
    )
    simulate.add_argument(
        "--write",
        metavar="CLASSES",
        help="the manager user's write classes (default all); e.g. agent: CoreShowChannels "
        "and DeviceStateList answered 'Permission denied'",
    )
    simulate.add_argument(
        "--queue-log",
        metavar="FILE",
        help="append Asterisk's queue_log of the simulated calls to FILE (live traffic only)",
    )
    simulate.add_argument(
        "--timestamps",
        action="store_true",
        help="a Timestamp header on every event, as manager.conf timestampevents = yes",
    )


def _simulate(args: argparse.Namespace) -> int:
    """Run the AMI simulator until interrupted (Ctrl-C or SIGTERM)."""
    from simulator import AmiSimulator, Privileges, serve

    if args.replay is not None and (args.operators is not None or args.queues is not None):
        print(
            "queue-status simulate: --operators/--queues do not apply to --replay", file=sys.stderr
        )
        return 2
    if args.queues is not None and args.operators is None:
        print("queue-status simulate: --queues needs --operators", file=sys.stderr)
        return 2
    if args.replay is not None and args.queue_log is not None:
        print("queue-status simulate: --queue-log does not apply to --replay", file=sys.stderr)
        return 2
    if args.queue_log is not None:
        _check_queue_log(args.queue_log)
    secret = args.secret or os.environ.get("AMI_SECRET") or ""
    for name, value in (("--username", args.username), ("AMI_SECRET/--secret", secret)):
        try:
            no_line_breaks(value)
        except ValueError as exc:
            raise SettingsError(f"Invalid setting {name}: {exc}") from None
    generated = not secret
    if generated:
        secret = secrets.token_urlsafe(16)
    configure_logging("INFO", None, [secret])

    def ready(sim: AmiSimulator) -> None:
        what = f"replaying {args.replay}" if args.replay else "live traffic"
        print(f"AMI simulator listening on {sim.host}:{sim.port} ({what})", flush=True)
        # The simulator's own throwaway secret; one given to us is never printed.
        who = f"username {args.username}"
        print(f"{who}, secret {secret}" if generated else who, flush=True)

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(
                args.host,
                args.port,
                username=args.username,
                secret=secret,
                rate=args.rate,
                replay_path=args.replay,
                seed=args.seed,
                operators=args.operators,
                queues=args.queues,
                privileges=Privileges.parse(args.read, args.write),
                ready=ready,
                queue_log=args.queue_log,
                timestamps=args.timestamps,
            )

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    except (OSError, LookupError, ValueError) as exc:
        # A trace that is not there, a port in use: one line naming the option, exit 2.
        raise SettingsError(_simulate_problem(exc, args)) from None
    return 0


def _check_queue_log(path: str) -> None:
    """The --queue-log file can be appended to, or a SettingsError naming the option."""
    from simulator.queue_log import QueueLogWriter

    try:
        QueueLogWriter(path).check()
    except OSError as exc:
        raise SettingsError(
            f"Invalid setting --queue-log: cannot append to {path!r} ({exc.strerror or exc})"
        ) from None


def _simulate_problem(exc: Exception, args: argparse.Namespace) -> str:
    """The option to change, and why."""
    detail = (str(exc).splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, socket.gaierror):
        return f"Invalid setting --host: cannot resolve {args.host!r} ({exc.strerror})"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"Invalid setting --port: {args.host}:{args.port} is already in use"
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
        return f"Invalid setting --host/--port: cannot listen on {args.host}:{args.port} ({detail})"
    if args.replay is not None:
        return f"Invalid setting --replay: {detail}"
    return detail


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script.

    An expected failure — a bad setting, a port in use, a host that does not
    resolve, the database down for `migrate` — is one line on stderr naming
    the setting (never a secret's value) and exit code 2, not a traceback.
    """
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    try:
        if command == "simulate":
            # The simulator is its own peer: it needs none of the app's settings.
            return _simulate(args)
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
        from api.server import setup_logging  # uvicorn and FastAPI: only once settings are good

        setup_logging(settings)
        if command == "migrate":
            return _migrate(settings)
        if command == "import-queue-log":
            from api.import_queue_log import run_import

            return run_import(settings, args.file, pbx=args.pbx, batch=args.batch)
        from api.app import create_app
        from api.server import serve

        asyncio.run(serve(create_app(settings, role=args.role), settings))
    except SettingsError as exc:
        print(f"queue-status {command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def _migrate(settings: Settings) -> int:
    # Alembic announces each of its plugins at INFO when imported: noise before the one
    # line that matters when the database is down.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from ingest.db.engine import DatabaseUnavailable, redact_url
    from ingest.db.migrate import migrate

    try:
        created = asyncio.run(migrate(settings.database_url.get_secret_value()))
    except DatabaseUnavailable as exc:
        raise SettingsError(
            f"cannot migrate: database unavailable (DATABASE_URL): {exc.reason}"
        ) from None
    log = get_logger("Migrate")
    url = redact_url(settings.database_url.get_secret_value())
    log.info("Migrated %s: %s", url, ", ".join(created) if created else "nothing to create")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
