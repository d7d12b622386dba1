"""The lab call centre under busy traffic, driven step by step (AMI runner tests)."""

from __future__ import annotations

import asyncio

from simulator import AmiSimulator, CallCentre, CentreConfig, TrafficConfig

# A fixed start for the model's clock: the same traffic, the same timestamps, every run.
START = 1_795_000_000.0
# Busy: a call every ~3 s, impatient callers, operators pausing and unpausing.
TRAFFIC = TrafficConfig(
    arrival_rate=0.35, mean_patience=40, mean_talk=15, pause_rate=30, mean_pause=30
)
STEP = 5.0
"""Model seconds per step of `traffic`."""


def lab(seed: int = 7) -> CallCentre:
    """The lab's queues and members under `TRAFFIC`; model time moves only when advanced."""
    return CallCentre(CentreConfig.lab(TRAFFIC), seed=seed, clock=lambda: START)


async def traffic(sim: AmiSimulator, seconds: float) -> None:
    """`seconds` of model time in steps, the event loop running between them."""
    for _ in range(round(seconds / STEP)):
        sim.advance(STEP)
        await asyncio.sleep(0)
