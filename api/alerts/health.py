"""The `alerts` section of /healthz: rules, what fires, the evaluation, the webhooks.

Its figures are the ones /metrics exports (`api.alerts.metrics`): rules loaded
(`queue_status_alert_rules`), alerts firing (`queue_status_alerts_active`), the
last evaluation (`queue_status_alert_last_evaluation_timestamp_seconds`) and
the webhook deliveries waiting (`queue_status_alert_webhooks_waiting`),
delivered, failed and dropped (`queue_status_alert_webhooks_total{outcome}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AlertHealth:
    """A snapshot of the alert engine's state (times in epoch ms)."""

    rules: int
    """Rules held (as last read from the database)."""
    rules_loaded: bool
    """Whether the rules were ever read (nothing is evaluated before)."""
    rules_read_at: int | None
    rules_error: str | None
    """Why the last read of the rules failed (None: it worked)."""
    active: int
    evaluated_at: int | None
    webhooks_waiting: int
    webhooks_delivered: int
    webhooks_failed: int
    webhooks_dropped: int
    last_error: str | None
    """The last failure of a rules or service-level read, until one works again."""

    @property
    def status(self) -> str:
        """`degraded` while the rules cannot be read (the engine keeps the ones it has,
        or evaluates none yet), else `ok`."""
        return "ok" if self.rules_error is None else "degraded"

    @property
    def rules_database_up(self) -> bool | None:
        """Whether the last read of the rules worked (None: not read yet)."""
        if self.rules_error is not None:
            return False
        return True if self.rules_loaded else None

    def as_json(self) -> dict[str, Any]:
        """The `alerts` section of /healthz."""
        return {
            "status": self.status,
            "rules": self.rules,
            "rulesLoaded": self.rules_loaded,
            "rulesReadAt": self.rules_read_at,
            "rulesDatabaseUp": self.rules_database_up,
            "active": self.active,
            "lastEvaluationAt": self.evaluated_at,
            "webhooks": {
                "waiting": self.webhooks_waiting,
                "delivered": self.webhooks_delivered,
                "failed": self.webhooks_failed,
                "dropped": self.webhooks_dropped,
            },
            "lastError": self.last_error,
        }
