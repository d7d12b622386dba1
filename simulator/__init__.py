"""AMI simulator: a real TCP server speaking the Asterisk Manager Interface.

Used by the demo, the tests and the benchmarks. Three parts:

* :mod:`~simulator.model` — the call centre (queues, operators,
  callers, channels) as a deterministic, seeded state machine;
* :mod:`~simulator.replay` — recorded Asterisk sessions replayed;
* :mod:`~simulator.server` — the TCP server over either of them.

:mod:`~simulator.wire` holds the framing. Nothing here imports the
ingest's own AMI client: the simulator must stay an independent peer.
"""

from simulator.centre import CallCentre
from simulator.config import (
    CentreConfig,
    DeviceState,
    MemberSetup,
    PhoneConfig,
    QueueSetup,
    TrafficConfig,
)
from simulator.errors import ModelError
from simulator.privileges import LEAST_PRIVILEGE, Privileges
from simulator.replay import (
    RecordedList,
    Replay,
    ReplayOptions,
    ReplaySession,
    Trace,
    final_queue_status,
    load_trace,
    queue_status_at,
    queue_status_points,
)
from simulator.server import AmiSimulator, serve

__all__ = [
    "LEAST_PRIVILEGE",
    "AmiSimulator",
    "CallCentre",
    "CentreConfig",
    "DeviceState",
    "MemberSetup",
    "ModelError",
    "PhoneConfig",
    "Privileges",
    "QueueSetup",
    "RecordedList",
    "Replay",
    "ReplayOptions",
    "ReplaySession",
    "Trace",
    "TrafficConfig",
    "final_queue_status",
    "load_trace",
    "queue_status_at",
    "queue_status_points",
    "serve",
]
