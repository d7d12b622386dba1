"""Scenario 7: the wallboard in headless Chromium at 200 operators under live traffic.

The product server (its own process, AMI ingest connected to the simulator
in this process), Chromium (processes of its own) and the simulator share the
machine, as on a wallboard PC next to a small server. While the page follows
the `changes` subscription, the simulated call centre runs in real time
(callers arrive, ring, talk, hang up) and on top of it `changes_per_s`
QueueMemberStatus events a second change operators' statuses, for `seconds`.
Measured in the page: every long task (> 50 ms of main thread) and frame
from the first change until the page shows the store's last version, and how
long after the last change that was. Then a few status mutations over
GraphQL: the time from sending each until its tile shows it.

    python -m bench.wallboard [--operators 200]   # this scenario alone

Goals: no long task of 250 ms or more and at least 20 frames/s while it
follows (no visible stutter), and a mutation on its tile within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page

from bench.browser import (
    WATCH_MAIN_THREAD_JS,
    chromium,
    chromium_missing,
    keeps_up,
    longest_task_text,
    main_thread,
    page_version,
    wait_live,
)
from bench.config import BenchConfig
from bench.stack import Stack, running_stack
from bench.subscriptions import Markers

LONGEST_TASK_MS = 250.0
MIN_FRAMES_PER_S = 20.0
MUTATION_MS = 2000.0
TICK = 0.02
CATCH_UP_TIMEOUT = 30.0

SET_STATUS = """
mutation Set($input: SetOperatorStatusInput!) {
  setOperatorStatus(input: $input) { memberId status version }
}"""

# Device states a QueueMemberStatus carries (NOT_INUSE, INUSE, RINGING, ONHOLD,
# UNAVAILABLE) and whether the member is then in a call: every tile state but one.
_STATUSES = (("1", "0"), ("6", "0"), ("2", "1"), ("8", "1"), ("5", "0"))


def _status_changes(markers: Markers, count: int, offset: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for n, event in enumerate(markers.next(count)):
        status, in_call = _STATUSES[(offset + n) % len(_STATUSES)]
        events.append({**event, "Status": status, "InCall": in_call})
    return events


async def _drive(stack: Stack, rate: float, seconds: float) -> int:
    """Live calls in real time plus `rate` status changes a second; the changes sent."""
    markers = Markers(stack)
    loop = asyncio.get_running_loop()
    started = last = loop.time()
    emitted = 0
    while (now := loop.time()) - started < seconds:
        stack.simulator.advance(now - last)  # the call centre's own traffic
        last = now
        due = int(rate * (now - started)) - emitted
        if due > 0:
            stack.simulator.emit(_status_changes(markers, due, emitted))
            emitted += due
        await asyncio.sleep(TICK)
    return emitted


async def _caught_up(stack: Stack, page: Page) -> float | None:
    """When the page showed the store's last version (monotonic), None if never."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while time.monotonic() < deadline:
        version = await stack.store.version()
        if await page_version(page) >= version:
            reached = time.monotonic()
            await asyncio.sleep(0.1)  # an event still in the ingest would move the store on
            if await stack.store.version() == version:
                return reached
        await asyncio.sleep(0.01)
    return None


async def _mutation_ms(stack: Stack, page: Page, count: int) -> list[float]:
    """From sending a setOperatorStatus until the operator's tiles show it, `count` times."""
    ids = sorted(await stack.store.ids("operator"))
    times: list[float] = []
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        for n in range(count):
            member = ids[(n * 7) % len(ids)]
            current = await stack.store.get("operator", member)
            target = "ON_HOLD" if (current or {}).get("status") != "on_hold" else "UNAVAILABLE"
            started = time.monotonic()
            response = await http.post(
                "/graphql",
                json={
                    "query": SET_STATUS,
                    "variables": {"input": {"memberId": member, "status": target}},
                },
            )
            response.raise_for_status()
            await page.wait_for_function(
                "([member, state]) => { const shown = [...document.querySelectorAll('.tile')]"
                ".filter((t) => t.dataset.member === member);"
                " return shown.length > 0 && shown.every((t) => t.dataset.state === state); }",
                arg=[member, target.lower()],
                timeout=CATCH_UP_TIMEOUT * 1000,
                polling="raf",
            )
            times.append((time.monotonic() - started) * 1000)
    return times


async def measure(config: BenchConfig, workdir: Path) -> dict[str, Any]:
    """The scenario's figures (``skipped`` with the reason when Chromium is missing)."""
    missing = chromium_missing()
    if missing is not None:
        return {"skipped": missing}
    operators = config.wallboard_operators
    async with (
        running_stack(
            operators,
            pg_admin_url=config.pg_admin_url,
            redis_url=config.redis_url,
            workdir=workdir,
            warm_seconds=config.warm_seconds,
        ) as stack,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(stack.url)
        await wait_live(page, timeout_ms=60_000)
        await page.evaluate(WATCH_MAIN_THREAD_JS)
        before = await main_thread(page)
        first_version = await stack.store.version()
        started = time.monotonic()
        changes = await _drive(stack, config.wallboard_changes_per_s, config.wallboard_seconds)
        driven = time.monotonic()
        reached = await _caught_up(stack, page)
        after = await main_thread(page)
        settled = time.monotonic()
        versions = await stack.store.version() - first_version
        mutations = await _mutation_ms(stack, page, config.wallboard_mutations)
    tasks = [float(t) for t in after["longTasks"]]
    return {
        "operators": operators,
        "changes_per_s": config.wallboard_changes_per_s,
        "seconds": config.wallboard_seconds,
        "status_changes": changes,
        "versions": versions,
        "caught_up": reached is not None,
        "catch_up_ms": None if reached is None else round((reached - driven) * 1000, 1),
        "long_tasks": len(tasks),
        "longest_task_ms": round(max(tasks, default=0.0), 1),
        "long_task_ms_total": round(sum(tasks), 1),
        "frames_per_s": round((after["frames"] - before["frames"]) / (settled - started), 1),
        "mutation_ms": [round(t, 1) for t in mutations],
        "mutation_p50_ms": round(statistics.median(mutations), 1) if mutations else None,
        "mutation_max_ms": round(max(mutations), 1) if mutations else None,
        "page_errors": errors,
    }


def following_met(figures: dict[str, Any]) -> bool | None:
    """The no-stutter goal, or None when not measured."""
    return keeps_up(figures, LONGEST_TASK_MS, MIN_FRAMES_PER_S)


def mutation_met(figures: dict[str, Any]) -> bool | None:
    """The mutation goal, or None when not measured."""
    worst = figures.get("mutation_max_ms")
    return None if worst is None else worst <= MUTATION_MS


def describe(figures: dict[str, Any]) -> list[str]:
    """The figures as lines `label: value` (the report's wallboard block)."""
    if "longest_task_ms" not in figures:
        return [f"not measured: {figures.get('skipped', 'not part of this run')}"]
    catch_up = figures["catch_up_ms"]
    return [
        f"operators: {figures['operators']:,}; status changes: {figures['status_changes']:,} "
        f"in {figures['seconds']:g} s ({figures['changes_per_s']:,.0f}/s) on top of live calls; "
        f"store versions: {figures['versions']:,}",
        f"longest long task: {longest_task_text(figures['longest_task_ms'])} (goal < {LONGEST_TASK_MS:.0f} ms)",
        f"long tasks: {figures['long_tasks']} ({figures['long_task_ms_total']:.0f} ms in all)",
        f"frames/s while following: {figures['frames_per_s']:.1f} (goal ≥ {MIN_FRAMES_PER_S:.0f})",
        "caught up with the store: "
        + (f"{catch_up:.0f} ms after the last change" if catch_up is not None else "NO"),
        f"mutation → tile: p50 {figures['mutation_p50_ms']:.0f} ms, "
        f"max {figures['mutation_max_ms']:.0f} ms (goal ≤ {MUTATION_MS:.0f} ms)",
        f"page errors: {len(figures['page_errors'])}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line: this scenario alone, its figures printed."""
    parser = argparse.ArgumentParser(prog="python -m bench.wallboard", description=__doc__)
    parser.add_argument("--operators", type=int, default=BenchConfig().wallboard_operators)
    parser.add_argument("--smoke", action="store_true", help="tiny size and duration")
    args = parser.parse_args(argv)
    config = (BenchConfig.smoke() if args.smoke else BenchConfig()).with_services()
    if not args.smoke:
        config = dataclasses.replace(config, wallboard_operators=args.operators)
    with tempfile.TemporaryDirectory(prefix="queue-status-bench-") as workdir:
        figures = asyncio.run(measure(config, Path(workdir)))
    for line in describe(figures):
        print(line)
    met = [following_met(figures), mutation_met(figures)]
    print(
        "goals:", ", ".join({True: "met", False: "NOT MET", None: "not measured"}[m] for m in met)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
