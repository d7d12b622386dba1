"""The call-record writer's Prometheus metrics, registered in the process's one registry.

Kept beside the writer (not in `ingest.metrics`) so the records path owns its
names; the registry is the same, so `/metrics` shows them with the rest.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["RecordsMetrics"]


class RecordsMetrics:
    """Counters and gauges of the records tap, buffer and drainer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.written = Counter(
            "queue_status_records_written_total",
            "Call records and agent intervals saved to PostgreSQL.",
            registry=registry,
        )
        self.refused = Counter(
            "queue_status_records_refused_total",
            "Records PostgreSQL refused as such (dropped, logged) or that could not be decoded.",
            registry=registry,
        )
        self.write_errors = Counter(
            "queue_status_records_write_errors_total",
            "Failed attempts to save a batch of records (retried with backoff).",
            registry=registry,
        )
        self.buffered = Gauge(
            "queue_status_records_buffered",
            "Records waiting in the Redis buffer for PostgreSQL.",
            registry=registry,
        )
        self.overflow = Gauge(
            "queue_status_records_overflow",
            "Records not buffered because the buffer was full (RECORDS_BUFFER_MAX), all time.",
            registry=registry,
        )
        self.database_up = Gauge(
            "queue_status_records_database_up",
            "1 while the last save of records succeeded, 0 while PostgreSQL cannot take them.",
            registry=registry,
        )
        self.database_up.set(1)
