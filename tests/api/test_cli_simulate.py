"""`queue-status simulate`: the AMI simulator as a process of its own, reached over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.cli import main
from ingest.ami.message import AmiMessageDict
from simulator.wire import BANNER, read_message, serialize

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0
READY = re.compile(r"AMI simulator listening on 127\.0\.0\.1:(?P<port>\d+) \((?P<what>.+)\)")


@dataclass
class Simulator:
    """The running subprocess and what it printed at startup."""

    process: asyncio.subprocess.Process
    port: int
    what: str
    lines: list[str]
    stderr: Path

    async def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        """Interrupt it; its exit code, everything it printed and everything it logged."""
        self.process.send_signal(sig)
        assert self.process.stdout is not None
        rest = await asyncio.wait_for(self.process.stdout.read(), TIMEOUT)
        code = await asyncio.wait_for(self.process.wait(), TIMEOUT)
        out = "\n".join(self.lines) + rest.decode()
        return code, out, self.stderr.read_text()


@asynccontextmanager
async def simulate(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Simulator]:
    """`python -m api.cli simulate --port 0 ARGS` until the block ends."""
    environment = {k: v for k, v in os.environ.items() if k != "AMI_SECRET"}
    environment.update(env or {})
    stderr = tmp_path / "simulate.stderr"
    with stderr.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "simulate",
            "--port",
            "0",
            *args,
            cwd=ROOT,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(TIMEOUT):
            while len(lines) < 2:
                line = (await process.stdout.readline()).decode()
                assert line, f"the simulator exited: {stderr.read_text()}"
                lines.append(line.rstrip("\n"))
        ready = READY.fullmatch(lines[0])
        assert ready is not None, lines
        yield Simulator(process, int(ready["port"]), ready["what"], lines, stderr)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class Client:
    """A raw AMI client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, message: dict[str, str]) -> None:
        self.writer.write(serialize(message))
        await self.writer.drain()

    async def read(self) -> AmiMessageDict:
        return await asyncio.wait_for(read_message(self.reader), TIMEOUT)

    async def login(self, secret: str, username: str = "admin") -> AmiMessageDict:
        await self.send(
            {"Action": "Login", "ActionID": "login", "Username": username, "Secret": secret}
        )
        return await self.read()

    async def events(self, count: int) -> list[AmiMessageDict]:
        found: list[AmiMessageDict] = []
        while len(found) < count:
            message = await self.read()
            if "Event" in message and "ActionID" not in message:
                found.append(message)
        return found


@asynccontextmanager
async def connected(port: int) -> AsyncIterator[Client]:
    """A client past the banner, closed when the block ends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == BANNER
        yield Client(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_live_traffic_with_a_generated_secret(tmp_path: Path) -> None:
    args = ("--rate", "2000", "--operators", "12", "--queues", "3", "--seed", "5")
    async with simulate(tmp_path, *args) as sim:
        assert sim.what == "live traffic"
        credentials = re.fullmatch(r"username admin, secret (?P<secret>\S+)", sim.lines[1])
        assert credentials is not None, sim.lines
        secret = credentials["secret"]

        async with connected(sim.port) as refused:
            assert (await refused.login("not-" + secret))["Response"] == "Error"

        async with connected(sim.port) as client:
            assert (await client.login(secret)) == {
                "Response": "Success",
                "ActionID": "login",
                "Message": "Authentication accepted",
            }
            events = await client.events(200)
        assert events[0]["Event"] == "FullyBooted"
        names = {e["Event"] for e in events}
        assert {"Newchannel", "QueueCallerJoin"} <= names
        queues = {e["Queue"] for e in events if "Queue" in e}
        assert queues <= {"q00", "q01", "q02"}
        code, out, logged = await sim.stop()
    assert code == 0
    assert out.count(secret) == 1, "printed once, at startup"
    assert secret not in logged


async def test_replay_with_the_secret_from_the_environment(tmp_path: Path) -> None:
    canary = "ami-secret-canary-7f3a"
    async with simulate(
        tmp_path, "--replay", "b_single_call", "--username", "ops", env={"AMI_SECRET": canary}
    ) as sim:
        assert (sim.what, sim.lines[1]) == ("replaying b_single_call", "username ops")
        async with connected(sim.port) as client:
            assert (await client.login(canary, username="ops"))["Response"] == "Success"
            booted = await client.events(2)
            await client.send({"Action": "QueueStatus", "ActionID": "qs"})
            listing = [await client.read()]
            while listing[-1].get("Event") != "QueueStatusComplete":
                listing.append(await client.read())
            streamed = await client.events(10)
        assert [e["Event"] for e in booted] == ["FullyBooted", "SuccessfulAuth"]
        assert all(m["ActionID"] == "qs" for m in listing)
        assert {m.get("Queue") for m in listing[1:-1]} == {"billing", "sales", "support"}
        # The recording's own events follow the startup answer.
        assert [e["Event"] for e in streamed[:2]] == ["Newchannel", "Newchannel"]
        code, out, logged = await sim.stop(signal.SIGTERM)
    assert code == 0
    assert canary not in out
    assert canary not in logged


async def test_replay_to_a_least_privilege_user(tmp_path: Path) -> None:
    args = ("--replay", "b_single_call", "--read", "call,agent", "--write", "agent")
    async with simulate(tmp_path, *args) as sim:
        secret = sim.lines[1].rpartition(" ")[2]
        async with connected(sim.port) as client:
            assert (await client.login(secret))["Response"] == "Success"
            for action in ("CoreShowChannels", "DeviceStateList"):
                await client.send({"Action": action, "ActionID": action})
                assert await client.read() == {
                    "Response": "Error",
                    "ActionID": action,
                    "Message": "Permission denied",
                }
            await client.send({"Action": "QueueStatus", "ActionID": "qs"})
            listing = [await client.read()]
            while listing[-1].get("Event") != "QueueStatusComplete":
                listing.append(await client.read())
            streamed = await client.events(20)
        # No FullyBooted or SuccessfulAuth came before the answers; no dialplan event after.
        assert listing[0]["Response"] == "Success"
        assert {e["Privilege"] for e in streamed} <= {"call,all", "agent,all"}
        await sim.stop()


@pytest.mark.parametrize(
    "args",
    [
        ["--replay", "b_single_call", "--rate", "100"],
        ["--rate", "0"],
        ["--operators", "0"],
    ],
)
def test_contradictory_or_invalid_options_are_refused(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *args])
    assert exited.value.code == 2
    assert "queue-status simulate: error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replay", "b_single_call", "--operators", "3"], "do not apply to --replay"),
        (["--queues", "3"], "--queues needs --operators"),
        (["--replay", "b_single_call", "--queue-log", "x"], "--queue-log does not apply"),
    ],
)
def test_options_that_need_others(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_trace_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--port", "0", "--replay", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("queue-status simulate: ") and err.count("\n") == 1
    assert "nope.jsonl" in err


def test_an_unwritable_queue_log_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "no-such-dir" / "queue_log"
    assert main(["simulate", "--port", "0", "--queue-log", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("queue-status simulate: Invalid setting --queue-log") and str(path) in err
    assert err.count("\n") == 1


async def test_live_traffic_with_timestamps_and_a_queue_log(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    args = ("--rate", "2000", "--seed", "3", "--timestamps", "--queue-log", str(log))
    async with simulate(tmp_path, *args) as sim:
        secret = sim.lines[1].rpartition(" ")[2]
        async with connected(sim.port) as client:
            assert (await client.login(secret))["Response"] == "Success"
            events = await client.events(300)
        code, _, _ = await sim.stop()
    assert code == 0
    assert all(re.fullmatch(r"\d{10}\.\d{6}", str(e["Timestamp"])) for e in events)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith("|NONE|NONE|NONE|QUEUESTART|")
    joined = {e["Uniqueid"] for e in events if e["Event"] == "QueueCallerJoin"}
    entered = {line.split("|")[1] for line in lines if "|ENTERQUEUE|" in line}
    assert joined and joined <= entered
