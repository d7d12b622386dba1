"""The wallboard on a large floor, in headless Chromium at 1920×1080 (issue 18).

1,000 operators in 10 queues (tests/browser/floor.py: configured in PostgreSQL,
their live states written into Redis). The board must fit the screen with no
scrollbar and every operator's tile or cell on it with its state (colour and
glyph); `?queues=` shows exactly those queues, `?sort=` orders naturally,
`?lang=ru` leaves no English label of the catalogue, pages turn without a live
update resetting them, and the state colours meet WCAG AA in both themes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pytest
from playwright.async_api import Page

from bench.browser import page_version, wait_live
from ingest.patches import Patch
from tests.browser.catalogues import TEXTS_JS, english_left
from tests.browser.conftest import OpenPage, StartCentre, StartFloor
from tests.browser.floor import FloorAgent, expected_state

pytestmark = pytest.mark.timeout(180)

SHOWS_MS = 15_000

# Every tile: member, queue, state, whether it is wholly inside the window with a
# size, its state glyph (shown), its colours and its name.
FLOOR_JS = """() => {
  const vw = innerWidth, vh = innerHeight;
  const tiles = [...document.querySelectorAll('section.queue')].flatMap((section) =>
    [...section.querySelectorAll('.tile')].map((tile) => {
      const r = tile.getBoundingClientRect();
      const icon = tile.querySelector('.state-icon');
      const style = getComputedStyle(tile);
      return {
        member: tile.dataset.member, queue: section.dataset.queue, state: tile.dataset.state,
        onScreen: !section.hidden && r.width >= 8 && r.height >= 8 && r.left >= 0 && r.top >= 0
          && r.right <= vw + 0.5 && r.bottom <= vh + 0.5,
        glyph: icon && getComputedStyle(icon).display !== 'none' && icon.getBoundingClientRect().width > 0
          ? icon.textContent : '',
        background: style.backgroundColor,
        name: tile.querySelector('.name').textContent,
      };
    }));
  return {
    scrollHeight: document.documentElement.scrollHeight,
    scrollWidth: document.documentElement.scrollWidth,
    innerHeight: vh, innerWidth: vw,
    density: document.body.dataset.density, pages: Number(document.body.dataset.pages),
    sections: [...document.querySelectorAll('section.queue')].map((s) => s.dataset.queue),
    tiles,
  };
}"""


async def settled(page: Page) -> dict[str, Any]:
    """The board once live and laid out (two frames after the layout, so it has painted)."""
    await wait_live(page, timeout_ms=SHOWS_MS)
    await page.wait_for_function(
        "() => document.body.dataset.density && document.querySelectorAll('.tile').length"
        " + (document.body.dataset.view === 'summary' ? 1 : 0) > 0",
        timeout=SHOWS_MS,
    )
    await page.evaluate(
        "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )
    shown: dict[str, Any] = await page.evaluate(FLOOR_JS)
    return shown


def memberships(
    agents: list[FloorAgent], queues: set[str] | None = None
) -> dict[tuple[str, str], str]:
    return {
        (a.member_id, a.queue): expected_state(a)
        for a in agents
        if queues is None or a.queue in queues
    }


def natural(text: str) -> list[Any]:
    """ "Agent 10" → ["agent ", 10, ""]: the order a person expects."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


async def test_a_thousand_operators_fit_one_screen_with_every_state(
    floor: StartFloor, open_page: OpenPage
) -> None:
    async with floor(operators=1000, queues=10) as lab:
        watched = await open_page(lab.server.url)
        shown = await settled(watched.page)

        # No scrollbar either way, one page.
        assert shown["scrollHeight"] <= shown["innerHeight"], shown["density"]
        assert shown["scrollWidth"] <= shown["innerWidth"]
        assert shown["pages"] == 1
        assert shown["density"] == "cells"
        # Every operator's cell, wholly on screen, with its state told by colour and glyph.
        tiles = shown["tiles"]
        assert {(t["member"], t["queue"]): t["state"] for t in tiles} == memberships(lab.agents)
        assert [t for t in tiles if not t["onScreen"]] == []
        glyphs = {t["state"]: t["glyph"] for t in tiles}
        assert all(glyphs.values()) and len(set(glyphs.values())) == len(glyphs), glyphs
        colours: dict[str, set[str]] = {}
        for t in tiles:
            colours.setdefault(t["state"], set()).add(t["background"])
        assert all(len(c) == 1 for c in colours.values()), colours
        assert len({next(iter(c)) for c in colours.values()}) == len(colours)
        assert watched.errors == []


async def test_two_hundred_operators_keep_readable_names(
    floor: StartFloor, open_page: OpenPage
) -> None:
    async with floor(operators=200, queues=4) as lab:
        page = (await open_page(lab.server.url)).page
        shown = await settled(page)
        await page.screenshot(path="/tmp/floor200.png")
        assert shown["scrollHeight"] <= shown["innerHeight"]
        assert shown["density"] in ("full", "compact")
        assert all(t["onScreen"] for t in shown["tiles"])
        assert len(shown["tiles"]) == 200
        size = await page.evaluate(
            "() => parseFloat(getComputedStyle(document.querySelector('.tile .name')).fontSize)"
        )
        # README: names of 200 operators at 1920×1080 (about 8 mm high on a 55" TV).
        assert size >= 18, size
        cut = await page.evaluate(
            "() => [...document.querySelectorAll('.tile .name')].filter((n) => {"
            " const r = document.createRange(); r.selectNodeContents(n);"
            " const box = n.getBoundingClientRect();"
            " return r.getBoundingClientRect().width > box.width + 0.25"
            "   || box.right > n.parentElement.getBoundingClientRect().right - 1;"
            "}).map((n) => n.textContent)"
        )
        assert cut == []  # every name whole


async def test_queues_in_the_address_show_exactly_those(
    floor: StartFloor, open_page: OpenPage
) -> None:
    async with floor(operators=1000, queues=10) as lab:
        page = (await open_page(f"{lab.server.url}/?queues=sales,support")).page
        shown = await settled(page)
        assert sorted(shown["sections"]) == ["sales", "support"]
        tiles = {(t["member"], t["queue"]): t["state"] for t in shown["tiles"]}
        assert tiles == memberships(lab.agents, {"sales", "support"})
        assert shown["scrollHeight"] <= shown["innerHeight"]
        # Two queues of 100 have room for tiles, not cells.
        assert shown["density"] in ("full", "compact")
        # The header counts only those queues' operators.
        available = await page.evaluate(
            "() => document.querySelector('[data-total=\"available\"]').textContent"
        )
        assert int(available) == sum(
            1
            for a in lab.agents
            if a.queue in ("sales", "support") and a.status == "idle" and not a.paused
        )


@pytest.mark.parametrize("sort", ["name", "extension", "state"])
async def test_sort_in_the_address_orders_naturally(
    floor: StartFloor, open_page: OpenPage, sort: str
) -> None:
    async with floor(operators=300, queues=3) as lab:
        page = (await open_page(f"{lab.server.url}/?sort={sort}")).page
        await settled(page)
        order: dict[str, list[dict[str, Any]]] = await page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('section.queue')].map((s) =>
              [s.dataset.queue, [...s.querySelectorAll('.tile')].map((t) => ({
                member: t.dataset.member, name: t.querySelector('.name').textContent,
                ext: t.querySelector('.ext').textContent, state: t.dataset.state }))]))"""
        )
        by_member = {a.member_id: a for a in lab.agents}
        rank = ["idle", "ringing", "in_call", "on_hold", "wrapup", "paused", "unavailable"]
        for queue, tiles in order.items():
            assert len(tiles) == 100, queue
            if sort == "name":
                names = [t["name"] for t in tiles]
                assert names == sorted(names, key=natural), queue
            elif sort == "extension":
                exts = [int(t["ext"]) for t in tiles]
                assert exts == sorted(exts), queue
            else:
                states = [rank.index(t["state"]) for t in tiles]
                assert states == sorted(states), queue
        if sort == "name":  # "Agent 10" after "Agent 4" in sales (1, 4, 7, 10, …)
            sales = [t["name"] for t in order["sales"]]
            assert sales[:4] == ["Agent 1", "Agent 4", "Agent 7", "Agent 10"]
        assert by_member


async def test_russian_board_shows_no_english_label(floor: StartFloor, open_page: OpenPage) -> None:
    async with floor(operators=200, queues=4) as lab:
        for density in ("full", "cells"):
            url = f"{lab.server.url}/?lang=ru" + ("&density=cells" if density == "cells" else "")
            page = (await open_page(url)).page
            await settled(page)
            assert await page.evaluate("() => document.documentElement.lang") == "ru"
            texts: list[str] = await page.evaluate(TEXTS_JS, None)
            assert english_left(texts) == []
            body = await page.evaluate("() => document.body.innerText")
            assert "Свободен" in body or "Свободен" in " ".join(texts)


async def test_pages_turn_and_a_live_update_keeps_the_page(
    floor: StartFloor, open_page: OpenPage
) -> None:
    async with floor(operators=1000, queues=10) as lab:
        page = (await open_page(f"{lab.server.url}/?density=comfortable&rotate=600")).page
        shown = await settled(page)
        assert shown["density"] == "full"
        assert shown["pages"] > 1
        assert shown["scrollHeight"] <= shown["innerHeight"]
        on_pages: set[tuple[str, str]] = set()
        for number in range(1, shown["pages"] + 1):
            assert await page.evaluate("() => document.body.dataset.page") == str(number)
            indicator = await page.locator("#page-indicator").inner_text()
            assert indicator == f"Page {number} of {shown['pages']}"
            now = await page.evaluate(FLOOR_JS)
            assert now["scrollHeight"] <= now["innerHeight"]
            on_pages |= {(t["member"], t["queue"]) for t in now["tiles"] if t["onScreen"]}
            if number == 2:
                # A live change of an operator on another page: still page 2.
                hidden = next(t for t in now["tiles"] if not t["onScreen"])
                await lab.store.apply([Patch("operator", hidden["member"], {"status": "ringing"})])
                version = (await lab.store.snapshot()).version
                await page.wait_for_function(
                    "(v) => Number(document.body.dataset.version) >= v",
                    arg=version,
                    timeout=SHOWS_MS,
                )
                assert await page.evaluate("() => document.body.dataset.page") == "2"
            await page.locator("#page-next").click()
        assert on_pages == set(memberships(lab.agents))  # every operator on some page
        assert await page.evaluate("() => document.body.dataset.page") == "1"  # round again


async def test_rotation_turns_the_page_by_itself(floor: StartFloor, open_page: OpenPage) -> None:
    async with floor(operators=1000, queues=10) as lab:
        page = (await open_page(f"{lab.server.url}/?rotate=5&density=compact")).page
        shown = await settled(page)
        assert shown["pages"] > 1
        await page.wait_for_function("() => document.body.dataset.page === '2'", timeout=20_000)


async def test_summary_view_shows_queue_headers_only(
    floor: StartFloor, open_page: OpenPage
) -> None:
    async with floor(operators=1000, queues=10) as lab:
        page = (await open_page(f"{lab.server.url}/?view=summary&kiosk=1")).page
        await wait_live(page, timeout_ms=SHOWS_MS)
        await page.wait_for_function(
            "() => document.querySelectorAll('section.queue').length === 10"
        )
        shown = await settled(page)
        assert shown["scrollHeight"] <= shown["innerHeight"]
        assert not any(t["onScreen"] for t in shown["tiles"])
        assert await page.locator(".calls-panel").is_hidden()
        assert await page.locator("#open-settings").is_hidden()  # kiosk
        sales = await page.evaluate(
            """() => { const s = document.querySelector('section.queue[data-queue="sales"]');
              const dd = s.querySelector('[data-stat="available"]');
              return { available: dd.textContent, size: parseFloat(getComputedStyle(dd).fontSize) }; }"""
        )
        # Available as Asterisk counts it: not paused and idle (wrap-up included).
        idle = sum(
            1 for a in lab.agents if a.queue == "sales" and a.status == "idle" and not a.paused
        )
        assert sales["available"] == f"{idle}/100"
        assert sales["size"] >= 40  # large figures


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(css: str) -> tuple[tuple[float, float, float], float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)]
    return (numbers[0], numbers[1], numbers[2]), numbers[3] if len(numbers) > 3 else 1.0


def contrast(text: str, background: str) -> float:
    (fg, alpha), (bg, _) = _rgb(text), _rgb(background)
    r, g, b = (alpha * f + (1 - alpha) * b for f, b in zip(fg, bg, strict=True))
    blended = (r, g, b)
    high, low = sorted((_luminance(blended), _luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["dark", "light"])
async def test_tile_texts_meet_wcag_aa_in_both_themes(
    floor: StartFloor, open_page: OpenPage, scheme: Literal["dark", "light"]
) -> None:
    async with floor(operators=120, queues=4) as lab:
        watched = await open_page(lab.server.url)
        page = watched.page
        await page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
        await settled(page)
        pairs: list[dict[str, str]] = await page.evaluate(
            """() => [...document.querySelectorAll('.tile')].flatMap((tile) => {
              const bg = getComputedStyle(tile).backgroundColor;
              return [...tile.querySelectorAll('.name, .ext, .label-text, .state-icon, .timer, .detail')]
                .filter((el) => el.textContent && getComputedStyle(el).display !== 'none')
                .map((el) => ({ state: tile.dataset.state, part: el.className,
                  color: getComputedStyle(el).color, background: bg }));
            })"""
        )
        states = {p["state"] for p in pairs}
        assert states >= {
            "idle",
            "ringing",
            "in_call",
            "on_hold",
            "paused",
            "wrapup",
            "unavailable",
        }
        low = [
            (p["state"], p["part"], round(contrast(p["color"], p["background"]), 2))
            for p in pairs
            if contrast(p["color"], p["background"]) < 4.5
        ]
        assert low == []
        # Reduced motion: the ringing tiles do not pulse (not even in the pulse's bright
        # phase), pages do not fade.
        animations = await page.evaluate(
            """() => { document.body.dataset.ring = 'on';
              return [getComputedStyle(document.querySelector('.tile.st-ringing'), '::after').opacity,
              getComputedStyle(document.querySelector('section.queue')).animationName]; }"""
        )
        assert animations == ["0", "none"]


async def test_cells_are_keyboard_reachable_with_their_details(
    floor: StartFloor, open_page: OpenPage
) -> None:
    async with floor(operators=1000, queues=10) as lab:
        page = (await open_page(lab.server.url)).page
        shown = await settled(page)
        assert shown["density"] == "cells"
        first = shown["tiles"][0]
        for _ in range(30):
            await page.keyboard.press("Tab")
            if await page.evaluate("() => document.activeElement?.classList.contains('tile')"):
                break
        focused = await page.evaluate(
            "() => [document.activeElement.dataset.member, document.activeElement.getAttribute('aria-describedby')]"
        )
        assert focused == [first["member"], "cell-pop"]
        pop = page.locator("#cell-pop")
        await pop.wait_for(state="visible", timeout=SHOWS_MS)
        text = await pop.inner_text()
        agent = next(a for a in lab.agents if a.member_id == first["member"])
        assert agent.name in text
        await page.keyboard.press("Escape")
        await pop.wait_for(state="hidden", timeout=SHOWS_MS)


async def test_a_change_touches_only_its_cell(floor: StartFloor, open_page: OpenPage) -> None:
    async with floor(operators=1000, queues=10) as lab:
        page = (await open_page(lab.server.url)).page
        await settled(page)
        await page.evaluate(
            """() => { window.__touched = new Set();
              new MutationObserver((records) => { for (const r of records) {
                const tile = (r.target.nodeType === 1 ? r.target : r.target.parentElement)?.closest('.tile');
                if (tile) window.__touched.add(tile.dataset.member); } })
                .observe(document.getElementById('queues'),
                  { subtree: true, childList: true, attributes: true, characterData: true }); }"""
        )
        agent = next(a for a in lab.agents if expected_state(a) == "idle")
        await lab.store.apply([Patch("operator", agent.member_id, {"status": "ringing"})])
        version = (await lab.store.snapshot()).version
        await page.wait_for_function(
            "(v) => Number(document.body.dataset.version) >= v", arg=version, timeout=SHOWS_MS
        )
        await page.evaluate(
            "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        assert await page.evaluate("() => [...window.__touched]") == [agent.member_id]
        assert await page_version(page) >= version


# Every shown header figure and label of the queues: its text wider than its box (cut), or
# its box outside its header's stat row or queue section (clipped by them); and the top
# bar's totals, each inside the totals' box.
CLIPPED_STATS_JS = """() => {
  const cut = [];
  let seen = 0;
  for (const section of document.querySelectorAll('section.queue:not([hidden])')) {
    const stats = section.querySelector('.stats').getBoundingClientRect();
    const box = section.getBoundingClientRect();
    for (const el of section.querySelectorAll('.stat dt, .stat dd')) {
      if (!el.getClientRects().length) continue;
      seen += 1;
      const r = el.getBoundingClientRect();
      const inside = (outer) => r.left >= outer.left - 0.5 && r.right <= outer.right + 0.5
        && r.top >= outer.top - 0.5 && r.bottom <= outer.bottom + 0.5;
      if (el.scrollWidth > el.clientWidth || !inside(stats) || !inside(box)) {
        cut.push(`${section.dataset.queue}: ${el.textContent} (${el.scrollWidth} > ${el.clientWidth})`);
      }
    }
  }
  // The floor's totals in the top bar (the pager shares its line when the board pages).
  const totals = document.getElementById('totals').getBoundingClientRect();
  for (const el of document.querySelectorAll('#totals .total b')) {
    seen += 1;
    const r = el.getBoundingClientRect();
    if (r.left < totals.left - 0.5 || r.right > totals.right + 0.5) cut.push(`total ${el.textContent}`);
  }
  return { seen, cut };
}"""


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_no_queue_header_figure_is_clipped(
    floor: StartFloor, open_page: OpenPage, lang: str
) -> None:
    async with floor(operators=1000, queues=10) as lab:
        for address, density in (
            ("", "cells"),
            ("&density=compact", "compact"),
            ("&density=comfortable&rotate=600", "full"),  # pages: the pager in the top bar
        ):
            page = (await open_page(f"{lab.server.url}/?lang={lang}{address}")).page
            shown = await settled(page)
            assert shown["density"] == density
            assert shown["pages"] > 1 or density == "cells"
            # The figures as wide as they get on this floor (Available n/total).
            found = await page.evaluate(CLIPPED_STATS_JS)
            assert found["seen"] >= 8 * 2, found  # four boxes of two queues at least
            assert found["cut"] == [], found["cut"]


async def test_a_few_operators_with_long_names_keep_full_tiles(
    call_centre: StartCentre, open_page: OpenPage
) -> None:
    # The demo's centre: 20 memberships, names such as "Hannah Okafor" that are, at the
    # smallest tile, wider than it. Cutting a name is better than making cells of them.
    async with call_centre() as centre:
        page = (await open_page(centre.server.url)).page
        shown = await settled(page)
        assert shown["density"] == "full", shown["density"]
        assert shown["pages"] == 1
        assert shown["scrollHeight"] <= shown["innerHeight"]
        assert len(shown["tiles"]) >= 15 and all(t["onScreen"] for t in shown["tiles"])
        assert "Hannah Okafor" in {t["name"] for t in shown["tiles"]}
