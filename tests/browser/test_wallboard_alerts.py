"""Alert marks on the wallboard (alerts.js), in headless Chromium against the real app.

The lab call centre on the AMI simulator (sales = Alice, Bob, Carol; support =
Eve, Dave, Bob; no generated traffic), the app's own AMI ingest and alert
engine. Rules an admin creates over REST fire on the live state; the page,
following the `alerts` subscription, puts a mark with an accessible label on
the queue header or the operator tile concerned, and takes it off when the
alert resolves.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from bench.browser import wait_live
from tests.browser.conftest import OpenPage, StartLab

pytestmark = pytest.mark.timeout(120)

SHOWS_MS = 10_000
TOKENS = "admin:adm-token,supervisor:sup-token"
RULES = "/api/queue-status/alerts/rules"
BOB = "Local/1002@agents/n"  # sales and support

PAUSE = """mutation P($input: PauseOperatorInput!) { pauseOperator(input: $input) { action } }"""
UNPAUSE = (
    """mutation U($input: UnpauseOperatorInput!) { unpauseOperator(input: $input) { action } }"""
)

# Every mark on the page: where it is and what it says, and whether it can be seen.
MARKS_JS = """() => [...document.querySelectorAll('.alert-mark')].map((mark) => {
  const tile = mark.closest('.tile');
  const queue = mark.closest('section.queue');
  const box = mark.getBoundingClientRect();
  const host = (tile ?? queue).getBoundingClientRect();
  const style = getComputedStyle(mark);
  const at = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return {
    queue: queue?.dataset.queue ?? null,
    member: tile?.dataset.member ?? null,
    onHeader: mark.parentElement.classList.contains('queue-head'),
    role: mark.getAttribute('role'),
    label: mark.getAttribute('aria-label') ?? '',
    hostMarked: (tile ?? queue).classList.contains('has-alert'),
    inside: box.width > 8 && box.left >= host.left && box.right <= host.right
      && box.top >= host.top && box.bottom <= host.bottom,
    onTop: at === mark || mark.contains(at),
    colors: [style.color, style.backgroundColor],
  };
})"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def marks(page: Page) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = await page.evaluate(MARKS_JS)
    return shown


async def wait_marks(page: Page, count: int) -> list[dict[str, Any]]:
    await page.wait_for_function(
        "(n) => document.querySelectorAll('.alert-mark').length === n", arg=count, timeout=SHOWS_MS
    )
    return await marks(page)


async def create_rule(http: httpx.AsyncClient, **rule: Any) -> int:
    answer = await http.post(RULES, json={"clearSeconds": 0, **rule}, headers=bearer("adm-token"))
    assert answer.status_code == 201, answer.text
    rule_id: int = answer.json()["data"]["id"]
    return rule_id


async def console(http: httpx.AsyncClient, mutation: str, queue: str) -> None:
    answer = await http.post(
        "/graphql",
        json={"query": mutation, "variables": {"input": {"memberId": BOB, "queue": queue}}},
        headers=bearer("sup-token"),
    )
    assert answer.status_code == 200 and not answer.json().get("errors"), answer.text


async def test_alert_marks_come_and_go_on_the_right_header_and_tile(
    lab_centre: StartLab, open_page: OpenPage
) -> None:
    async with (
        lab_centre(api_tokens=TOKENS, alert_evaluate_interval=0.5) as lab,
        httpx.AsyncClient(base_url=lab.server.url, timeout=10) as http,
    ):
        watched = await open_page(f"{lab.server.url}/?token=adm-token")
        page = watched.page
        await wait_live(page)
        assert await marks(page) == []

        # Sales has 3 operators available: under 5 fires on sales' header, nowhere else.
        short_handed = await create_rule(
            http, name="Sales short-handed", kind="available_operators", threshold=5, queue="sales"
        )
        (mark,) = await wait_marks(page, 1)
        assert (mark["queue"], mark["member"], mark["onHeader"]) == ("sales", None, True)
        assert mark["role"] == "img" and mark["hostMarked"]
        assert mark["label"].startswith("Alert: ")
        assert "Sales short-handed" in mark["label"] and "queue sales" in mark["label"]
        assert mark["inside"] and mark["onTop"]
        assert mark["colors"][0] != mark["colors"][1]

        # Bob paused in support (not in sales): a mark on his support tile only.
        await create_rule(http, name="Long pause", kind="operator_paused", threshold=0)
        await console(http, PAUSE, "support")
        shown = await wait_marks(page, 2)
        (on_tile,) = [m for m in shown if m["member"] is not None]
        assert (on_tile["queue"], on_tile["member"], on_tile["onHeader"]) == ("support", BOB, False)
        assert "Long pause" in on_tile["label"] and f"operator {BOB} in support" in on_tile["label"]
        assert on_tile["hostMarked"] and on_tile["inside"] and on_tile["onTop"]
        # Seen the same whichever colour scheme the screen prefers.
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            seen = await marks(page)
            assert all(m["inside"] and m["onTop"] for m in seen), (scheme, seen)
            assert all(m["colors"][0] != m["colors"][1] for m in seen), (scheme, seen)

        # The rule deleted: sales' mark goes; Bob unpaused: his goes (clearSeconds 0).
        deleted = await http.delete(f"{RULES}/{short_handed}", headers=bearer("adm-token"))
        assert deleted.status_code == 200, deleted.text
        (left,) = await wait_marks(page, 1)
        assert left["member"] == BOB
        assert await page.locator('section.queue[data-queue="sales"].has-alert').count() == 0

        await console(http, UNPAUSE, "support")
        await wait_marks(page, 0)
        assert await page.locator(".has-alert").count() == 0
        assert watched.errors == []
