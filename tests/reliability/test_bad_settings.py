"""Item 19: every bad setting, every subcommand: one line on stderr naming it, exit 2.

Each case is a setting (an environment variable, or a command-line option)
given a value that cannot work — one that does not parse, a CORS origin with
a path, a Redis URL with a port that is not a number, a key prefix with glob
characters, an AMI secret with a trailing newline, a weak token on a public
address, a port in use, a HOST that does not resolve, PostgreSQL down for
`migrate` — and each subcommand it applies to. The CLI must print exactly one
line on stderr that names the setting, nothing on stdout, never the value of
a secret (tokens, the AMI secret, passwords in URLs), and exit with 2.

The settings cases run `api.cli.main` in the test's process (`make test`);
those that fail only once the service starts (a port, a host, the database,
the log file) run the real console script, and `make reliability` runs every
case that way.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin, Subprotocol

from api.cli import main
from tests.reliability.conftest import AppFactory
from tests.reliability.env import record
from tests.reliability.procs import free_port

CANARY = f"c4n4ry{secrets.token_hex(8)}"
"""Part of every secret value below: it must never be printed."""
QS = str(Path(sys.executable).parent / "queue-status")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    """A bad setting: the variables (or options) that make it, and the name to see."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    commands: tuple[str, ...] = ("serve", "migrate")
    runtime: bool = False
    """Fails only once the service starts (run as a process in `make test` too)."""
    dotenv: str = ""
    """A `.env` file's text (a NUL cannot travel in an environment variable)."""

    def label(self) -> str:
        shown = {k: v.replace(CANARY, "<secret>") for k, v in self.env.items()}
        dotenv = self.dotenv.replace(CANARY, "<secret>")
        return f"{self.name} {shown or ' '.join(self.args) or dotenv!r}"


# What the demo reads from the environment (it sets the rest itself).
DEMO = ("serve", "migrate", "demo")
CASES = [
    Case("PORT", {"PORT": "not-a-port"}),
    Case("PORT", {"PORT": "70000"}),
    Case("HOST", {"HOST": ""}),
    Case("HOST", {"HOST": "two words"}),
    Case("REDIS_URL", {"REDIS_URL": f"redis://:{CANARY}@127.0.0.1:notaport/0"}),
    Case("REDIS_URL", {"REDIS_URL": f"http://:{CANARY}@127.0.0.1/0"}),
    Case("REDIS_URL", {"REDIS_URL": f"redis://:{CANARY}@127.0.0.1:6379/zero"}),
    Case("REDIS_URL", {"REDIS_URL": f"redis://:{CANARY}@127.0.0.1/0?socket_timeout=soon"}),
    Case("DATABASE_URL", {"DATABASE_URL": f"postgresql://u:{CANARY}@127.0.0.1:port/db"}),
    Case("DATABASE_URL", {"DATABASE_URL": f"mysql://u:{CANARY}@127.0.0.1/db"}),
    Case("DATABASE_URL", {"DATABASE_URL": f"postgresql+psycopg2://u:{CANARY}@127.0.0.1/db"}),
    Case("REDIS_SENTINELS", {"REDIS_SENTINELS": "127.0.0.1", "REDIS_SENTINEL_MASTER": "m"}),
    Case("REDIS_SENTINELS", {"REDIS_SENTINELS": "127.0.0.1:0", "REDIS_SENTINEL_MASTER": "m"}),
    Case(
        "REDIS_SENTINELS",
        {
            "REDIS_URL": "unix:///run/redis.sock",
            "REDIS_SENTINELS": "127.0.0.1:26379",
            "REDIS_SENTINEL_MASTER": "m",
        },
    ),
    Case("REDIS_SENTINEL_MASTER", {"REDIS_SENTINELS": "127.0.0.1:26379"}),
    Case("REDIS_SENTINEL_MASTER", {"REDIS_SENTINEL_MASTER": "mymaster"}),
    Case(
        "REDIS_SENTINEL_PASSWORD",
        {
            "REDIS_SENTINELS": "127.0.0.1:26379",
            "REDIS_SENTINEL_MASTER": "m",
            "REDIS_SENTINEL_PASSWORD": f"{CANARY}\n",
        },
    ),
    # Redis Cluster: a prefix without a hash tag, Sentinel too, a database, stray seeds
    # (values go through str.format: "{{main}}:" is the prefix {main}:).
    Case("REDIS_KEY_PREFIX", {"REDIS_CLUSTER": "true"}),
    Case("REDIS_KEY_PREFIX", {"REDIS_CLUSTER": "true", "REDIS_KEY_PREFIX": "pbx{{}}:"}),
    Case("REDIS_KEY_PREFIX", {"REDIS_CLUSTER": "true", "REDIS_KEY_PREFIX": "pbx{{1:"}),
    Case(
        "REDIS_CLUSTER",
        {
            "REDIS_CLUSTER": "true",
            "REDIS_KEY_PREFIX": "{{main}}:",
            "REDIS_SENTINELS": "127.0.0.1:26379",
            "REDIS_SENTINEL_MASTER": "m",
        },
    ),
    Case("REDIS_CLUSTER", {"REDIS_CLUSTER": "perhaps"}),
    Case("REDIS_CLUSTER_NODES", {"REDIS_CLUSTER_NODES": "127.0.0.1:7000"}),
    Case(
        "REDIS_CLUSTER_NODES",
        {"REDIS_CLUSTER": "true", "REDIS_KEY_PREFIX": "{{main}}:", "REDIS_CLUSTER_NODES": "a,b"},
    ),
    Case(
        "REDIS_URL",
        {
            "REDIS_CLUSTER": "true",
            "REDIS_KEY_PREFIX": "{{main}}:",
            "REDIS_URL": f"redis://:{CANARY}@127.0.0.1:6379/2",
        },
    ),
    Case(
        "REDIS_URL",
        {"REDIS_CLUSTER": "true", "REDIS_KEY_PREFIX": "{{main}}:", "REDIS_URL": "unix:///r.sock"},
    ),
    Case("REDIS_KEY_PREFIX", {"REDIS_KEY_PREFIX": "pbx[1]:"}),
    Case("REDIS_KEY_PREFIX", {"REDIS_KEY_PREFIX": "pbx?:"}),
    Case("REDIS_KEY_PREFIX", {"REDIS_KEY_PREFIX": "pbx*"}),
    Case("REDIS_KEY_PREFIX", {"REDIS_KEY_PREFIX": "pbx 1:"}),
    Case("AMI_ENABLED", {"AMI_ENABLED": "perhaps"}),
    Case("AMI_HOST", {"AMI_HOST": "two words"}),
    Case("AMI_PORT", {"AMI_PORT": "0"}),
    Case("AMI_USERNAME", {"AMI_USERNAME": "admin\n"}),
    Case("AMI_USERNAME", {"AMI_USERNAME": "ad\rmin"}),
    Case("AMI_SECRET", {"AMI_SECRET": f"{CANARY}\n"}),
    Case("AMI_SECRET", {"AMI_SECRET": f"{CANARY}\r\n"}),
    Case("AMI_SECRET", dotenv=f"AMI_SECRET={CANARY}\x00\n"),
    Case("AMI_USERNAME", dotenv="AMI_USERNAME=adm\x00in\n"),
    Case("AMI_RECONCILE_INTERVAL", {"AMI_RECONCILE_INTERVAL": "0"}),
    Case("AMI_PING_INTERVAL", {"AMI_PING_INTERVAL": "-1"}),
    Case("AMI_EVENTS", {"AMI_EVENTS": "call,agnet"}),
    Case("AMI_EVENTS", {"AMI_EVENTS": ","}),
    Case("API_TOKENS", {"API_TOKENS": f"wizard:{CANARY}"}),
    Case("API_TOKENS", {"API_TOKENS": "admin"}),
    Case("API_TOKENS", {"API_TOKENS": f"admin:{CANARY},supervisor:{CANARY}"}),
    Case("API_TOKENS", {"API_TOKENS": f"admin:{CANARY} x"}),
    Case("API_TOKENS", {"HOST": "0.0.0.0", "API_TOKENS": f"admin:{CANARY[:10]}"}),
    Case("API_TOKENS", {"HOST": "0.0.0.0", "API_TOKENS": f"admin:change-me-{CANARY}"}),
    Case("METRICS_TOKEN", {"HOST": "0.0.0.0", "METRICS_TOKEN": CANARY[:10]}),
    Case("METRICS_TOKEN", {"METRICS_TOKEN": f"{CANARY}\n"}, commands=DEMO),
    Case("CORS_ORIGINS", {"CORS_ORIGINS": "http://localhost:4200/app"}, commands=DEMO),
    Case("CORS_ORIGINS", {"CORS_ORIGINS": "localhost:4200"}, commands=DEMO),
    Case("CORS_ORIGINS", {"CORS_ORIGINS": "ftp://localhost:4200"}, commands=DEMO),
    Case("CORS_ORIGINS", {"CORS_ORIGINS": "http://localhost:99999"}, commands=DEMO),
    Case("ALLOWED_HOSTS", {"ALLOWED_HOSTS": "https://wallboard.example"}, commands=DEMO),
    Case("ALLOWED_HOSTS", {"ALLOWED_HOSTS": "two words"}, commands=DEMO),
    Case("LOG_LEVEL", {"LOG_LEVEL": "chatty"}, commands=DEMO),
    Case("CLIENT_WRITE_TIMEOUT", {"CLIENT_WRITE_TIMEOUT": "0"}, commands=DEMO),
    Case("MAX_BODY_BYTES", {"MAX_BODY_BYTES": "10"}, commands=DEMO),
    Case("MAX_BODY_BYTES", {"MAX_BODY_BYTES": "a lot"}, commands=DEMO),
    Case("GRAPHQL_INTROSPECTION", {"GRAPHQL_INTROSPECTION": "sometimes"}, commands=DEMO),
    Case("GRAPHQL_MAX_DEPTH", {"GRAPHQL_MAX_DEPTH": "0"}, commands=DEMO),
    Case("GRAPHQL_WS_MAX_CONNECTIONS", {"GRAPHQL_WS_MAX_CONNECTIONS": "0"}, commands=DEMO),
    Case("GRAPHQL_SUBSCRIBER_BUFFER", {"GRAPHQL_SUBSCRIBER_BUFFER": "-5"}, commands=DEMO),
    # Refused once the service starts.
    Case("LOG_FILE", {"LOG_FILE": "/proc/no-such-dir/app.log"}, commands=DEMO, runtime=True),
    Case("PORT", {"PORT": "{held}"}, commands=("serve",), runtime=True),
    Case("PORT", args=("--port", "{held}"), commands=("demo",), runtime=True),
    Case("HOST", {"HOST": "no-such-host.invalid"}, commands=("serve",), runtime=True),
    Case("HOST", {"HOST": "192.0.2.1"}, commands=("serve",), runtime=True),
    Case(
        "DATABASE_URL",
        {"DATABASE_URL": f"postgresql://postgres:{CANARY}@127.0.0.1:{{dead}}/db"},
        commands=("migrate",),
        runtime=True,
    ),
    # The simulator's own options (and the AMI_SECRET it takes by default).
    Case("--port", args=("--port", "{held}"), commands=("simulate",), runtime=True),
    Case("--host", args=("--host", "no-such-host.invalid"), commands=("simulate",), runtime=True),
    Case("--replay", args=("--replay", "/no/such/trace.jsonl"), commands=("simulate",)),
    Case("AMI_SECRET", {"AMI_SECRET": f"{CANARY}\n"}, commands=("simulate",)),
]
RUNS = [(case, command) for case in CASES for command in case.commands]


@pytest.fixture(scope="module")
def held_port() -> Iterator[int]:
    """A port some other process listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def environment(case: Case, held: int, dead: int) -> dict[str, str]:
    """The case's variables over a base that fails fast if the case does not: the port is
    taken, Redis and PostgreSQL are not there (no server ever starts by mistake)."""
    base = {
        "PORT": str(held),
        "HOST": "127.0.0.1",
        "REDIS_URL": f"redis://127.0.0.1:{dead}/0",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{dead}/none",
        "AMI_ENABLED": "false",
        "LOG_FILE": "",
    }
    filled = {k: v.format(held=held, dead=dead) for k, v in case.env.items()}
    return {**base, **filled}


def argv(case: Case, command: str, held: int) -> list[str]:
    extra = [arg.format(held=held) for arg in case.args]
    if command == "simulate" and "--port" not in extra:
        extra += ["--port", "0"]
    return [command, *extra]


def judge(case: Case, command: str, code: int, out: str, err: str) -> None:
    where = f"{command}: {case.label()}"
    assert code == 2, (where, code, err[-2000:])
    assert out == "", (where, out)
    assert err.endswith("\n") and err.count("\n") == 1, (where, err)
    assert err.startswith(f"queue-status {command}: "), (where, err)
    assert case.name in err, (where, err)
    assert CANARY not in err, (where, err)
    assert "Traceback" not in err


async def run_process(case: Case, command: str, held: int, dead: int) -> tuple[int, str, str]:
    """The real console script; settings from the environment and the case's `.env` only."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        **environment(case, held, dead),
    }
    with tempfile.TemporaryDirectory(prefix="qs-rel-settings-") as directory:
        (Path(directory) / ".env").write_text(case.dotenv, encoding="utf-8")
        done = await asyncio.to_thread(
            subprocess.run,
            [QS, *argv(case, command, held)],
            env=env,
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    ("case", "command"),
    [run for run in RUNS if not run[0].runtime],
    ids=[f"{c}-{case.label()}" for case, c in RUNS if not case.runtime],
)
def test_a_bad_setting_is_one_line(
    case: Case,
    command: str,
    held_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env but the case's
    (tmp_path / ".env").write_text(case.dotenv, encoding="utf-8")
    for name in list(os.environ):
        if name.startswith(("API_", "AMI_", "REDIS_", "GRAPHQL_", "CORS", "ALLOWED", "METRICS")):
            monkeypatch.delenv(name)
    for name, value in environment(case, held_port, free_port()).items():
        monkeypatch.setenv(name, value)
    code = main(argv(case, command, held_port))
    captured = capsys.readouterr()
    judge(case, command, code, captured.out, captured.err)


async def processes(runs: list[tuple[Case, str]], held: int) -> None:
    """Run each as the real console script, two at a time (two cores), and judge it."""
    dead = free_port()
    gate = asyncio.Semaphore(2)

    async def one(case: Case, command: str) -> None:
        async with gate:
            judge(case, command, *await run_process(case, command, held, dead))

    await asyncio.gather(*(one(case, command) for case, command in runs))


async def test_a_failure_at_start_is_one_line(held_port: int) -> None:
    await processes([run for run in RUNS if run[0].runtime], held_port)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_every_bad_setting_of_every_subcommand(held_port: int) -> None:
    """All of them as real processes."""
    await processes(RUNS, held_port)
    by_command = {
        c: sum(1 for _, run in RUNS if run == c) for c in dict.fromkeys(c for _, c in RUNS)
    }
    record(
        "19",
        f"{len(CASES)} bad settings (unparsable values, CORS origin with a path or without a "
        "scheme, REDIS_URL port not a number, glob key prefix, AMI username/secret with CR/LF/"
        "NUL, weak or change-me token beyond loopback, LOG_FILE unwritable, port in use, HOST "
        "unresolvable or not ours, PostgreSQL down for migrate) × the subcommands they apply to",
        "each: one line on stderr naming the setting, nothing on stdout, no secret, exit 2",
        runs=len(RUNS),
        **{f"{command} runs": n for command, n in by_command.items()},
        settingsNamed=len({case.name for case in CASES}),
        tracebacks=0,
        secretsShown=0,
    )


async def test_origins_are_normalised_for_cors_writes_and_websockets(
    app_factory: AppFactory, lab_db: str
) -> None:
    """A trailing slash, capitals or a default port used to half-work: writes from the
    origin were accepted but CORS headers were missing (the browser could not read)."""
    async with app_factory(
        database_url=lab_db, cors_origins="HTTP://LocalHost:4200/ , https://spa.example.org:443/"
    ) as running:
        for origin in ("http://localhost:4200", "https://spa.example.org"):
            read = await running.http.get("/api/queue-status/operators", headers={"Origin": origin})
            assert read.headers.get("access-control-allow-origin") == origin, read.headers
            write = await running.http.post(
                "/api/queue-status/operators",
                json={"memberId": "PJSIP/1001", "status": "idle"},
                headers={"Origin": origin},
            )
            assert write.status_code == 201, write.text
            assert write.headers.get("access-control-allow-origin") == origin
            async with connect(
                running.ws_url,
                subprotocols=[Subprotocol("graphql-transport-ws")],
                origin=Origin(origin),
            ) as ws:
                assert ws.subprotocol == "graphql-transport-ws"
