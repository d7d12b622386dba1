"""A call centre for simulated days: three queues, ten operators, every ending a real day has.

Three queues (sales rrmemory with wrap-up, support linear with auto-pause,
billing ringall), ten operators (some in two queues), phones that sometimes do
not answer, random pauses with reasons, impatient callers and a Queue()
timeout. The day tests over AMI, queue_log and the KPIs share it.
"""

from __future__ import annotations

from simulator import CentreConfig, MemberSetup, PhoneConfig, QueueSetup, TrafficConfig

NAMES = ("Ann", "Ben", "Cid", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo")
INTERFACES = {name: f"Local/{3000 + i}@agents/n" for i, name in enumerate(NAMES)}
SERVICE_LEVELS = {"sales": 20, "support": 30, "billing": 60}


def day_config(*, arrival_rate: float, mean_patience: float) -> CentreConfig:
    """The centre with callers arriving at ``arrival_rate`` per second."""
    ops = [
        MemberSetup(interface, name, f"Custom:{interface[6:10]}")
        for name, interface in INTERFACES.items()
    ]
    queues = (
        QueueSetup(
            "sales",
            "rrmemory",
            timeout=8,
            wrapuptime=3,
            servicelevel=SERVICE_LEVELS["sales"],
            members=(*ops[:5],),
        ),
        QueueSetup(
            "support",
            "linear",
            timeout=6,
            autopause=True,
            servicelevel=SERVICE_LEVELS["support"],
            members=(*ops[3:8],),
        ),
        QueueSetup(
            "billing",
            "ringall",
            timeout=10,
            retry=2,
            servicelevel=SERVICE_LEVELS["billing"],
            members=(*ops[7:],),
        ),
    )
    phones = {
        m.state_interface: PhoneConfig(ring_delay=2 + i % 4, talk_time=60, no_answer=0.08)
        for i, m in enumerate(ops)
    }
    traffic = TrafficConfig(
        arrival_rate=arrival_rate,
        mean_patience=mean_patience,
        mean_talk=160,
        max_wait=60,
        pause_rate=1.0,
        mean_pause=300,
    )
    return CentreConfig(queues, phones, traffic=traffic)
