"""The action relay's Prometheus series (`queue_status_action_relay_*`), both sides'."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class RelayMetrics:
    """Requests relayed from here and their outcomes, those run here as the leader."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "queue_status_action_relay_requests_total",
            "Supervisor actions this process relayed to the elected ingest.",
            registry=registry,
        )
        self.outcomes = Counter(
            "queue_status_action_relay_outcomes_total",
            "Answers to the actions this process relayed, by outcome (ok, pending, "
            "rejected, failed, not_taken, timed_out).",
            ["outcome"],
            registry=registry,
        )
        self.timeouts = Counter(
            "queue_status_action_relay_timeouts_total",
            "Relayed actions that got no answer in time, by stage: take (no ingest leader "
            "took it: 503, never run later) or answer (taken, unanswered: 504).",
            ["stage"],
            registry=registry,
        )
        self.waiting = Gauge(
            "queue_status_action_relay_waiting",
            "Relayed actions this process is waiting for the answer to.",
            registry=registry,
        )
        self.served = Counter(
            "queue_status_action_relay_served_total",
            "Relayed actions this process handled as the elected ingest, by outcome (ok, "
            "pending, rejected, failed, expired, duplicate, abandoned).",
            ["outcome"],
            registry=registry,
        )
        self.running = Gauge(
            "queue_status_action_relay_running",
            "Relayed actions running in this process (the elected ingest) now.",
            registry=registry,
        )
        self.backlog = Gauge(
            "queue_status_action_relay_pending",
            "Relayed actions in the request stream not yet answered, as the elected ingest "
            "last saw (0 elsewhere).",
            registry=registry,
        )
