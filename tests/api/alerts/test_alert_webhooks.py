"""The webhook sender against a receiver on a loopback port: bounded retries, no retry of
a refusal, a bounded queue, the rule's own URL beside the global ones."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from api.alerts.evaluator import AlertEvent, AlertState, Subject, SubjectKind
from api.alerts.metrics import AlertMetrics
from api.alerts.rules import AlertRule, RuleKind
from api.alerts.webhooks import WebhookCounts, WebhookSender
from tests.support.webhook_receiver import webhook_receiver

NOW = 1_800_000_000_000


def event(webhook_url: str | None = None) -> AlertEvent:
    rule = AlertRule(
        id=7,
        name="Wait",
        kind=RuleKind.LONGEST_WAIT,
        threshold=60,
        queue="sales",
        window_minutes=None,
        reason=None,
        clear_seconds=0,
        clear_margin=0,
        enabled=True,
        webhook_url=webhook_url,
    )
    return AlertEvent(
        AlertState.FIRING, rule, Subject(SubjectKind.QUEUE, "sales"), "sales", 75, NOW, NOW
    )


def outcomes(registry: CollectorRegistry) -> dict[str, float]:
    found = {}
    for outcome in ("delivered", "retried", "failed", "dropped"):
        value = registry.get_sample_value("queue_status_alert_webhooks_total", {"outcome": outcome})
        found[outcome] = value or 0.0
    return found


async def _settled(sender: WebhookSender, registry: CollectorRegistry, finished: int) -> None:
    async with asyncio.timeout(10):
        while True:
            counts = outcomes(registry)
            if counts["delivered"] + counts["failed"] >= finished and sender.pending == 0:
                return
            await asyncio.sleep(0.01)


async def test_retries_are_bounded_and_a_refusal_is_not_retried() -> None:
    registry = CollectorRegistry()
    async with (
        webhook_receiver(failures=100) as down,
        webhook_receiver(failures=100, status=b"404 Not Found") as wrong,
    ):
        sender = WebhookSender(
            [down.url, wrong.url], AlertMetrics(registry), attempts=3, backoff=0.01
        )
        sender.start()
        try:
            sender.submit(event())
            await _settled(sender, registry, finished=2)
        finally:
            await sender.stop()
    assert (down.attempts, wrong.attempts) == (3, 1)
    assert outcomes(registry) == {"delivered": 0, "retried": 2, "failed": 2, "dropped": 0}
    # /healthz's figures (`sender.counts`) are /metrics' ones.
    assert sender.counts == WebhookCounts(delivered=0, failed=2, dropped=0)
    assert registry.get_sample_value("queue_status_alert_webhooks_waiting") == 0


async def test_the_rules_own_url_gets_it_too_and_a_full_queue_drops() -> None:
    registry = CollectorRegistry()
    async with webhook_receiver() as shared, webhook_receiver() as own:
        sender = WebhookSender([shared.url], AlertMetrics(registry), capacity=3)
        sender.submit(event(own.url))  # 2 deliveries
        sender.submit(event(own.url))  # 1 fits, 1 dropped
        assert outcomes(registry)["dropped"] == 1
        assert sender.counts.dropped == 1
        assert registry.get_sample_value("queue_status_alert_webhooks_waiting") == 3
        sender.start()
        try:
            await _settled(sender, registry, finished=3)
        finally:
            await sender.stop()
    assert (len(shared.received), len(own.received)) == (2, 1)
    assert sender.counts == WebhookCounts(delivered=3, failed=0, dropped=1)
    body = own.received[0]
    assert body["text"] == "[FIRING] Wait: queue sales, longest wait 75 s (alert over 60 s)"
    assert body["alert"]["ruleId"] == 7 and body["alert"]["value"] == 75
