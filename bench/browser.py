"""Debian's headless Chromium for the wallboard: the bench's figures and the browser tests.

Never a downloaded browser: Playwright drives /usr/bin/chromium (``make
browser-deps`` installs it; ``QS_CHROMIUM`` names another). The page probes
here are what both sides read from the wallboard: whether it is live, its
store version with its tiles from one rendered frame, and the main thread's
long tasks and frames (the bench's figures; the tests never time anything).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = Path(os.environ.get("QS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Every (memberId, queue) the page shows a tile for, with the tile's state.
TILES_JS = """() => [...document.querySelectorAll('.queue')].flatMap((section) =>
  [...section.querySelectorAll('.tile')].map((tile) =>
    [tile.dataset.member, section.dataset.queue, tile.dataset.state]))"""

# The page's version and its tiles in one evaluation: both from the same rendered frame.
PAGE_AT_VERSION_JS = f"""() => ({{
  version: document.body.dataset.version,
  tiles: ({TILES_JS})(),
}})"""

# From now on: every long task's duration (> 50 ms on the main thread) and every frame.
WATCH_MAIN_THREAD_JS = """() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
  }).observe({ type: 'longtask' });
  window.__frames = 0;
  const count = () => { window.__frames += 1; requestAnimationFrame(count); };
  requestAnimationFrame(count);
}"""

MAIN_THREAD_JS = "() => ({ longTasks: window.__longTasks, frames: window.__frames })"


def chromium_missing() -> str | None:
    """Why Chromium cannot run here, or None."""
    if CHROMIUM.exists():
        return None
    return f"{CHROMIUM} not found: run `make browser-deps` (apt-get install chromium)"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Debian Chromium, closed on exit."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def wait_live(page: Page, timeout_ms: float = 15_000) -> None:
    """Until the page says it is live (subscribed and state read)."""
    await page.wait_for_function(
        "() => document.body.dataset.link === 'live'", timeout=timeout_ms, polling=50
    )


async def page_version(page: Page) -> int:
    """The store version the page shows."""
    return int(await page.evaluate("() => document.body.dataset.version"))


async def tiles(page: Page) -> dict[tuple[str, str], str]:
    """(memberId, queue) → tile state, as the page shows them."""
    rows: list[list[str]] = await page.evaluate(TILES_JS)
    return {(member, queue): state for member, queue, state in rows}


async def main_thread(page: Page) -> dict[str, Any]:
    """What `WATCH_MAIN_THREAD_JS` saw so far: ``longTasks`` (ms each) and ``frames``."""
    stats: dict[str, Any] = await page.evaluate(MAIN_THREAD_JS)
    return stats


def longest_task_text(milliseconds: float) -> str:
    """The longest long task as the report shows it: the browser reports only tasks over
    50 ms, so none is "none over 50 ms", not "0 ms"."""
    return f"{milliseconds:.0f} ms" if milliseconds else "none over 50 ms"


def keeps_up(
    figures: dict[str, Any], longest_task_ms: float, min_frames_per_s: float
) -> bool | None:
    """A page followed the storm: the last version shown, no page error, no task as long as
    `longest_task_ms`, at least `min_frames_per_s`; None when it was not measured."""
    if "longest_task_ms" not in figures:
        return None
    return bool(
        figures["caught_up"]
        and not figures["page_errors"]
        and figures["longest_task_ms"] < longest_task_ms
        and figures["frames_per_s"] >= min_frames_per_s
    )
