"""The README's wallboard screenshots: each density, each view and both languages.

    QS_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_wallboard_screenshots.py

Skipped unless QS_SCREENSHOTS is set (they rewrite docs/wallboard-*.png). Each is
the floor of tests/browser/floor.py at 1920×1080 CSS pixels, shot at 0.75 scale
(1440×810) and, when pngquant is installed (`apt-get install pngquant`, a dev tool),
reduced to 256 colours, to keep the files small; after the same checks as the floor
tests: no scrollbar, every operator of the page on screen.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Literal

import pytest
from playwright.async_api import Browser

from bench.browser import wait_live
from tests.browser.conftest import StartFloor
from tests.browser.png import shrink_png

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not os.environ.get("QS_SCREENSHOTS"), reason="set QS_SCREENSHOTS=1 to retake"
    ),
]

DOCS = Path(__file__).parents[2] / "docs"

# name: (operators, queues, address, colour scheme, focus a cell)
SHOTS: dict[str, tuple[int, int, str, Literal["dark", "light"], bool]] = {
    "full": (40, 4, "", "dark", False),
    "compact": (200, 4, "", "dark", False),
    "cells": (1000, 10, "", "dark", True),
    "summary": (1000, 10, "?view=summary", "dark", False),
    "queues": (1000, 10, "?queues=sales,support", "dark", False),
    "paged": (1000, 10, "?density=comfortable&rotate=600", "dark", False),
    "ru": (1000, 10, "?lang=ru", "dark", False),
    "light": (200, 4, "?sort=state", "light", False),
}


@pytest.mark.parametrize("name", list(SHOTS))
async def test_screenshot(floor: StartFloor, browser: Browser, name: str) -> None:
    operators, queues, address, scheme, focus = SHOTS[name]
    async with floor(operators=operators, queues=queues) as lab:
        context = await browser.new_context(
            viewport={"width": 1920, "height": 1080},
            device_scale_factor=0.75,
            color_scheme=scheme,
            reduced_motion="reduce",
        )
        try:
            page = await context.new_page()
            await page.goto(f"{lab.server.url}/{address}")
            await wait_live(page)
            await page.wait_for_function("() => document.body.dataset.density", timeout=15_000)
            await asyncio.sleep(1.5)  # timers tick, stats are read
            fits = await page.evaluate("() => document.documentElement.scrollHeight <= innerHeight")
            assert fits, name
            if focus:
                await page.locator(".tile").nth(37).focus()
                await page.locator("#cell-pop").wait_for(state="visible")
            await page.screenshot(path=str(DOCS / f"wallboard-{name}.png"))
            shrink_png(DOCS / f"wallboard-{name}.png")
        finally:
            await context.close()
