"""Prometheus metrics of one process, in a registry of its own (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Every metric we export; the ingest and the API add to the same registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "queue_status_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "queue_status_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "queue_status_redis_errors_total",
            "Redis commands that failed (connection refused, timeout, ...).",
            registry=self.registry,
        )
        self.sync_runs = Counter(
            "queue_status_sync_runs_total",
            "Database to Redis synchronizations, by result.",
            ["result"],
            registry=self.registry,
        )
        self.sync_duration = Gauge(
            "queue_status_last_sync_duration_seconds",
            "Duration of the last successful synchronization.",
            registry=self.registry,
        )
        self.actions = Counter(
            "queue_status_actions_total",
            "Supervisor actions by action (pauseOperator, ...) and outcome (ok, pending, "
            "refused, rejected, failed).",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.audit_written = Counter(
            "queue_status_audit_rows_written_total",
            "Audit rows (supervisor actions) written to the database.",
            registry=self.registry,
        )
        self.audit_dropped = Counter(
            "queue_status_audit_rows_dropped_total",
            "Audit rows lost: the buffer overflowed while the database was down, or a row "
            "the database refused.",
            registry=self.registry,
        )
        self.audit_write_errors = Counter(
            "queue_status_audit_write_errors_total",
            "Failed attempts to write a batch of audit rows (retried).",
            registry=self.registry,
        )
        self.audit_buffered = Gauge(
            "queue_status_audit_rows_buffered",
            "Audit rows waiting to be written.",
            registry=self.registry,
        )
