"""The console's tests: the real ingest logged in to the module's `simulator` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ingest.store import StateStore
from simulator import AmiSimulator
from tests.support.ami import LiveIngest, running_ingest


@pytest.fixture
async def live(simulator: AmiSimulator, store: StateStore) -> AsyncIterator[LiveIngest]:
    """The ingest logged in, its startup snapshot applied."""
    async with running_ingest(store, simulator.port) as running:
        await running.settled()
        yield running


async def membership(store: StateStore, interface: str, queue: str) -> dict[str, Any] | None:
    """The stored membership of `interface` in `queue` (None: not a member)."""
    operator = await store.get("operator", interface)
    found = ((operator or {}).get("queues") or {}).get(queue)
    assert found is None or isinstance(found, dict)
    return found
