"""One benchmark run: every scenario at every size, then the report.

    python -m bench                  # the full run (make bench)
    python -m bench --smoke          # tiny sizes: the harness works (tests/bench)
    python -m bench --sizes 1000 --output /tmp/bench

Per size: a PostgreSQL database, the simulated Asterisk and the product
server are set up (`bench.stack`); HTTP (scenarios 1, 2, 4), Redis vs
PostgreSQL (3) and subscriptions (6) run against them; the ingest (5) runs
after them, alone with Redis. Then the real AMI message mix (5b: the recorded
traffic, three ways) through the ingest, the wallboard in Chromium (7) at 200
operators on a stack of its own, and at 1,000 operators fed from a recorded
changes stream (7b), the KPI query (8), API replicas (9): three `serve --role
api` processes with 1,000 subscribers each, and an AMI burst (10): 45,700
messages as fast as TCP allows while the API is timed. Results go to
`results.json`, `results.txt`,
`results.md` and `results.png` in the output directory, and the table with
every goal met or not is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    burst,
    db_vs_redis,
    http,
    ingest,
    ingest_mix,
    kpi_query,
    records_throughput,
    replicas,
    subscriptions,
    wallboard,
    wallboard_replay,
)
from bench.config import BenchConfig
from bench.figures import Results, figure_at
from bench.http_load import wrk_available
from bench.report import table, write
from bench.stack import running_stack

DEFAULT_OUTPUT = Path(__file__).resolve().parent


def _machine() -> dict[str, Any]:
    def version(*command: str, any_status: bool = False) -> str | None:
        try:
            done = subprocess.run(  # noqa: S603 - fixed commands (versions)
                command, capture_output=True, text=True, timeout=5, check=False
            )
        except OSError:
            return None
        printed = (done.stdout or done.stderr).strip().splitlines()
        return printed[0] if printed and (done.returncode == 0 or any_status) else None

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "redis": version("redis-server", "--version"),
        # wrk prints its version and exits with 1.
        "wrk": version("wrk", "--version", any_status=True) if wrk_available() else None,
        "redis_benchmark": shutil.which("redis-benchmark") is not None,
    }


async def run(
    config: BenchConfig, *, progress: Callable[[str], None] = print, workdir: Path | None = None
) -> Results:
    """Measure everything; the results (not yet written)."""
    started = time.time()
    results: Results = {
        "config": dataclasses.asdict(config),
        "machine": _machine(),
        "started": started,
        "sizes": {},
    }
    directory = workdir or Path(tempfile.mkdtemp(prefix="queue-status-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    for size in config.sizes:
        figures: dict[str, Any] = {}
        results["sizes"][str(size)] = figures
        progress(f"== {size:,} operators: setting up")
        async with running_stack(
            size,
            pg_admin_url=config.pg_admin_url,
            redis_url=config.redis_url,
            workdir=directory,
            warm_seconds=config.warm_seconds,
        ) as stack:
            status = await stack.sync_status()
            figures["dataset"] = {
                "operators": status["redisOperators"],
                "queues": status["redisQueues"],
                "channels": status["redisChannels"],
                "label": (
                    f"{status['redisOperators']:,} / {status['redisQueues']:,} / "
                    f"{status['redisChannels']:,}"
                ),
            }
            progress(f"   {figures['dataset']['label']} operators / queues / channels")
            progress("   REST, the limit, GraphQL over HTTP")
            figures["http"] = await http.measure(stack, config)
            progress("   Redis vs PostgreSQL")
            figures["db_vs_redis"] = await db_vs_redis.measure(stack, config.db_iterations)
            figures["subscriptions"] = []
            at_goal = config.goal_subscriber_counts if size == config.goal_size else ()
            for count in config.subscriber_counts + at_goal:
                progress(f"   {count:,} subscribers")
                figures["subscriptions"] += await subscriptions.measure(
                    stack,
                    subscribers=count,
                    rates=list(config.change_rates),
                    seconds=config.subscription_seconds,
                    workdir=directory,
                    # Enough to take up what the server freed after its start, which
                    # grows with the state it loaded.
                    filler=max(config.subscription_filler, size),
                )
        progress("   ingest, and Redis' EVALSHA ceiling")
        figures["ingest"] = await ingest.measure(config, size)
    progress(f"== the real AMI mix: {config.mix_loops} loops of the recorded traffic, 3 ways")
    ceiling = figure_at(results, "sizes", config.goal_size, "ingest", "ceiling")
    results["mix"] = await ingest_mix.measure_scenario(config.mix_loops, config.redis_url, ceiling)
    for line in ingest_mix.describe(results["mix"]):
        progress(f"   {line}")
    progress("== call records written per second at 10,000 events/s")
    results["records"] = await records_throughput.measure(
        config.ingest_seconds,
        10_000.0,
        redis_url=config.redis_url,
        pg_admin_url=config.pg_admin_url,
    )
    progress(records_throughput.report(results["records"]))
    progress(f"== the wallboard in Chromium at {config.wallboard_operators:,} operators")
    results["wallboard"] = await wallboard.measure(config, directory)
    progress(
        f"== the wallboard at {config.wallboard_replay_operators:,} operators fed from a "
        f"recording of {config.wallboard_replay_changes_per_s:,.0f} changes/s"
    )
    results["wallboard_replay"] = await wallboard_replay.measure(config, directory)
    progress(
        f"== queueStats(today, interval 900) over {config.kpi_days} days of "
        f"{config.kpi_calls_per_hour:,} calls/hour"
    )
    results["kpi"] = await kpi_query.measure(config, directory)
    progress(
        f"== {config.replica_count} api replicas × {config.replica_subscribers:,} subscribers "
        f"at {config.replica_rate:.0f} changes/s"
    )
    results["replicas"] = await replicas.measure(config, directory)
    progress(f"   {replicas.summary(results['replicas'])}")
    progress(f"== an AMI burst of {config.burst_messages:,} messages while the API is timed")
    results["burst"] = await burst.measure(config, directory)
    progress(f"   {burst.summary(results['burst'])}")
    results["seconds"] = round(time.time() - started, 1)
    if workdir is None:
        shutil.rmtree(directory, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: run, write, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and durations")
    parser.add_argument("--sizes", help="comma-separated operator counts, e.g. 100,1000")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    config = (BenchConfig.smoke() if args.smoke else BenchConfig()).with_services()
    if args.sizes:
        sizes = tuple(int(part) for part in args.sizes.split(","))
        goal = config.goal_size if config.goal_size in sizes else max(sizes)
        config = dataclasses.replace(config, sizes=sizes, goal_size=goal)
    results = asyncio.run(run(config))
    written = write(results, args.output)
    print()
    print(table(results))
    print()
    for path in written:
        print(f"wrote {path}")
    if "chart" in results:
        print(f"no chart: {results['chart']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
