"""Fixtures of the AMI runner tests: a fault proxy in front of each module's `simulator`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simulator import AmiSimulator
from tests.support.proxy import FaultProxy


@pytest.fixture
async def ami_proxy(simulator: AmiSimulator) -> AsyncIterator[FaultProxy]:
    """A proxy between the ingest and the test module's simulator, to cut or stall the link."""
    proxy = FaultProxy("127.0.0.1", simulator.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
