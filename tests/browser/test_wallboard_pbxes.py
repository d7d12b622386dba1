"""The wallboard's PBX picker: two PBXes (two simulators) behind one app (PBXES).

Without `?pbx=` the board picks the first PBX and keeps it in the address; the
picker lists both; choosing the other one shows its operators only, the
choice kept in the address across the reload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.app import create_app
from bench.browser import tiles, wait_live
from ingest.db.migrate import migrate
from simulator import AmiSimulator, CallCentre, CentreConfig
from simulator.config import MemberSetup, QueueSetup
from tests.browser.conftest import OpenPage
from tests.support.ami import SECRET
from tests.support.server import run_server
from tests.support.settings import test_settings as make_settings

pytestmark = pytest.mark.timeout(120)

WEST_AGENT = "Local/2001@agents/n"


def _west() -> CentreConfig:
    agent = MemberSetup(WEST_AGENT, "Wendy", "Custom:2001")
    return CentreConfig((QueueSetup("westline", "ringall", members=(agent,)),))


@pytest.fixture
async def two_pbxes(pg_url: str, key_prefix: str) -> AsyncIterator[str]:
    await migrate(pg_url)
    async with (
        AmiSimulator(
            secret=SECRET, model=CallCentre(CentreConfig.lab(), seed=1), realtime=False
        ) as east,
        AmiSimulator(secret=SECRET, model=CallCentre(_west(), seed=2), realtime=False) as west,
    ):
        settings = make_settings(
            prefix=key_prefix,
            database_url=pg_url,
            ami_enabled=True,
            ami_secret=SECRET,
            pbxes=f"east=127.0.0.1:{east.port},west=127.0.0.1:{west.port}",
        )
        async with run_server(create_app(settings), settings) as url:
            yield url


async def test_the_picker_switches_pbx_and_keeps_it_in_the_address(
    two_pbxes: str, open_page: OpenPage
) -> None:
    watched = await open_page(two_pbxes)
    page = watched.page
    await wait_live(page)
    assert page.url.endswith("?pbx=east")
    assert await page.is_visible("#pbx-picker")
    options = await page.eval_on_selector_all("#pbx-select option", "els => els.map(e => e.value)")
    assert options == ["east", "west"]
    await page.wait_for_function(
        "() => document.querySelectorAll('.tile').length > 0", timeout=10_000
    )
    east_members = {member for member, _ in await tiles(page)}
    assert "Local/1001@agents/n" in east_members and WEST_AGENT not in east_members

    async with page.expect_navigation():
        await page.select_option("#pbx-select", "west")
    await wait_live(page)
    assert page.url.endswith("?pbx=west")
    assert await page.eval_on_selector("#pbx-select", "el => el.value") == "west"
    await page.wait_for_function(
        "() => document.querySelectorAll('.tile').length > 0", timeout=10_000
    )
    assert {member for member, _ in await tiles(page)} == {WEST_AGENT}
    assert watched.errors == []
