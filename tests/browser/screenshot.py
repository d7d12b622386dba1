"""Take docs/wallboard.png: the embedded demo with live traffic, in Debian's headless Chromium.

    .venv/bin/python -m tests.browser.screenshot [--output docs/wallboard.png] [--settle 45]

Runs `queue-status demo` (with the wallboard mounted) in a child process,
lets the simulated call centre work for `--settle` seconds, shoots the page,
then stops the demo with SIGINT as a person would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from playwright.async_api import async_playwright

import api.demo
from api.wallboard import mount_wallboard
from bench.browser import CHROMIUM, CHROMIUM_ARGS
from tests.browser.live import free_port
from tests.browser.png import shrink_png


def _with_wallboard(create: Any) -> Any:
    def create_app(*args: Any, **kwargs: Any) -> FastAPI:
        app: FastAPI = create(*args, **kwargs)
        if not any(getattr(route, "path", None) == "/" for route in app.routes):
            mount_wallboard(app)
        return app

    return create_app


def serve_demo(port: int) -> None:
    """The demo, as `queue-status demo` runs it, with the wallboard mounted."""
    api.demo.create_app = _with_wallboard(api.demo.create_app)  # type: ignore[attr-defined]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(api.demo.run_demo(port=port))


async def shoot(output: Path, settle: float, width: int, height: int) -> None:
    """Start the demo, wait, screenshot, stop."""
    port = free_port()
    demo = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped below
        [sys.executable, "-m", "tests.browser.screenshot", "--serve-demo", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            page = await browser.new_page(viewport={"width": width, "height": height})
            for _ in range(150):  # until the demo listens
                with contextlib.suppress(Exception):
                    await page.goto(f"http://127.0.0.1:{port}/")
                    break
                await asyncio.sleep(0.2)
            await page.wait_for_function("() => document.body.dataset.link === 'live'")
            await asyncio.sleep(settle)
            output.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(output))
            await browser.close()
        shrink_png(output)  # when pngquant is installed
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=15)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("docs/wallboard.png"))
    parser.add_argument("--settle", type=float, default=45.0, help="seconds of live traffic first")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--serve-demo", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_demo:
        serve_demo(args.serve_demo)
        return
    asyncio.run(shoot(args.output, args.settle, args.width, args.height))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
