"""The supervisor console on the wallboard, in headless Chromium against the real app.

The lab call centre on the AMI simulator (sales = Alice, Bob, Carol; support =
Eve, Dave, Bob), the app's own AMI ingest, tokens of three kinds. A pause is
made from the board with the keyboard only; the tile changes through the live
subscription, and the simulated Asterisk itself has the member paused.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from bench.browser import wait_live
from tests.browser.catalogues import TEXTS_JS, english_left
from tests.browser.conftest import OpenPage, StartLab

pytestmark = pytest.mark.timeout(120)

SHOWS_MS = 10_000
TOKENS = "supervisor:sup-token,viewer:view-token,supervisor:sales-token:sales,admin:adm-token"
REASONS = "lunch,coaching,training"

ALICE = "Local/1001@agents/n"  # sales
BOB = "Local/1002@agents/n"  # sales and support
DAVE = "Local/1004@agents/n"  # support
EVE = "Local/1005@agents/n"  # support
FRANK = "Local/1006@agents/n"  # in no queue of the lab

CONTROLS = ".tile-actions, .add-member, .tile button, .queue-head button"
TILE_JS = """([queue, member]) => [...document.querySelectorAll('.queue')]
  .filter((s) => s.dataset.queue === queue)
  .flatMap((s) => [...s.querySelectorAll('.tile')])
  .find((t) => t.dataset.member === member) ?? null"""


# Close a dialog and, before its close event (the browser queues it), press the control that
# opens it again, as a quick Escape then Enter can; resolves after that late close event. The
# board must know at once that the dialog closed, and the reopened one must keep its subject.
REOPEN_BEFORE_CLOSE_EVENT_JS = """async ([dialogId, opener]) => {
  const dialog = document.getElementById(dialogId);
  const button = document.querySelector(opener);
  const closed = new Promise((resolve) => dialog.addEventListener('close', resolve, { once: true }));
  dialog.close();
  await null; // microtasks only: the close event is still to come
  const expandedWhenClosed = button.getAttribute('aria-expanded');
  button.click();
  await closed;
  return { expandedWhenClosed, open: dialog.open, expanded: button.getAttribute('aria-expanded') };
}"""
REOPENED = {"expandedWhenClosed": "false", "open": True, "expanded": "true"}


def tile_selector(queue: str, member: str) -> str:
    return f'section.queue[data-queue="{queue}"] .tile[data-member="{member}"]'


async def open_board(
    open_page: OpenPage, url: str, token: str, console: str, address: str = ""
) -> Page:
    """The board with `token` (and `address`, e.g. `&lang=ru`), live, its access read
    (`console`: none, supervise, manage)."""
    watched = await open_page(f"{url}/?token={token}{address}")
    page = watched.page
    await wait_live(page)
    await page.wait_for_function(
        "(expected) => document.body.dataset.console === expected", arg=console, timeout=SHOWS_MS
    )
    return page


async def focused(page: Page, selector: str) -> bool:
    return bool(await page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector))


async def tab_to(page: Page, selector: str, limit: int = 25) -> None:
    """Press Tab until `selector` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        if await focused(page, selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus")


async def test_supervisor_pauses_an_operator_with_a_reason_from_the_board(
    lab_centre: StartLab, open_page: OpenPage
) -> None:
    async with lab_centre(api_tokens=TOKENS, pause_reasons=REASONS) as lab:
        before = lab.member("sales", ALICE)
        assert before is not None and not before["paused"]
        page = await open_board(open_page, lab.server.url, "sup-token", "supervise")
        # A supervisor is not an admin: no add-member form, no remove.
        assert await page.locator(".add-member").count() == 0

        button = page.locator(f"{tile_selector('sales', ALICE)} .tile-actions")
        await button.wait_for(timeout=SHOWS_MS)
        assert await button.get_attribute("aria-expanded") == "false"
        await tab_to(page, f"{tile_selector('sales', ALICE)} .tile-actions")
        await page.keyboard.press("Enter")

        panel = page.locator("#member-panel")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)
        assert await button.get_attribute("aria-expanded") == "true"
        assert await page.locator("#mp-queue").input_value() == "sales"
        assert await page.locator("#member-panel [data-action='remove']").is_hidden()
        # The configured reasons are offered as a list (no free text).
        assert await page.locator("#mp-reason-text").is_hidden()
        options = await page.locator("#mp-reason option").all_inner_texts()
        assert options[1:] == ["lunch", "coaching", "training"]

        # Escape closes the panel and gives the focus back to the tile's button.
        await page.keyboard.press("Escape")
        await panel.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, f"{tile_selector('sales', ALICE)} .tile-actions")
        assert await button.get_attribute("aria-expanded") == "false"

        await page.keyboard.press("Enter")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)
        await tab_to(page, "#mp-reason")
        await page.keyboard.type("coaching")  # type-ahead in the closed <select>
        assert await page.locator("#mp-reason").input_value() == "coaching"
        await tab_to(page, "#member-panel [data-action='pause']")
        await page.keyboard.press("Enter")

        # The panel closes on success, the focus is back on the tile's button; the tile
        # shows the pause with its reason from the live update, the answer in its note.
        await panel.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, f"{tile_selector('sales', ALICE)} .tile-actions")
        await page.wait_for_function(
            f"() => {{ const t = ({TILE_JS})(['sales', '{ALICE}']);"
            " return t && t.dataset.state === 'paused'"
            " && t.querySelector('.detail').textContent === 'coaching'; }",
            timeout=SHOWS_MS,
            polling="raf",
        )
        note = page.locator(f"{tile_selector('sales', ALICE)} .tile-note")
        assert (await note.inner_text()).startswith("Paused in sales: coaching")
        assert await note.get_attribute("role") == "status"

        # The action really went to Asterisk: the simulator has her paused in sales.
        after = lab.member("sales", ALICE)
        assert after is not None
        assert (after["paused"], after["paused_reason"]) == (1, "coaching")

        # A refusal shows on the tile and in the panel, in an alert: listening in on an
        # operator who is on no call (with a typed extension) is a CONFLICT.
        await page.keyboard.press("Enter")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)
        assert await page.locator("#mp-listen").is_hidden()  # no extension bound to the token
        await tab_to(page, "#mp-extension")
        await page.keyboard.type("1009")
        await tab_to(page, "#mp-listen [data-mode='LISTEN']")
        await page.keyboard.press("Enter")
        alert = page.locator("#mp-error")
        await alert.wait_for(state="visible", timeout=SHOWS_MS)
        assert await alert.get_attribute("role") == "alert"
        error_note = page.locator(f"{tile_selector('sales', ALICE)} .tile-note.is-error")
        await error_note.wait_for(timeout=SHOWS_MS)
        assert await error_note.get_attribute("role") == "alert"
        assert (await error_note.inner_text()) == (await alert.inner_text())
        await page.keyboard.press("Escape")
        await panel.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, f"{tile_selector('sales', ALICE)} .tile-actions")

        # Unpause from the board: the tile follows.
        await page.keyboard.press("Enter")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)
        await tab_to(page, "#member-panel [data-action='unpause']")
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            f"() => ({TILE_JS})(['sales', '{ALICE}'])?.dataset.state === 'idle'",
            timeout=SHOWS_MS,
            polling="raf",
        )
        unpaused = lab.member("sales", ALICE)
        assert unpaused is not None and not unpaused["paused"]
        assert "sup-token" not in page.url


async def test_a_panel_reopened_before_its_close_event_still_acts(
    lab_centre: StartLab, open_page: OpenPage
) -> None:
    async with lab_centre(api_tokens=TOKENS, pause_reasons=REASONS) as lab:
        page = await open_board(open_page, lab.server.url, "sup-token", "supervise")
        actions = f"{tile_selector('sales', ALICE)} .tile-actions"
        await tab_to(page, actions)
        await page.keyboard.press("Enter")
        panel = page.locator("#member-panel")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)

        reopened = await page.evaluate(REOPEN_BEFORE_CLOSE_EVENT_JS, ["member-panel", actions])
        assert reopened == REOPENED

        # The late close event took nothing away: the pause is sent and Asterisk has it.
        await tab_to(page, "#member-panel [data-action='pause']")
        await page.keyboard.press("Enter")
        await panel.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, actions)
        await page.wait_for_function(
            f"() => ({TILE_JS})(['sales', '{ALICE}'])?.dataset.state === 'paused'",
            timeout=SHOWS_MS,
            polling="raf",
        )
        paused = lab.member("sales", ALICE)
        assert paused is not None and paused["paused"]


async def test_a_panel_acts_on_the_tile_that_replaced_its_own(
    lab_centre: StartLab, open_page: OpenPage
) -> None:
    async with lab_centre(api_tokens=TOKENS, pause_reasons=REASONS) as lab:
        lab.model.queue_add("billing", FRANK, name="Frank")
        page = await open_board(open_page, lab.server.url, "sup-token", "supervise")
        tile = page.locator(tile_selector("billing", FRANK))
        actions = f"{tile_selector('billing', FRANK)} .tile-actions"
        await tile.wait_for(timeout=SHOWS_MS)
        await tab_to(page, actions)
        await page.keyboard.press("Enter")
        panel = page.locator("#member-panel")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)

        # While the panel is open, Asterisk drops and re-adds him: his tile is a new one.
        lab.model.queue_remove("billing", FRANK)
        await tile.wait_for(state="detached", timeout=SHOWS_MS)
        lab.model.queue_add("billing", FRANK, name="Frank")
        await tile.wait_for(timeout=SHOWS_MS)

        await tab_to(page, "#member-panel [data-action='pause']")
        await page.keyboard.press("Enter")
        await panel.wait_for(state="hidden", timeout=SHOWS_MS)
        # The answer and the keyboard go to the tile on the board, not the one that went.
        assert await focused(page, actions)
        note = page.locator(f"{tile_selector('billing', FRANK)} .tile-note")
        assert (await note.inner_text()).startswith("Paused in billing")
        paused = lab.member("billing", FRANK)
        assert paused is not None and paused["paused"]


async def test_an_add_form_reopened_before_its_close_event_still_adds(
    lab_centre: StartLab, open_page: OpenPage
) -> None:
    async with lab_centre(api_tokens=TOKENS) as lab:
        page = await open_board(open_page, lab.server.url, "adm-token", "manage")
        add = 'section.queue[data-queue="billing"] .add-member'
        await tab_to(page, add)
        await page.keyboard.press("Enter")
        dialog = page.locator("#add-member")
        await dialog.wait_for(state="visible", timeout=SHOWS_MS)

        reopened = await page.evaluate(REOPEN_BEFORE_CLOSE_EVENT_JS, ["add-member", add])
        assert reopened == REOPENED

        await page.locator("#am-interface").focus()
        await page.keyboard.type(FRANK)
        await page.keyboard.press("Enter")  # submits the form
        await dialog.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, add)
        await page.locator(tile_selector("billing", FRANK)).wait_for(timeout=SHOWS_MS)
        assert lab.member("billing", FRANK) is not None


async def test_viewer_sees_no_controls(lab_centre: StartLab, open_page: OpenPage) -> None:
    async with lab_centre(api_tokens=TOKENS, pause_reasons=REASONS) as lab:
        page = await open_board(open_page, lab.server.url, "view-token", "none")
        await page.locator(tile_selector("support", EVE)).wait_for(timeout=SHOWS_MS)
        assert await page.locator(".tile").count() == 6  # 3 in sales, 3 in support (Bob in both)
        assert await page.locator(CONTROLS).count() == 0
        assert await page.locator("#member-panel").is_hidden()
        assert await page.locator("#add-member").is_hidden()


async def test_sales_token_sees_only_sales(lab_centre: StartLab, open_page: OpenPage) -> None:
    async with lab_centre(api_tokens=TOKENS, pause_reasons=REASONS) as lab:
        page = await open_board(open_page, lab.server.url, "sales-token", "supervise")
        await page.locator(tile_selector("sales", ALICE)).wait_for(timeout=SHOWS_MS)
        shown = await page.evaluate(
            "() => [...document.querySelectorAll('.queue')].flatMap((s) =>"
            " [...s.querySelectorAll('.tile')].map((t) => [s.dataset.queue, t.dataset.member]))"
        )
        assert sorted(map(tuple, shown)) == sorted(
            [("sales", ALICE), ("sales", BOB), ("sales", "Local/1003@agents/n")]
        )
        assert await page.locator('section.queue[data-queue="support"]').count() == 0
        assert await page.locator(f'.tile[data-member="{EVE}"]').count() == 0
        assert await page.locator(f'.tile[data-member="{DAVE}"]').count() == 0

        # Bob's panel offers his sales membership only.
        await tab_to(page, f"{tile_selector('sales', BOB)} .tile-actions")
        await page.keyboard.press("Enter")
        await page.locator("#member-panel").wait_for(state="visible", timeout=SHOWS_MS)
        values = await page.locator("#mp-queue option").evaluate_all(
            "(options) => options.map((o) => o.value)"
        )
        assert values == ["sales", ""]


async def test_admin_adds_and_removes_a_member_from_the_board(
    lab_centre: StartLab, open_page: OpenPage
) -> None:
    async with lab_centre(api_tokens=TOKENS) as lab:
        page = await open_board(open_page, lab.server.url, "adm-token", "manage")
        add = page.locator('section.queue[data-queue="billing"] .add-member')
        await tab_to(page, 'section.queue[data-queue="billing"] .add-member')
        await page.keyboard.press("Enter")
        dialog = page.locator("#add-member")
        await dialog.wait_for(state="visible", timeout=SHOWS_MS)
        assert await add.get_attribute("aria-expanded") == "true"
        assert await focused(page, "#am-interface")
        await page.keyboard.type(FRANK)
        await tab_to(page, "#am-name")
        await page.keyboard.type("Frank")
        await tab_to(page, "#am-state")
        await page.keyboard.type("Custom:1006")
        await tab_to(page, "#am-penalty")
        await page.keyboard.press("Control+a")
        await page.keyboard.type("2")
        await page.keyboard.press("Enter")  # submits the form

        await dialog.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, 'section.queue[data-queue="billing"] .add-member')
        tile = page.locator(tile_selector("billing", FRANK))
        await tile.wait_for(timeout=SHOWS_MS)  # from the live update
        assert "Frank" in await tile.inner_text()
        member = lab.member("billing", FRANK)
        assert member is not None and member["penalty"] == 2

        # Adding him again: Asterisk's own words, in an alert in the form.
        await page.keyboard.press("Enter")
        await dialog.wait_for(state="visible", timeout=SHOWS_MS)
        await page.keyboard.type(FRANK)
        await page.keyboard.press("Enter")
        alert = page.locator("#am-error")
        await alert.wait_for(state="visible", timeout=SHOWS_MS)
        assert "Already there" in await alert.inner_text()
        await page.keyboard.press("Escape")
        await dialog.wait_for(state="hidden", timeout=SHOWS_MS)

        # Remove (admin only) from his tile's panel: the tile goes with the live update.
        await tab_to(page, f"{tile_selector('billing', FRANK)} .tile-actions")
        await page.keyboard.press("Enter")
        await page.locator("#member-panel").wait_for(state="visible", timeout=SHOWS_MS)
        await tab_to(page, "#member-panel [data-action='remove']")
        await page.keyboard.press("Enter")
        await tile.wait_for(state="detached", timeout=SHOWS_MS)
        assert lab.member("billing", FRANK) is None
        # The live update may take the tile before the mutation's answer writes the note.
        note = page.locator(
            'section.queue[data-queue="billing"] .queue-note', has_text="removed from billing"
        )
        await note.wait_for(timeout=SHOWS_MS)


async def test_supervisor_acts_from_a_cell_and_the_focus_comes_back_to_it(
    lab_centre: StartLab, open_page: OpenPage
) -> None:
    async with lab_centre(api_tokens=TOKENS, pause_reasons=REASONS) as lab:
        page = await open_board(
            open_page, lab.server.url, "sup-token", "supervise", "&density=cells"
        )
        await page.wait_for_function(
            "() => document.body.dataset.density === 'cells'", timeout=SHOWS_MS
        )
        cell_at = tile_selector("sales", ALICE)
        cell = page.locator(cell_at)
        await cell.wait_for(timeout=SHOWS_MS)
        # In cells the ⋯ button is hidden: the cell itself is the control.
        assert await page.locator(f"{cell_at} .tile-actions").is_hidden()
        panel = page.locator("#member-panel")

        # A click opens the panel on the cell's membership; Escape gives the focus back.
        await cell.click()
        await panel.wait_for(state="visible", timeout=SHOWS_MS)
        assert await page.locator("#mp-queue").input_value() == "sales"
        assert await page.locator("#member-panel-id").inner_text() == ALICE
        assert await cell.get_attribute("aria-expanded") == "true"
        await page.keyboard.press("Escape")
        await panel.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, cell_at)
        assert await cell.get_attribute("aria-expanded") == "false"

        # Space on the focused cell opens it too.
        await page.keyboard.press(" ")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)
        await page.keyboard.press("Escape")
        await panel.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, cell_at)

        # Enter, then a pause with a reason: it reaches the simulated Asterisk, the panel
        # closes, the focus is on the cell again and the cell turns paused.
        await page.keyboard.press("Enter")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)
        await tab_to(page, "#mp-reason")
        await page.keyboard.type("lunch")
        assert await page.locator("#mp-reason").input_value() == "lunch"
        await tab_to(page, "#member-panel [data-action='pause']")
        await page.keyboard.press("Enter")
        await panel.wait_for(state="hidden", timeout=SHOWS_MS)
        assert await focused(page, cell_at)
        await page.wait_for_function(
            f"() => ({TILE_JS})(['sales', '{ALICE}'])?.dataset.state === 'paused'",
            timeout=SHOWS_MS,
            polling="raf",
        )
        paused = lab.member("sales", ALICE)
        assert paused is not None
        assert (paused["paused"], paused["paused_reason"]) == (1, "lunch")
        # Only the cell's operator: Bob, beside her in sales, is not paused.
        bob = lab.member("sales", BOB)
        assert bob is not None and not bob["paused"]


async def test_russian_console_shows_no_english_label(
    lab_centre: StartLab, open_page: OpenPage
) -> None:
    async with lab_centre(api_tokens=TOKENS, pause_reasons=REASONS) as lab:
        page = await open_board(open_page, lab.server.url, "adm-token", "manage", "&lang=ru")
        assert await page.evaluate("() => document.documentElement.lang") == "ru"
        button = page.locator(f"{tile_selector('sales', ALICE)} .tile-actions")
        await button.wait_for(timeout=SHOWS_MS)
        # The opener's name for screen readers, then the whole panel (an admin's: every part,
        # with the listen-in row shown once an extension is typed).
        label = await button.get_attribute("aria-label")
        assert label is not None and "Alice" in label
        assert english_left([label]) == []
        await button.click()
        panel = page.locator("#member-panel")
        await panel.wait_for(state="visible", timeout=SHOWS_MS)
        await page.locator("#mp-extension").fill("1009")
        await page.locator("#mp-listen").wait_for(state="visible", timeout=SHOWS_MS)
        texts: list[str] = await page.evaluate(TEXTS_JS, "#member-panel")
        assert len(texts) > 15, texts  # the panel was read, not an empty part of it
        assert english_left(texts) == [], texts
        # Its result, on the tile.
        await page.locator("#member-panel [data-action='pause']").click()
        # The note says "sending…" until the mutation answers: its answer is awaited.
        note = page.locator(
            f"{tile_selector('sales', ALICE)} .tile-note", has_text="На паузе в sales"
        )
        await note.wait_for(timeout=SHOWS_MS)
        assert english_left([await note.inner_text()]) == []
