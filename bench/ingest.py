"""Scenario 5: AMI events per second through parse → reduce → Redis, and Redis' ceiling.

The ingest figure comes from `bench.ingest_throughput` (the real `AmiIngest`
and `EventPipeline` in a process of its own, the simulator in another, in
rate mode over TCP). The rate it sustains is found first: short probes at
growing rates until one does not keep up (events received but not yet in
Redis keep growing, or the simulator drops the lagging reader), then two that
halve the gap between the last rate that kept up and that one; then 30 s at
the highest rate that kept up. Events per CPU-second of the ingest process are
reported beside it.

The ceiling is Redis' own rate for the same work: redis-benchmark (50
clients, pipelined) calling EVALSHA of the store's apply.lua, each call one
event's patch as the reducer writes it (a QueueMemberStatus), on a state of
the same number of operators, each call changing one of them.

    python -m bench.ingest --seconds 30 --rate 8000 --operators 1000 --queues 50
runs one ingest measurement and prints its figures as JSON (used by the run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
import uuid
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson
from redis.asyncio import Redis

from bench.centre import queue_count
from bench.config import BenchConfig
from bench.processes import project_path
from bench.redis_keys import delete_prefix
from ingest import gc_tuning
from ingest.ami.parser import EventParser
from ingest.clock import now_ms
from ingest.keys import KeySchema
from ingest.patches import Patch
from ingest.reducer import reduce
from ingest.store import StateStore


async def run_ingest(seconds: float, rate: float, operators: int, redis_url: str) -> dict[str, Any]:
    """One ingest measurement in a process of its own; its figures."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ingest",
        "--seconds",
        str(seconds),
        "--rate",
        str(rate),
        "--operators",
        str(operators),
        "--queues",
        str(queue_count(operators)),
        "--redis-url",
        redis_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": project_path()},
        # A session of its own: on a timeout, it and the simulator it spawned go together.
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(seconds + 120):
            out, err = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise RuntimeError(
            f"the ingest measurement did not end within {seconds + 120:.0f} s"
        ) from None
    for line in reversed(out.decode().splitlines()):
        if line.startswith("{"):
            figures: dict[str, Any] = orjson.loads(line)
            return figures
    raise RuntimeError(f"ingest measurement failed:\n{err.decode()[-3000:]}")


async def sustained(config: BenchConfig, operators: int) -> dict[str, Any]:
    """Probe for the highest rate that keeps up, then measure `ingest_seconds` at it."""
    probes: list[dict[str, Any]] = []

    async def probe(rate: float) -> bool:
        figures = await run_ingest(config.ingest_probe_seconds, rate, operators, config.redis_url)
        kept_up = _kept_up(figures, rate)
        probes.append(
            {
                "rate": rate,
                "kept_up": kept_up,
                "processed": figures["processed_per_s"],
                "backlog_end": figures["backlog_end"],
            }
        )
        return kept_up

    rate = config.ingest_first_rate
    kept: float | None = None
    failed: float | None = None
    while rate <= config.ingest_max_rate:
        if not await probe(rate):
            failed = rate
            break
        kept = rate
        rate = round(rate * 1.5)
    if kept is not None and failed is not None:
        for _ in range(config.ingest_refinements):
            middle = round((kept + failed) / 2)
            if await probe(middle):
                kept = middle
            else:
                failed = middle
    chosen = kept if kept is not None else config.ingest_first_rate / 2
    figures = await run_ingest(config.ingest_seconds, chosen, operators, config.redis_url)
    cpu = figures["ingest_cpu_percent"] / 100
    figures.pop("samples", None)
    figures["kept_up"] = _kept_up(figures, chosen)
    figures["probes"] = probes
    figures["events_per_cpu_second"] = round(figures["processed_per_s"] / cpu) if cpu else None
    return figures


def _kept_up(figures: dict[str, Any], rate: float) -> bool:
    """The ingest kept up: nothing dropped or disconnected, and at the end at most a
    quarter second of events received but not yet in Redis (in flight, not a backlog)."""
    return bool(
        figures["events_dropped"] == 0
        and figures["reconnects"] == 0
        and figures["slow_disconnects"] == 0
        and figures["backlog_end"] <= max(50, rate / 4)
    )


def _event_patch(member_id: str) -> bytes:
    """One QueueMemberStatus as the reducer turns it into a patch, in the store's wire
    form, plus a field that differs every call (so each call really changes the entity)."""
    message = {
        "Event": "QueueMemberStatus",
        "Queue": "q000",
        "MemberName": "Operator",
        "Interface": member_id,
        "StateInterface": member_id,
        "Membership": "realtime",
        "Penalty": "0",
        "CallsTaken": "12",
        "LastCall": "1700000000",
        "LastPause": "0",
        "LoginTime": "1700000000",
        "InCall": "0",
        "Status": "1",
        "Paused": "0",
        "PausedReason": "",
        "Ringinuse": "1",
        "Wrapuptime": "5",
    }
    event = EventParser().parse(message)
    assert event is not None
    wire = [change.to_wire() for change in reduce(event, now_ms())]
    wire[0]["s"]["currentCallId"] = "CALLID"
    return orjson.dumps(wire)


async def evalsha_ceiling(redis_url: str, operators: int, seconds: float) -> dict[str, Any]:
    """Redis' own EVALSHA rate of apply.lua, one event per call (redis-benchmark)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {"available": False, "reason": "redis-benchmark is not installed"}
    redis = Redis.from_url(redis_url)
    prefix = f"qs-bench-ceiling-{uuid.uuid4().hex[:10]}:"
    store = StateStore(redis, KeySchema(prefix))
    ids = [f"bench/{index:012d}" for index in range(operators)]
    try:
        for start in range(0, len(ids), 500):
            await store.apply(
                [
                    Patch(
                        "operator",
                        member_id,
                        {
                            "memberName": "Operator",
                            "stateInterface": member_id,
                            "status": "idle",
                            "queues": {"q000": {"queueName": "q000", "penalty": 0}},
                        },
                    )
                    for member_id in ids[start : start + 500]
                ]
            )
        source = resources.files("ingest.lua").joinpath("apply.lua").read_text(encoding="utf-8")
        sha = str(await redis.script_load(source))
        payload = (
            _event_patch("bench/MEMBERID")
            .replace(b"MEMBERID", b"__rand_int__")
            .replace(b"CALLID", b"__rand_int__")
            .decode()
        )
        url = urlsplit(redis_url)

        async def benchmark(requests: int) -> float:
            process = await asyncio.create_subprocess_exec(
                binary,
                "-h",
                url.hostname or "127.0.0.1",
                "-p",
                str(url.port or 6379),
                "-c",
                "50",
                "-P",
                "16",
                "-n",
                str(requests),
                "-r",
                str(operators),
                "--csv",
                "EVALSHA",
                sha,
                "0",
                prefix,
                str(now_ms()),
                payload,
                "0",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                async with asyncio.timeout(180):
                    out, err = await process.communicate()
            except TimeoutError:
                process.kill()
                await process.wait()
                raise RuntimeError("redis-benchmark did not end within 180 s") from None
            # "test","rps",… 6 latencies; the test (our command) is not escaped: read
            # the numbers from the right.
            for line in reversed(out.decode().splitlines()):
                if line.startswith('"EVALSHA'):
                    return float(line.strip().strip('"').rsplit('","', 7)[1])
            raise RuntimeError(f"redis-benchmark printed no rate:\n{out.decode()}{err.decode()}")

        calibration = await benchmark(2000)
        started = time.monotonic()
        requests = max(2000, int(calibration * seconds))
        per_second = await benchmark(requests)
        changed = await store.version()
        return {
            "available": True,
            "evalsha_per_s": per_second,
            "requests": requests,
            "seconds": round(time.monotonic() - started, 2),
            "operators": operators,
            "versions": changed,
        }
    finally:
        await delete_prefix(redis, prefix)
        await redis.aclose()


async def measure(config: BenchConfig, operators: int) -> dict[str, Any]:
    """Scenario 5 at `operators` operators."""
    ingest = await sustained(config, operators)
    ceiling = await evalsha_ceiling(config.redis_url, operators, config.ceiling_seconds)
    ratio = None
    if ceiling.get("available") and ceiling["evalsha_per_s"]:
        ratio = ingest["processed_per_s"] / ceiling["evalsha_per_s"]
    return {"ingest": ingest, "ceiling": ceiling, "ratio_to_ceiling": ratio}


def main() -> None:
    """One ingest measurement, printed as JSON."""
    from bench.ingest_throughput import run

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--operators", type=int, required=True)
    parser.add_argument("--queues", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    gc_tuning.tune()  # as `serve` does
    figures = run(
        args.seconds,
        args.rate,
        operators=args.operators,
        queues=args.queues,
        redis_url=args.redis_url,
    )
    print(orjson.dumps(figures).decode(), flush=True)


if __name__ == "__main__":
    main()
