"""The alert engine as the app's settings describe it (called by `api.app`'s lifespan)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from api.alerts.engine import AlertEngine
from api.alerts.metrics import AlertMetrics
from api.alerts.service_level import RecordsServiceLevels
from api.alerts.store import RuleStore
from api.alerts.webhooks import WebhookSender
from api.live import LiveState
from api.settings import Settings


def build_alert_engine(
    settings: Settings,
    mirror: LiveState,
    database: AsyncEngine,
    metrics: AlertMetrics,
    *,
    pbx: str | None = None,
) -> AlertEngine:
    """The engine over the live mirror, the rules' table and the call records (of PBX
    `pbx` with PBXES, None for the one PBX)."""
    webhooks = WebhookSender(
        settings.webhook_urls,
        metrics,
        attempts=settings.alert_webhook_attempts,
        backoff=settings.alert_webhook_backoff,
        timeout=settings.alert_webhook_timeout,
        capacity=settings.alert_webhook_queue,
    )
    return AlertEngine(
        mirror,
        RuleStore(database),
        RecordsServiceLevels(database, pbx=pbx),
        webhooks,
        metrics,
        interval=settings.alert_evaluate_interval,
        buffer_size=settings.graphql_subscriber_buffer,
        pbx=pbx,
    )
