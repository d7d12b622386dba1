"""The alerts' Prometheus metrics, registered in the process' registry (`ingest.metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class AlertMetrics:
    """Alerts fired and resolved, the ones firing now, the rules, and the webhooks' queue
    and outcomes (the same figures as /healthz's `alerts` section, `api.alerts.health`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "queue_status_alerts_total",
            "Alert events by state (firing, resolved).",
            ["state"],
            registry=registry,
        )
        self.active = Gauge("queue_status_alerts_active", "Alerts firing now.", registry=registry)
        self.rules = Gauge(
            "queue_status_alert_rules", "Alert rules held (as last read).", registry=registry
        )
        self.last_evaluation = Gauge(
            "queue_status_alert_last_evaluation_timestamp_seconds",
            "When the rules were last evaluated (Unix time; 0: never).",
            registry=registry,
        )
        self.webhooks_waiting = Gauge(
            "queue_status_alert_webhooks_waiting",
            "Webhook deliveries queued or waiting for a retry.",
            registry=registry,
        )
        self.webhooks = Counter(
            "queue_status_alert_webhooks_total",
            "Webhook deliveries by outcome: delivered, retried (an attempt failed and another "
            "follows), failed (every attempt failed, or refused with a 4xx), dropped (the "
            "queue was full).",
            ["outcome"],
            registry=registry,
        )
        self.evaluation_errors = Counter(
            "queue_status_alert_evaluation_errors_total",
            "Alert evaluations or rule reloads that failed (the database down, ...).",
            registry=registry,
        )
