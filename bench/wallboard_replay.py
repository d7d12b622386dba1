"""Scenario 7b: the wallboard's own budget, 1,000 operators at 1,000 changes/s from a recording.

First the recording, with the bench's own stack (`bench.stack`): the page is
opened once against the live server only to learn its queries (what it POSTs
and the `changes` subscription it sends); then a WebSocket client subscribes
with that very subscription, the snapshot is read, and while the simulated
call centre runs in real time `changes_per_s` QueueMemberStatus events a
second change operators' statuses for `seconds`. Every frame the server sends
is kept with its arrival time: the fan-out's coalesced batches exactly as the
page would get them. The server is then stopped.

Then the page, in Debian's Chromium at 1920×1080 (the default `auto` layout a
supervisor's wall shows), fed from the recording without any server
(`bench.replay_page`): the snapshot answered by `page.route`, the frames
delivered at their recorded offsets by a stand-in WebSocket. Measured in the
page: every long task (> 50 ms of main thread), frames painted, and whether
(and when) it shows the recording's last version. Nothing else runs on the
machine meanwhile, so the figures are the page's alone.

    python -m bench.wallboard_replay [--operators 1000] [--profile top.txt]

Goals: every task under 50 ms (no long task at all), at least 30 frames/s
while it follows, caught up with the last version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import websockets
from playwright.async_api import Browser, Page, Request, Route, ViewportSize, WebSocket
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bench.browser import (
    WATCH_MAIN_THREAD_JS,
    chromium,
    chromium_missing,
    keeps_up,
    longest_task_text,
    main_thread,
    wait_live,
)
from bench.config import BenchConfig
from bench.replay_page import ORIGIN, load_frames, serve_recording, start_replay
from bench.stack import Stack, running_stack
from bench.wallboard import _drive

LONGEST_TASK_MS = 50.0
MIN_FRAMES_PER_S = 30.0
CATCH_UP_TIMEOUT = 30.0
VIEWPORT = ViewportSize(width=1920, height=1080)
SNAPSHOT_OPERATION = "WallboardSnapshot"
CHANGES_OPERATION = "WallboardChanges"


@dataclasses.dataclass
class Recording:
    """What the server said: answers to the page's queries and the `changes` frames."""

    answers: dict[str, bytes]
    """GraphQL query text → response body (the snapshot's taken after subscribing)."""
    frames: list[tuple[float, str]]
    """(seconds after the first change was sent, the frame's payload as JSON text)."""
    status_changes: int
    first_version: int
    last_version: int

    def save(self, path: Path) -> None:
        """Keep it for later runs (`--recording`): a re-run of the page alone."""
        data = dataclasses.asdict(self)
        data["answers"] = {query: body.decode() for query, body in self.answers.items()}
        path.write_bytes(orjson.dumps(data))

    @classmethod
    def load(cls, path: Path) -> Recording:
        """One `save` wrote."""
        data = orjson.loads(path.read_bytes())
        data["answers"] = {query: body.encode() for query, body in data["answers"].items()}
        data["frames"] = [(offset, text) for offset, text in data["frames"]]
        return cls(**data)

    @property
    def changes(self) -> int:
        """Changes the frames carry."""
        return sum(text.count('"version":') for _, text in self.frames)

    @property
    def resyncs(self) -> int:
        """Frames with the whole state instead of changes (the server's fan-out fell behind)."""
        return sum(
            orjson.loads(text)["data"]["changes"]["kind"] != "CHANGES" for _, text in self.frames
        )

    @property
    def size_bytes(self) -> int:
        """The frames' payload bytes."""
        return sum(len(text) for _, text in self.frames)


async def _page_queries(browser: Browser, stack: Stack) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Open the page live once: its HTTP answers (query → body) and its `changes` subscription."""
    page = await browser.new_page(viewport=VIEWPORT)
    answers: dict[str, bytes] = {}
    subscriptions: list[dict[str, Any]] = []

    async def record_answer(route: Route, request: Request) -> None:
        response = await route.fetch()
        body = await response.body()
        if request.method == "POST":
            query = str(orjson.loads(request.post_data_buffer or b"{}").get("query", ""))
            answers.setdefault(query, body)
        await route.fulfill(response=response, body=body)

    def watch(socket: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            message = orjson.loads(payload)
            if message.get("type") == "subscribe":
                subscriptions.append(message["payload"])

        socket.on("framesent", sent)

    page.on("websocket", watch)
    await page.route("**/graphql", record_answer)
    await page.goto(stack.url)
    await wait_live(page, timeout_ms=60_000)
    await page.close()
    changes = next(s for s in subscriptions if s.get("operationName") == CHANGES_OPERATION)
    return answers, changes


def _payload_text(message: str) -> str | None:
    """A `next` message's payload, as the server wrote it (None for any other message)."""
    parsed = orjson.loads(message)
    if parsed.get("type") != "next":
        return None
    return orjson.dumps(parsed["payload"]).decode()


@contextlib.asynccontextmanager
async def _subscribed(stack: Stack, subscription: dict[str, Any]) -> AsyncIterator[Any]:
    """A graphql-transport-ws connection with the page's `changes` subscription started."""
    async with websockets.connect(
        stack.ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], max_size=None
    ) as socket:
        await socket.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        ack = orjson.loads(await socket.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        await socket.send(
            orjson.dumps({"id": "1", "type": "subscribe", "payload": subscription}).decode()
        )
        yield socket


async def record(config: BenchConfig, workdir: Path, browser: Browser) -> Recording:
    """Record a `wallboard_replay_operators` call centre's snapshot and changes frames."""
    async with running_stack(
        config.wallboard_replay_operators,
        pg_admin_url=config.pg_admin_url,
        redis_url=config.redis_url,
        workdir=workdir,
        warm_seconds=config.warm_seconds,
    ) as stack:
        answers, subscription = await _page_queries(browser, stack)
        snapshot_query = next(q for q in answers if SNAPSHOT_OPERATION in q)
        async with _subscribed(stack, subscription) as socket:
            await asyncio.sleep(0.5)  # the server has taken the subscription in
            snapshot = await stack.post_json(
                "/graphql", orjson.dumps({"query": snapshot_query, "variables": {"pbx": None}})
            )
            answers[snapshot_query] = snapshot
            first_version = int(orjson.loads(snapshot)["data"]["snapshot"]["version"])
            arrivals: list[tuple[float, str]] = []

            async def receive() -> None:
                async for message in socket:
                    text = _payload_text(str(message))
                    if text is not None:
                        arrivals.append((time.monotonic(), text))

            reader = asyncio.create_task(receive())
            started = time.monotonic()
            changes = await _drive(
                stack, config.wallboard_replay_changes_per_s, config.wallboard_replay_seconds
            )
            last_version = await stack.store.version()
            deadline = time.monotonic() + CATCH_UP_TIMEOUT
            while time.monotonic() < deadline and not _reaches(arrivals, last_version):
                await asyncio.sleep(0.05)
            reader.cancel()
    frames = [(max(0.0, at - started), text) for at, text in arrivals]
    return Recording(answers, frames, changes, first_version, last_version)


def _reaches(arrivals: list[tuple[float, str]], version: int) -> bool:
    if not arrivals:
        return False
    to_version = orjson.loads(arrivals[-1][1])["data"]["changes"]["toVersion"]
    return to_version is not None and int(to_version) >= version


# The timeline: every main-thread task with its CPU time (`tdur`), which a busy shared
# machine does not stretch as it does the wall-clock figures.
TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline"]
PROFILE_CATEGORIES = [*TRACE_CATEGORIES, "v8", "blink"]


async def _start_profiler(page: Page) -> Any:
    """Start the CDP sampling profiler; the coroutine returned stops it: the profile."""
    session = await page.context.new_cdp_session(page)
    await session.send("Profiler.enable")
    await session.send("Profiler.setSamplingInterval", {"interval": 200})
    await session.send("Profiler.start")

    async def stop() -> dict[str, Any]:
        profile: dict[str, Any] = (await session.send("Profiler.stop"))["profile"]
        return profile

    return stop


def _main_thread_spans(trace: Any) -> list[tuple[float, float, float, str]]:
    """(start µs, wall µs, CPU µs, name) of every complete event on the page's main thread."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e.get("args", {}).get("name") == "CrRendererMain"
    }
    return sorted(
        (e["ts"], e.get("dur", 0), e.get("tdur", e.get("dur", 0)), e["name"])
        for e in events
        if e.get("ph") == "X" and (e["pid"], e["tid"]) in main
    )


def task_cpu(trace: Any) -> dict[str, float]:
    """The main thread's tasks by CPU time: the longest (ms) and the whole (ms)."""
    longest = busy = 0.0
    end = 0.0
    for start, wall, cpu, name in _main_thread_spans(trace):
        if name in ("RunTask", "ThreadControllerImpl::RunTask") and start >= end:
            longest = max(longest, cpu)
            busy += cpu
            end = start + wall
    return {
        "longest_task_cpu_ms": round(longest / 1000, 1),
        "main_thread_cpu_ms": round(busy / 1000),
    }


def top_events(trace: Any, count: int = 25) -> list[str]:
    """Self time per trace event name on the renderer's main thread, largest first."""
    self_us: dict[str, float] = {}
    open_spans: list[tuple[float, str]] = []
    for start, wall, _, name in sorted(
        _main_thread_spans(trace), key=lambda span: (span[0], -span[1])
    ):
        end = start + wall
        while open_spans and open_spans[-1][0] <= start:
            open_spans.pop()
        if open_spans:  # nested: its time is not its parent's own
            parent = open_spans[-1][1]
            self_us[parent] = self_us.get(parent, 0.0) - wall
        self_us[name] = self_us.get(name, 0.0) + wall
        open_spans.append((end, name))
    total = sum(self_us.values()) or 1.0
    ranked = sorted(self_us.items(), key=lambda item: -item[1])[:count]
    return [f"{us / 1000:9.1f} ms {100 * us / total:5.1f}%  {name}" for name, us in ranked]


def top_functions(profile: dict[str, Any], count: int = 25) -> list[str]:
    """Self time per function of a CDP CPU profile, largest first, as lines."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    deltas = profile.get("timeDeltas", [])
    self_us: dict[str, float] = {}
    for sample, delta in zip(profile.get("samples", []), [*deltas[1:], 0], strict=False):
        frame = nodes[sample]["callFrame"]
        url = frame["url"].rsplit("/", 1)[-1]
        key = f"{frame['functionName'] or '(anonymous)'} {url}:{frame['lineNumber'] + 1}"
        self_us[key] = self_us.get(key, 0.0) + delta
    total = sum(self_us.values()) or 1.0
    ranked = sorted(self_us.items(), key=lambda item: -item[1])[:count]
    return [f"{us / 1000:9.1f} ms {100 * us / total:5.1f}%  {name}" for name, us in ranked]


async def replay(
    browser: Browser, recording: Recording, profile: Path | None = None
) -> dict[str, Any]:
    """The page fed from `recording`: its main thread while it follows, and whether it caught up."""
    page = await browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await serve_recording(page, recording.answers)
    await page.goto(f"{ORIGIN}/")
    await wait_live(page, timeout_ms=60_000)
    await load_frames(page, recording.frames)
    await page.wait_for_timeout(500)  # the first layout and the today figures settle
    board = await page.evaluate(
        "() => ({ density: document.body.dataset.density, pages: Number(document.body.dataset.pages),"
        " tiles: document.querySelectorAll('.tile').length,"
        " shown: document.querySelectorAll('.queue:not([hidden]) .tile:not(.off-page)').length })"
    )
    await browser.start_tracing(
        page=page, categories=PROFILE_CATEGORIES if profile else TRACE_CATEGORIES
    )
    stop_profiler = await _start_profiler(page) if profile else None
    await page.evaluate(WATCH_MAIN_THREAD_JS)
    before = await main_thread(page)
    started = time.monotonic()
    await start_replay(page)
    caught_up = True
    try:
        await page.wait_for_function(
            "(version) => Number(document.body.dataset.version) >= version",
            arg=recording.last_version,
            timeout=(recording.frames[-1][0] + CATCH_UP_TIMEOUT) * 1000 if recording.frames else 1,
            polling=10,
        )
    except PlaywrightTimeoutError:  # the figure "not caught up"
        caught_up = False
    settled = time.monotonic()
    after = await main_thread(page)
    cpu_profile = await stop_profiler() if stop_profiler is not None else None
    raw_trace = await browser.stop_tracing()
    trace = orjson.loads(raw_trace)
    if profile is not None and cpu_profile is not None:
        lines = ["-- JS self time by function (CDP Profiler)", *top_functions(cpu_profile)]
        lines += ["", "-- main-thread self time by trace event", *top_events(trace)]
        await asyncio.to_thread(profile.write_text, "\n".join(lines) + "\n")
        await asyncio.to_thread(profile.with_suffix(".trace.json").write_bytes, raw_trace)
    await page.close()
    tasks = [float(t) for t in after["longTasks"]]
    stream_s = recording.frames[-1][0] if recording.frames else 0.0
    return {
        "density": board["density"],
        "pages": board["pages"],
        "tiles": board["tiles"],
        "tiles_shown": board["shown"],
        "caught_up": caught_up,
        "catch_up_ms": round(max(0.0, (settled - started) - stream_s) * 1000, 1),
        "long_tasks": len(tasks),
        "longest_task_ms": round(max(tasks, default=0.0), 1),
        "long_task_ms_total": round(sum(tasks), 1),
        "frames_per_s": round((after["frames"] - before["frames"]) / (settled - started), 1),
        **task_cpu(trace),
        "page_errors": errors,
    }


async def measure(
    config: BenchConfig,
    workdir: Path,
    *,
    profile: Path | None = None,
    recording_file: Path | None = None,
) -> dict[str, Any]:
    """The scenario's figures (``skipped`` with the reason when Chromium is missing).

    `recording_file`: replay that recording when it exists, else record and keep it there.
    """
    missing = chromium_missing()
    if missing is not None:
        return {"skipped": missing}
    async with chromium() as browser:
        if recording_file is not None and await asyncio.to_thread(recording_file.exists):
            recording = await asyncio.to_thread(Recording.load, recording_file)
        else:
            recording = await record(config, workdir, browser)
            if recording_file is not None:
                await asyncio.to_thread(recording.save, recording_file)
        figures = await replay(browser, recording, profile)
    return {
        "operators": config.wallboard_replay_operators,
        "changes_per_s": config.wallboard_replay_changes_per_s,
        "seconds": config.wallboard_replay_seconds,
        "status_changes": recording.status_changes,
        "versions": recording.last_version - recording.first_version,
        "frames_recorded": len(recording.frames),
        "resyncs_recorded": recording.resyncs,
        "changes_recorded": recording.changes,
        "recording_kb": round(recording.size_bytes / 1024),
        **figures,
    }


def met(figures: dict[str, Any]) -> bool | None:
    """The page keeps up: no long task, enough frames, the last version shown; None if not run."""
    return keeps_up(figures, LONGEST_TASK_MS, MIN_FRAMES_PER_S)


def summary(figures: dict[str, Any]) -> str:
    """One line for the goals table."""
    if "longest_task_ms" not in figures:
        return str(figures.get("skipped", "—"))
    return (
        f"longest task {longest_task_text(figures['longest_task_ms'])}, "
        f"{figures['long_tasks']} long tasks, "
        f"{figures['frames_per_s']:.1f} frames/s, "
        + (
            f"caught up {figures['catch_up_ms']:.0f} ms after the last frame"
            if figures["caught_up"]
            else "never caught up"
        )
        + f" ({figures['tiles_shown']:,} of {figures['tiles']:,} tiles on screen, "
        f"{figures['density']})"
    )


def describe(figures: dict[str, Any]) -> list[str]:
    """The figures as lines `label: value` (the report's block)."""
    if "longest_task_ms" not in figures:
        return [f"not measured: {figures.get('skipped', 'not part of this run')}"]
    longest = figures["longest_task_ms"]
    return [
        f"operators: {figures['operators']:,} ({figures['tiles']:,} tiles, "
        f"{figures['tiles_shown']:,} on screen, density {figures['density']}, "
        f"{figures['pages']} page(s)); status changes: {figures['status_changes']:,} in "
        f"{figures['seconds']:g} s ({figures['changes_per_s']:,.0f}/s) on top of live calls",
        f"recorded: {figures['frames_recorded']:,} frames, {figures['changes_recorded']:,} "
        f"changes, {figures['resyncs_recorded']} with the whole state instead, "
        f"{figures['recording_kb']:,} KB; replayed without the server",
        "longest task: " + longest_task_text(longest) + f" (goal < {LONGEST_TASK_MS:.0f} ms)",
        f"long tasks: {figures['long_tasks']} ({figures['long_task_ms_total']:.0f} ms in all)",
        f"CPU (trace): longest task {figures['longest_task_cpu_ms']:.0f} ms, main thread "
        f"{figures['main_thread_cpu_ms']:,} ms in all (a shared machine stretches the wall clock)",
        f"frames/s while following: {figures['frames_per_s']:.1f} (goal ≥ {MIN_FRAMES_PER_S:.0f})",
        "caught up with the last version: "
        + (
            f"{figures['catch_up_ms']:.0f} ms after the last frame"
            if figures["caught_up"]
            else "NO"
        ),
        f"page errors: {len(figures['page_errors'])}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line: this scenario alone, its figures printed."""
    parser = argparse.ArgumentParser(prog="python -m bench.wallboard_replay", description=__doc__)
    parser.add_argument("--operators", type=int, default=BenchConfig().wallboard_replay_operators)
    parser.add_argument("--smoke", action="store_true", help="tiny size and duration")
    parser.add_argument("--profile", type=Path, help="write the page's top functions (CPU) here")
    parser.add_argument(
        "--recording", type=Path, help="replay this recording if it exists, else keep it here"
    )
    args = parser.parse_args(argv)
    config = (BenchConfig.smoke() if args.smoke else BenchConfig()).with_services()
    if not args.smoke:
        config = dataclasses.replace(config, wallboard_replay_operators=args.operators)
    with tempfile.TemporaryDirectory(prefix="queue-status-bench-") as workdir:
        figures = asyncio.run(
            measure(config, Path(workdir), profile=args.profile, recording_file=args.recording)
        )
    for line in describe(figures):
        print(line)
    print("goal:", {True: "met", False: "NOT MET", None: "not measured"}[met(figures)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
