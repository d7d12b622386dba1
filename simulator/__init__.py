"""AMI simulator: a real TCP server speaking the Asterisk Manager Interface.

Used by the demo, the tests and the benchmarks; a peer of the ingest, not part
of it (it imports only ingest's public names: the message types, the trace
loader, the realtime tables and their rows). Parts:

* the call centre, a deterministic, seeded state machine:
  :mod:`~simulator.centre` (:class:`CallCentre`, composing the rest),
  :mod:`~simulator.config` (what it starts with), :mod:`~simulator.clock`,
  :mod:`~simulator.state`, :mod:`~simulator.records`, :mod:`~simulator.events`,
  :mod:`~simulator.calls`, :mod:`~simulator.members`, :mod:`~simulator.traffic`,
  :mod:`~simulator.snapshots`, :mod:`~simulator.spying`, :mod:`~simulator.errors`;
* :mod:`~simulator.replay` — recorded Asterisk sessions replayed;
* the TCP server over either of them: :mod:`~simulator.server` (listening,
  broadcast), :mod:`~simulator.connection` (one client session),
  :mod:`~simulator.actions` (the live actions and their answers),
  :mod:`~simulator.privileges` (the manager user's rights),
  :mod:`~simulator.realtime` (realtime members reloaded from, and written back to, a source);
* :mod:`~simulator.from_db` — a centre configured from the realtime tables (the demo).

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
from simulator.realtime import RealtimeLink, RealtimeMembers, RealtimeUpdate
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
    "RealtimeLink",
    "RealtimeMembers",
    "RealtimeUpdate",
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
