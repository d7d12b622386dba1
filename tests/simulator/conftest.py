"""Fixtures of the simulator's socket tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.ami_client import Clients


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    """Raw AMI clients, all closed at the end of the test, pass or fail."""
    registry = Clients()
    yield registry
    for client in registry.opened:
        await client.close()
