"""Queue headers of full tiles at 1920×1080, and the columns layout.js chooses.

In a narrow queue column the header's stat boxes wrap as a block (a full row under the
name), never one box per line (`flex: 1` had made headers ~300 px tall); and the layout
still shows a small team's names whole, with the largest tiles that fit.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import OpenPage, StartCentre, StartFloor
from tests.browser.test_wallboard_floor import settled

pytestmark = pytest.mark.timeout(180)

# Two rows of stat boxes at most (a box is ~56–72 px high).
HEADER_MAX_PX = 140

HEADERS_JS = """() => ({
  cols: Number(getComputedStyle(document.documentElement).getPropertyValue('--cols')),
  heads: [...document.querySelectorAll('section.queue:not([hidden])')].map((section) => {
    const boxes = [...section.querySelectorAll('.queue-head .stat')]
      .filter((box) => box.getBoundingClientRect().width > 0)
      .map((box) => Math.round(box.getBoundingClientRect().top));
    return {
      queue: section.dataset.queue,
      height: section.querySelector('.queue-head').getBoundingClientRect().height,
      boxes: boxes.length,
      rows: new Set(boxes).size,
    };
  }),
})"""

CUT_NAMES_JS = """() => [...document.querySelectorAll('.tile .name')].filter((n) => {
  const r = document.createRange(); r.selectNodeContents(n);
  const box = n.getBoundingClientRect();
  return r.getBoundingClientRect().width > box.width + 0.25
    || box.right > n.parentElement.getBoundingClientRect().right - 1;
}).map((n) => n.textContent)"""


async def test_full_tile_headers_stay_compact_in_any_column_count(
    floor: StartFloor, open_page: OpenPage
) -> None:
    columns: set[int] = set()
    async with floor(operators=200, queues=4) as lab:
        for address in (
            "?density=comfortable",
            "?density=comfortable&queues=sales,support",
            "?density=comfortable&queues=sales",
        ):
            page = (await open_page(f"{lab.server.url}/{address}")).page
            shown = await settled(page)
            assert shown["density"] == "full", (address, shown["density"])
            layout: dict[str, Any] = await page.evaluate(HEADERS_JS)
            columns.add(layout["cols"])
            assert layout["heads"], address
            for head in layout["heads"]:
                assert head["height"] < HEADER_MAX_PX, (address, layout["cols"], head)
                assert 1 <= head["rows"] <= 2 < head["boxes"], (address, layout["cols"], head)
    assert 2 in columns, columns  # the narrow case was really laid out


async def test_demo_sized_team_shows_names_whole(
    call_centre: StartCentre, open_page: OpenPage
) -> None:
    async with call_centre() as centre:
        for address in ("", "?queues=sales,support"):
            page = (await open_page(f"{centre.server.url}/{address}")).page
            shown = await settled(page)
            assert shown["density"] == "full", (address, shown["density"])
            assert shown["pages"] == 1
            assert all(t["onScreen"] for t in shown["tiles"])
            assert await page.evaluate(CUT_NAMES_JS) == [], address
            layout: dict[str, Any] = await page.evaluate(HEADERS_JS)
            for head in layout["heads"]:
                assert head["height"] < HEADER_MAX_PX, (address, layout["cols"], head)
