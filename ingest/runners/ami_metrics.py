"""The AMI ingest's queue and backpressure in /metrics, read from its status at scrape time.

The same figures as /healthz's `ami` section (`IngestStatus.as_json`): one source,
so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ingest.runners.ami_status import IngestStatus


class IngestQueueCollector(Collector):
    """Queue depth, its bound, the reading pauses, the events through (one PBX's ingest)."""

    def __init__(self, status: Callable[[], IngestStatus]) -> None:
        self._status = status

    def collect(self) -> Iterable[Metric]:
        status = self._status()
        yield GaugeMetricFamily(
            "queue_status_ingest_queue_depth",
            "AMI messages read but not yet applied.",
            value=status.queue_depth,
        )
        yield GaugeMetricFamily(
            "queue_status_ingest_queue_depth_max",
            "The deepest the AMI ingest queue has been since start.",
            value=status.queue_depth_max,
        )
        yield GaugeMetricFamily(
            "queue_status_ingest_queue_max",
            "The queue's bound (INGEST_QUEUE_MAX): reading stops when it is reached.",
            value=status.queue_max,
        )
        yield GaugeMetricFamily(
            "queue_status_ingest_reading_paused",
            "1 while reading AMI is stopped because the queue is full (TCP backpressure).",
            value=1 if status.reading_paused else 0,
        )
        yield CounterMetricFamily(
            "queue_status_ingest_read_pauses",
            "Times reading AMI stopped because the queue was full.",
            value=status.read_pauses,
        )
        yield CounterMetricFamily(
            "queue_status_ingest_read_paused_seconds",
            "Seconds spent with reading AMI stopped (the queue full).",
            value=status.paused_seconds(),
        )
        yield CounterMetricFamily(
            "queue_status_ingest_events_received",
            "AMI events read off the socket.",
            value=status.events_received,
        )
        yield CounterMetricFamily(
            "queue_status_ingest_events_applied",
            "AMI events that changed the live state.",
            value=status.events_applied,
        )
        yield CounterMetricFamily(
            "queue_status_ingest_events_dropped",
            "AMI events dropped (only past the last-resort bound; reconciled after).",
            value=status.events_dropped,
        )
