"""Rate mode: how many events per second reach one reader (printed, not asserted).

Run alone with ``pytest tests/simulator/test_simulator_bench.py -s`` to see the
figures; the suite prints them too. Only the absence of errors is asserted:
wall-clock figures depend on the machine.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from simulator.centre import CallCentre
from simulator.config import CentreConfig, TrafficConfig
from simulator.server import AmiSimulator
from simulator.wire import BANNER, read_message, serialize

MEASURE_SECONDS = 1.5


async def delivered_rate(rate: float, config: CentreConfig) -> tuple[float, int]:
    """Events per second one reader received, and slow-reader disconnects."""
    model = CallCentre(config, seed=1)
    async with AmiSimulator(secret="pw", model=model, rate=rate) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        assert await reader.readline() == BANNER
        writer.write(serialize({"Action": "Login", "Username": "admin", "Secret": "pw"}))
        assert (await read_message(reader))["Response"] == "Success"
        received = 0
        started = time.perf_counter()
        deadline = started + MEASURE_SECONDS
        while (now := time.perf_counter()) < deadline:
            with_timeout = asyncio.wait_for(reader.read(1 << 20), deadline - now + 0.1)
            received += (await with_timeout).count(b"\r\n\r\n")
        elapsed = time.perf_counter() - started
        writer.close()
        await writer.wait_closed()
        return received / elapsed, sim.slow_disconnects


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rate", "config"),
    [
        (5_000.0, CentreConfig.lab(TrafficConfig(arrival_rate=0.5, mean_talk=20, pause_rate=2))),
        (20_000.0, CentreConfig.generated(200, 10, traffic=TrafficConfig(arrival_rate=5))),
    ],
    ids=["lab-5k", "generated-20k"],
)
async def test_rate_mode_throughput(
    rate: float, config: CentreConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    per_second, slow = await delivered_rate(rate, config)
    with capsys.disabled():
        print(
            f"\nAMI simulator rate mode: asked {rate:,.0f} events/s, "
            f"one reader received {per_second:,.0f} events/s"
        )
    assert per_second > 0
    assert slow == 0
