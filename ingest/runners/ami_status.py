"""What the AMI ingest reports about itself: /healthz's `ami` section, /sync/status and
the ingest's series in /metrics (`ingest.runners.ami_metrics`) all read one `IngestStatus`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ingest.ami.protocol import ProtocolStats
from ingest.ami.sources import SnapshotSources

DEFAULT_QUEUE_MAX = 5000
"""Messages read but not applied before reading stops (INGEST_QUEUE_MAX)."""


@dataclass
class IngestStatus:
    """What the ingest reports about itself (health, sync status)."""

    host: str
    port: int
    connected: bool = False
    connected_since: int | None = None
    last_event_at: int | None = None
    last_error: str | None = None
    events_received: int = 0
    """Events taken in: read and past the raw pre-filter (see `events_read`)."""
    events_applied: int = 0
    events_dropped: int = 0
    reconnects: int = 0
    reconciliations: int = 0
    drift_corrections: int = 0
    last_reconcile_at: int | None = None
    last_reconcile_corrections: int = 0
    stale: bool = True
    queue_depth: int = 0
    queue_depth_max: int = 0
    """The deepest the queue has been."""
    queue_max: int = DEFAULT_QUEUE_MAX
    reading_paused: bool = False
    read_pauses: int = 0
    """Times reading stopped because the queue was full."""
    read_paused_seconds: float = 0.0
    """Time spent with reading stopped, ended pauses (see `paused_seconds`)."""
    paused_since: float | None = None
    """monotonic() when the current pause began."""
    redis_errors: int = 0
    protocol: ProtocolStats = field(default_factory=ProtocolStats)
    sources: SnapshotSources = field(default_factory=SnapshotSources)

    @property
    def events_read(self) -> int:
        """Every event read off the socket: taken in, or dropped unread by the pre-filter."""
        return self.events_received + self.protocol.events_filtered

    def as_json(self) -> dict[str, Any]:
        """camelCase, for /healthz and /sync/status."""
        return {
            "amiEnabled": True,
            "amiConnected": self.connected,
            "amiEndpoint": f"{self.host}:{self.port}",
            "amiConnectedSince": self.connected_since,
            "amiLastError": self.last_error,
            "amiReconnects": self.reconnects,
            "lastEventAt": self.last_event_at,
            "eventsReceived": self.events_received,
            "eventsApplied": self.events_applied,
            "eventsDropped": self.events_dropped,
            "eventsFiltered": self.protocol.events_filtered,
            "oversizedDropped": self.protocol.oversized_dropped,
            "malformedMessages": self.protocol.malformed,
            "ingestQueueDepth": self.queue_depth,
            "ingestQueueDepthMax": self.queue_depth_max,
            "ingestQueueMax": self.queue_max,
            "ingestReadingPaused": self.reading_paused,
            "ingestReadPauses": self.read_pauses,
            "ingestReadPausedSeconds": round(self.paused_seconds(), 3),
            "reconciliations": self.reconciliations,
            "driftCorrections": self.drift_corrections,
            "lastReconcileAt": self.last_reconcile_at,
            "lastReconcileCorrections": self.last_reconcile_corrections,
            "snapshotSources": self.sources.as_json(),
            "stateStale": self.stale,
        }

    def paused_seconds(self) -> float:
        """Time spent with reading stopped, the current pause included."""
        since = self.paused_since
        ongoing = time.monotonic() - since if since is not None else 0.0
        return self.read_paused_seconds + ongoing
